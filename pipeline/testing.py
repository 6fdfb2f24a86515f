"""Test helpers shipped with the package, used by its tests and benchmarks and by anyone who
extends it: random bandlimited coefficients, the one relative-error measure, and equivariance
checks over random rotations (docs/equivariance.md).

>>> import numpy as np
>>> from pipeline import ScatteringConfig, ScatteringTransform
>>> st = ScatteringTransform(ScatteringConfig(L=32, J0=2, depth=1))
>>> errors = assert_equivariant(st, random_alm(np.random.default_rng(0), 32), np.random.default_rng(1),
...                             tolerance={0: 1e-12, 1: 1e-2})
>>> errors[0] < 1e-12
True
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


def relative_error_by_depth(
    actual: np.ndarray, expected: np.ndarray, paths: tuple[tuple[int, ...], ...]
) -> dict[int, float]:
    """||actual - expected|| / ||expected|| over the paths of each depth; arrays (..., n_paths, n)."""
    depths = np.array([len(p) for p in paths])
    out = {}
    for d in sorted(set(depths.tolist())):
        sel = depths == d
        out[d] = float(np.linalg.norm(actual[..., sel, :] - expected[..., sel, :]) / np.linalg.norm(expected[..., sel, :]))
    return out


def scattering_equivariance_error(transform, alm: np.ndarray, angles) -> dict[int, float]:
    """||S(Rf) - R S(f)|| / ||S(f)|| per depth for one map's coefficients and one rotation."""
    L, L0 = transform.config.L, transform.config.L0
    S_f = transform.from_alm(alm).coefficients
    S_Rf = transform.from_alm(rotate_alm(alm, L, angles)).coefficients
    return relative_error_by_depth(S_Rf, rotate_real(S_f, L0, angles), transform.paths)


def assert_equivariant(transform, alm: np.ndarray, rng: np.random.Generator, tolerance: dict[int, float],
                       n_rotations: int = 3) -> dict[int, float]:
    """Check ||S(Rf) - R S(f)|| / ||S(f)|| <= tolerance[depth] for `n_rotations` Haar-random
    rotations; returns the largest error per depth (AssertionError naming the depth otherwise)."""
    worst: dict[int, float] = {}
    for _ in range(n_rotations):
        for depth, error in scattering_equivariance_error(transform, alm, random_rotation(rng)).items():
            worst[depth] = max(worst.get(depth, 0.0), error)
    for depth, error in worst.items():
        assert error <= tolerance[depth], f"equivariance error {error:.3g} at depth {depth} exceeds {tolerance[depth]:.3g}"
    return worst
