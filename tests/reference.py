"""Slow, loop-based reference scattering transform, independent of the fast code path.

It shares only the *definition* of the discretisation with ``pipeline.scattering.transform`` (which grid the
modulus is taken on: ``modulus_grid``); everything else is written again in the plainest way:
wavelet filters by adaptive quadrature (scipy.integrate.quad), harmonic transforms by explicit
sums over scipy's Y_lm on Gauss-Legendre nodes (no ducc0), paths by nested loops. Only usable
at small L.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad
from scipy.special import sph_harm_y

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.plan import modulus_grid


def reference_k_lam(t: float, lam: float) -> float:
    def integrand(u: float) -> float:
        x = 2 * lam / (lam - 1) * (u - 1 / lam) - 1
        return math.exp(-2 / (1 - x * x)) / u if abs(x) < 1 else 0.0

    if t <= 1 / lam:
        return 1.0
    if t >= 1:
        return 0.0
    norm = quad(integrand, 1 / lam, 1, epsabs=0, epsrel=1e-13, limit=200)[0]
    return quad(integrand, t, 1, epsabs=0, epsrel=1e-13, limit=200)[0] / norm


def reference_kappa(l: int, j: int, lam: float) -> float:
    t = l / lam**j
    return math.sqrt(max(reference_k_lam(t / lam, lam) - reference_k_lam(t, lam), 0.0))


def reference_eta(l: int, J0: int, lam: float) -> float:
    return math.sqrt(reference_k_lam(l / lam**J0, lam))


def _ylm_table(L: int, ntheta: int, nphi: int) -> dict[tuple[int, int], np.ndarray]:
    theta = np.arccos(np.polynomial.legendre.leggauss(ntheta)[0])[::-1]  # north pole first
    phi = 2 * np.pi * np.arange(nphi) / nphi
    T, P = np.meshgrid(theta, phi, indexing="ij")
    return {(l, m): sph_harm_y(l, m, T, P) for l in range(L) for m in range(l + 1)}


def reference_synthesis(alm: dict, L: int, ntheta: int, nphi: int) -> np.ndarray:
    """f = sum_l [a_l0 Y_l0 + 2 Re sum_{m>0} a_lm Y_lm] on a Gauss-Legendre grid."""
    Y = _ylm_table(L, ntheta, nphi)
    f = np.zeros((ntheta, nphi))
    for (l, m), y in Y.items():
        f += (1.0 if m == 0 else 2.0) * np.real(alm.get((l, m), 0.0) * y)
    return f


def reference_analysis(f: np.ndarray, L: int) -> dict:
    """a_lm = sum_i w_i sum_k f(theta_i, phi_k) conj(Y_lm) 2 pi / nphi (Gauss-Legendre quadrature)."""
    ntheta, nphi = f.shape
    weights = np.polynomial.legendre.leggauss(ntheta)[1][::-1]
    Y = _ylm_table(L, ntheta, nphi)
    return {lm: np.sum(weights[:, None] * f * np.conj(y)) * 2 * np.pi / nphi for lm, y in Y.items()}


def _rms_on_grid(f: np.ndarray) -> float:
    """sqrt of the mean of f^2 over the sphere by Gauss-Legendre quadrature (exact: f^2 is bandlimited)."""
    ntheta, nphi = f.shape
    weights = np.polynomial.legendre.leggauss(ntheta)[1]
    return math.sqrt(np.sum(weights[:, None] * f**2) * 2 * np.pi / nphi / (4 * np.pi))


def reference_paths(config: ScatteringConfig) -> list[tuple[int, ...]]:
    """Frequency-decreasing paths by explicit loops, in depth-first order."""
    scales = range(config.J0, config.J + 1)
    paths: list[tuple[int, ...]] = [()]
    for j1 in scales:
        paths.append((j1,))
        if config.depth >= 2:
            for j2 in range(config.J0, j1):
                paths.append((j1, j2))
                if config.depth >= 3:
                    for j3 in range(config.J0, j2):
                        paths.append((j1, j2, j3))
    return paths


def reference_channels(config: ScatteringConfig) -> list[tuple[str, tuple[int, ...]]]:
    """(kind, path) of every output channel: the modulus paths, then (w_j |W_j|) * Phi per scale,
    then (w_j W[p]) * Phi for every path p of depth >= 2 ending in j, w_j = W_j / rms(W_j)
    (docs/scattering.md section 7)."""
    paths = reference_paths(config)
    channels = [("modulus", p) for p in paths]
    if "signed_square" in config.odd:
        channels += [("signed_square", p) for p in paths if len(p) == 1]
    if "cross" in config.odd:
        channels += [("cross", p) for p in paths if len(p) >= 2]
    return channels


def reference_scattering(alm: dict, config: ScatteringConfig) -> dict[tuple[str, tuple[int, ...]], dict]:
    """Every channel as {(l, m): a_lm} for l < L0, keyed by (kind, path); alm is {(l, m): a_lm} of f."""
    lam, L0 = config.lam, config.L0
    U: dict[tuple[int, ...], dict] = {(): dict(alm)}
    W: dict[tuple[int, ...], np.ndarray] = {}  # each wavelet coefficient sampled on its grid
    for path in reference_paths(config)[1:]:
        j = path[-1]
        Lj = config.wavelet_bandlimit(j)
        coefficients = {(l, m): a * reference_kappa(l, j, lam) for (l, m), a in U[path[:-1]].items() if l < Lj}
        W[path] = reference_synthesis(coefficients, Lj, *modulus_grid(Lj, config.oversampling))
        U[path] = reference_analysis(np.abs(W[path]), Lj)
    fields = {}
    for kind, path in reference_channels(config):
        if kind == "modulus":
            fields[kind, path] = U[path]
            continue
        w = W[path[-1:]] / _rms_on_grid(W[path[-1:]])
        fields[kind, path] = reference_analysis(w * (np.abs(W[path]) if kind == "signed_square" else W[path]), L0)
    return {key: {(l, m): a * reference_eta(l, config.J0, lam) for (l, m), a in c.items() if l < L0}
            for key, c in fields.items()}
