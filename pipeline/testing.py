"""Test helpers shipped with the package, used by its tests and benchmarks and by anyone who
extends it: random bandlimited coefficients, the one relative-error measure, and equivariance
checks over random rotations (docs/equivariance.md).

>>> import numpy as np
>>> from pipeline import ScatteringConfig, ScatteringTransform
>>> st = ScatteringTransform(ScatteringConfig(L=32, J0=2, depth=1))
>>> errors = assert_equivariant(st, random_alm(np.random.default_rng(0), 32), np.random.default_rng(1),
...                             tolerance={("modulus", 0): 1e-12, ("modulus", 1): 1e-2, ("signed_square", 1): 0.1})
>>> errors["modulus", 0] < 1e-12, round(errors["signed_square", 1], 2)  # an odd channel at this small L
(True, 0.07)
"""

from __future__ import annotations

import numpy as np

from pipeline.sphere.alm import l_of_index, n_alm
from pipeline.sphere.rotations import random_rotation, rotate_alm, rotate_real


def random_alm(rng: np.random.Generator, L: int, spectrum=None) -> np.ndarray:
    """Complex-layout coefficients of a real, bandlimit-L Gaussian random field (white by default,
    else with power `spectrum[l]`)."""
    a = (rng.standard_normal(n_alm(L)) + 1j * rng.standard_normal(n_alm(L))) / np.sqrt(2)
    a[:L] = np.sqrt(2) * a[:L].real  # m = 0 coefficients are real
    if spectrum is not None:
        a *= np.sqrt(np.asarray(spectrum)[l_of_index(L)])
    return a


def relative_error(actual, expected) -> float:
    """The one tolerance measure: ||actual - expected|| / ||expected||."""
    return float(np.linalg.norm(np.asarray(actual) - np.asarray(expected)) / np.linalg.norm(expected))


def relative_error_by_channel(
    actual: np.ndarray, expected: np.ndarray, kinds: tuple[str, ...], paths: tuple[tuple[int, ...], ...]
) -> dict[tuple[str, int], float]:
    """||actual - expected|| / ||expected|| over the channels of each (kind, depth); arrays
    (..., n_channels, n)."""
    groups = [(kind, len(p)) for kind, p in zip(kinds, paths)]
    out = {}
    for key in sorted(set(groups), key=lambda g: (g[0] != "modulus", g)):
        sel = np.array([g == key for g in groups])
        out[key] = float(np.linalg.norm(actual[..., sel, :] - expected[..., sel, :]) / np.linalg.norm(expected[..., sel, :]))
    return out


def scattering_equivariance_error(transform, alm: np.ndarray, angles) -> dict[tuple[str, int], float]:
    """||S(Rf) - R S(f)|| / ||S(f)|| per channel kind and depth, e.g. ("modulus", 2), for one
    map's coefficients and one rotation."""
    L, L0 = transform.config.L, transform.config.L0
    S_f = transform.from_alm(alm).coefficients
    S_Rf = transform.from_alm(rotate_alm(alm, L, angles)).coefficients
    return relative_error_by_channel(S_Rf, rotate_real(S_f, L0, angles), transform.plan.kinds, transform.paths)


def assert_equivariant(transform, alm: np.ndarray, rng: np.random.Generator, tolerance: dict[tuple[str, int], float],
                       n_rotations: int = 3) -> dict[tuple[str, int], float]:
    """Check ||S(Rf) - R S(f)|| / ||S(f)|| <= tolerance[(kind, depth)] for `n_rotations`
    Haar-random rotations; returns the largest error per (kind, depth) (AssertionError naming it
    otherwise)."""
    worst: dict[tuple[str, int], float] = {}
    for _ in range(n_rotations):
        for key, error in scattering_equivariance_error(transform, alm, random_rotation(rng)).items():
            worst[key] = max(worst.get(key, 0.0), error)
    for key, error in worst.items():
        assert error <= tolerance[key], f"equivariance error {error:.3g} of {key[0]} channels at depth {key[1]} exceeds {tolerance[key]:.3g}"
    return worst
