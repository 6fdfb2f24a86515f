"""Float64 tables for real spherical harmonics on Gauss-Legendre grids (numpy, precomputed once).

Real layout (``pipeline.sphere.alm``): column ``l*l + l + m`` holds the coefficient of the orthonormal
real harmonic
    Y^R_l0 = lam_l0(cos theta),
    Y^R_lm = sqrt(2) lam_lm(cos theta) cos(m phi),   Y^R_l,-m = sqrt(2) lam_lm(cos theta) sin(m phi),
(m > 0), where lam_lm is the orthonormal associated Legendre function with the Condon-Shortley
phase, so that Y_lm = lam_lm e^{i m phi} are the complex harmonics of ducc0 / healpy.

The grid is ducc0's "GL" geometry: ntheta Gauss-Legendre rings from north to south, nphi
equispaced longitudes from phi = 0. A bandlimit-L_grid grid (ntheta = L_grid, nphi = 2 L_grid - 1)
integrates exactly every product of harmonics of total degree <= 2 L_grid - 2 (sampling theorem,
docs/harmonic-conventions.md section 2), so synthesis followed by analysis is the identity for L <= L_grid.

Tables are computed in float64 behind ``lru_cache`` keyed on integers (torch-harmonics style) and
returned as fresh copies, so callers may modify them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def _gauss_legendre(ntheta: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(ntheta)
    return x[::-1].copy(), w[::-1].copy()  # north (cos theta = 1) to south, as ducc0


def gl_nodes(ntheta: int) -> tuple[np.ndarray, np.ndarray]:
    """cos(theta) of the rings (north to south) and their Gauss-Legendre weights (sum 2)."""
    x, w = _gauss_legendre(ntheta)
    return x.copy(), w.copy()


def grid_shape(L_grid: int) -> tuple[int, int]:
    """(ntheta, nphi) of the Gauss-Legendre grid of bandlimit L_grid."""
    return L_grid, 2 * L_grid - 1


@lru_cache(maxsize=32)
def _legendre(L: int, ntheta: int) -> np.ndarray:
    x, _ = _gauss_legendre(ntheta)
    sin_theta = np.sqrt((1.0 - x) * (1.0 + x))
    lam = np.zeros((L, L, ntheta))  # lam[l, m, k], zero for m > l
    lam_mm = np.full(ntheta, 1.0 / np.sqrt(4.0 * np.pi))
    for m in range(L):
        if m > 0:
            lam_mm = -np.sqrt((2 * m + 1) / (2 * m)) * sin_theta * lam_mm
        lam[m, m] = lam_mm
        if m + 1 < L:
            lam[m + 1, m] = np.sqrt(2 * m + 3) * x * lam_mm
        for l in range(m + 2, L):
            a = np.sqrt((4 * l * l - 1) / (l * l - m * m))
            b = np.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1))
            lam[l, m] = a * (x * lam[l - 1, m] - b * lam[l - 2, m])
    table = np.zeros((ntheta, L, 2 * L - 1))
    for m in range(L):
        factor = 1.0 if m == 0 else np.sqrt(2.0)
        table[:, :, L - 1 + m] = factor * lam[:, m].T
        table[:, :, L - 1 - m] = factor * lam[:, m].T
    return table


def legendre_table(L: int, ntheta: int) -> np.ndarray:
    """(ntheta, L, 2L-1): the theta part of Y^R_lm on the rings, index [k, l, m + L - 1]
    (sqrt(2) included for m != 0; zero where |m| > l)."""
    return _legendre(L, ntheta).copy()


def fourier_table(L: int, nphi: int) -> np.ndarray:
    """(2L-1, nphi): the phi part of Y^R_lm, index [m + L - 1, j]: cos(m phi_j) for m > 0, 1 for
    m = 0, sin(|m| phi_j) for m < 0, with phi_j = 2 pi j / nphi."""
    m = np.arange(-(L - 1), L)[:, None]
    phi = 2.0 * np.pi * np.arange(nphi)[None, :] / nphi
    return np.where(m >= 0, np.cos(m * phi), np.sin(-m * phi))


def degree_of_column(L: int) -> np.ndarray:
    """Degree l of every real-layout column (L**2,)."""
    return np.repeat(np.arange(L), 2 * np.arange(L) + 1)


def padded_column(L: int) -> np.ndarray:
    """(L**2,) flat index into an (L, 2L-1) [l, m + L - 1] array of every real-layout column."""
    l = degree_of_column(L)
    m = np.arange(L * L) - l * l - l
    return l * (2 * L - 1) + m + L - 1
