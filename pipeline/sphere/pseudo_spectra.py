"""Power spectra of a bandlimited signal seen through a region of the sphere, decoupled from the
region (Hivon et al. 2002, ApJ 567, 2: MASTER; docs/masks.md section 4).

The pseudo-spectrum of a signal S of bandlimit L over a region R (an indicator on a Gauss-Legendre
grid) is that of T(S) = (S - <S>_R) R, analysed at bandlimit L by the grid's quadrature. For an
isotropic S with spectrum C, its expectation is linear in C:

    E[pseudo_l] = sum_{l' >= 1} K[l, l'] C_l',   K[:, l'] = sum_m' pseudo(T(Y_l'm')),

with Y_l'm' the real spherical harmonics (the monopole drops: T removes constants exactly). K is
computed as the matrix of the same discrete operator T (in the basis of the region's pixels), so
the identity holds exactly for what the pipeline computes (mode coupling, leakage above L, the
mean removal and the grid's quadrature included), not only in the continuous limit. On small regions K is
ill-conditioned at single-l resolution: the spectrum is decoupled in bandpowers, l >= 1 in bins
of the smallest width (from ``BIN_WIDTHS``) whose binned coupling B is well-conditioned and not
small (cond B <= ``MAX_CONDITION`` and its smallest singular value >= f_R / ``MAX_CONDITION``, f_R
the region's sky fraction, the size of B for a region much larger than the signal's scales),
each bin's value repeated at its l; none such: NaN. C_0 is left to the caller (4 pi mean^2).
With C constant within each bin the decoupled spectrum is unbiased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import ducc0
import numpy as np

from pipeline.sphere.alm import complex_to_real, real_power_spectrum
from pipeline.sphere.harmonic import ring_grid_analysis

BIN_WIDTHS = (1, 2, 3, 4, 6, 8, 12, 16)
MAX_CONDITION = 100.0
"""Bandpowers of a region use the finest bins whose binned coupling matrix amplifies the
pseudo-spectrum's noise at most ~this much more than the f_sky normalisation would."""


def region_pseudo_spectrum(values: np.ndarray, region: np.ndarray, L: int) -> tuple[float, np.ndarray]:
    """(mean of `values` over `region`, pseudo-spectrum (L,) of T(values) = (values - mean) region),
    both on a (ntheta, nphi) Gauss-Legendre grid."""
    weights = ducc0.misc.GL_weights(*values.shape)[:, None] * region
    mean = float(np.sum(values * weights) / np.sum(weights))
    return mean, real_power_spectrum(complex_to_real(ring_grid_analysis((values - mean) * region, L), L), L)


@lru_cache(maxsize=4)
def _legendre_table(L: int, ntheta: int) -> np.ndarray:
    """lambda_lm(theta) (ntheta, L, L), zero for m > l, at the rings of the Gauss-Legendre grid: the
    theta part of Y_lm = lambda_lm e^{i m phi} in ducc0's synthesis (``alm2leg`` of one l at a time)."""
    theta = ducc0.misc.GL_thetas(ntheta)
    m = np.arange(L)
    mstart = m * (2 * L - 1 - m) // 2
    table = np.zeros((ntheta, L, L))
    for l in range(L):
        alm = np.zeros((1, L * (L + 1) // 2), dtype=np.complex128)
        alm[0, mstart[: l + 1] + l] = 1.0
        table[:, l, :] = ducc0.sht.alm2leg(alm=alm, lmax=L - 1, theta=theta, mval=m.astype(np.uintp),
                                           mstart=mstart.astype(np.uintp))[0].real
    return table


def _ring_harmonics(L: int, nphi: int) -> tuple[np.ndarray, np.ndarray]:
    """The phi parts of the real harmonics on a ring of nphi points (phi_k = 2 pi k / nphi):
    (nphi, 2L - 1) columns 1, sqrt 2 cos m phi (m = 1..L-1), sqrt 2 sin m phi (m = 1..L-1), and each column's m."""
    m = np.arange(1, L)
    phi = 2 * math.pi * np.arange(nphi)[:, None] / nphi
    return np.hstack([np.ones((nphi, 1)), math.sqrt(2) * np.cos(phi * m), math.sqrt(2) * np.sin(phi * m)]), np.r_[0, m, m]


def coupling_matrix(region: np.ndarray, L: int) -> np.ndarray:
    """K (L, L): K[l, l'] the expected pseudo-spectrum at l of a unit-C_l' isotropic signal (column 0
    is zero: T removes the monopole). In the real harmonics Y_(l, a) = lambda_{l m_a}(theta) t_a(phi)
    the operator T is M - r r^T / sum(w R), with M = Y^T diag(w R) Y and r = Y^T (w R); K[l, l'] sums
    its squares over the (l, l') block, divided by 2l + 1. M is built ring by ring: its theta sums
    take F[theta, a, b] = sum over the ring of R t_a t_b, so the cost is O(ntheta L^4) flops and
    O(L^3) memory whatever the region's size."""
    ntheta, nphi = region.shape
    weights = ducc0.misc.GL_weights(ntheta, nphi)
    trig, m_of = _ring_harmonics(L, nphi)
    legendre = _legendre_table(L, ntheta)[:, :, m_of]  # (ntheta, l, a): lambda_{l m_a}, zero where m_a > l
    F = np.matmul(trig.T[None] * region[:, None, :], trig) * weights[:, None, None]  # (ntheta, a, b), quadrature weights in
    r = np.einsum("tla,ta->la", legendre, (region @ trig) * weights[:, None])
    total = float(np.sum(region * weights[:, None]))
    beside = legendre.transpose(0, 2, 1)  # (ntheta, b, l')
    K = np.zeros((L, L))
    for a in range(len(m_of)):
        rows = legendre[:, :, a].T @ (F[:, a, :, None] * beside).reshape(ntheta, -1)  # M[(l, a), (b, l')]
        block = rows.reshape(L, len(m_of), L) - r[:, a, None, None] * r.T[None] / total
        K += np.einsum("lbk,lbk->lk", block, block)
    K /= (2 * np.arange(L) + 1)[:, None]
    K[:, 0] = 0.0
    return K


def _bin_matrices(edges: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """P (bins, L) averages over each bin; Q (L, bins) spreads a bin's value over its l."""
    P, Q = np.zeros((len(edges) - 1, L)), np.zeros((L, len(edges) - 1))
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        P[b, lo:hi] = 1.0 / (hi - lo)
        Q[lo:hi, b] = 1.0
    return P, Q


@dataclass(frozen=True, eq=False)
class Decoupling:
    """The bandpower decoupling of one region: bin edges over l >= 1 (empty when no binning is
    well-conditioned) and the operator (L, L) from a pseudo-spectrum to the decoupled spectrum
    (its row 0 and, without bins, every row are NaN)."""

    edges: np.ndarray
    operator: np.ndarray

    @classmethod
    def of_region(cls, region: np.ndarray, L: int) -> "Decoupling":
        K = coupling_matrix(region, L)
        fraction = float(np.sum(region * ducc0.misc.GL_weights(*region.shape)[:, None]) / (4 * math.pi))
        for width in BIN_WIDTHS:
            edges = np.unique(np.r_[np.arange(1, L, width), L])
            P, Q = _bin_matrices(edges, L)
            binned = P @ K @ Q
            singular = np.linalg.svd(binned, compute_uv=False)
            if len(edges) > 1 and singular[-1] >= fraction / MAX_CONDITION and singular[0] <= MAX_CONDITION * singular[-1]:
                operator = Q @ np.linalg.solve(binned, P)
                operator[0] = np.nan
                return cls(edges, operator)
        return cls(np.zeros(0, dtype=int), np.full((L, L), np.nan))

    def apply(self, pseudo: np.ndarray) -> np.ndarray:
        """The decoupled spectrum (L,) of a pseudo-spectrum (L,) (NaN at l = 0 and without bins)."""
        return self.operator @ pseudo if len(self.edges) else self.operator[:, 0].copy()
