"""Scale-discretised axisymmetric wavelets on the sphere (float64, pure numpy).

McEwen, Durastanti & Wiaux, "Localisation of directional scale-discretised wavelets on the
sphere", ACHA 2018 (arXiv:1509.06749); Leistedt et al., "S2LET", A&A 2013 (arXiv:1211.1680),
eq. (2)-(8); docs/wavelets.md sections 1-3. The same kernels as s2let / s2wav for the same (L, lam, J0):

    s(t) = exp(-1 / (1 - t^2)) for |t| < 1,     s_lam(t) = s(2 lam / (lam - 1) (t - 1/lam) - 1),
    k_lam(t) = int_t^1 s_lam(u)^2 du/u / int_{1/lam}^1 s_lam(u)^2 du/u,
    kappa_lam(t) = sqrt(k_lam(t / lam) - k_lam(t)),     eta_lam(t) = sqrt(k_lam(t)).

Harmonic filters (multipliers on f_lm): wavelet j is kappa_lam(l / lam^j), the scaling function
eta_lam(l / lam^J0). They form a tight frame: eta^2 + sum_{j=J0}^{J} kappa_j^2 = 1 for l < L.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipeline.scattering.config import ScatteringConfig, max_scale
from pipeline.sphere.alm import apply_l_filter, pad

_QUADRATURE_NODES = 200  # Gauss-Legendre nodes for k_lam; the integrand is C-infinity (checked in tests)


def _s_lam_squared_over_u(u: np.ndarray, lam: float) -> np.ndarray:
    x = 2.0 * lam / (lam - 1.0) * (u - 1.0 / lam) - 1.0
    out = np.zeros_like(u)
    inside = np.abs(x) < 1.0
    out[inside] = np.exp(-2.0 / (1.0 - x[inside] ** 2)) / u[inside]
    return out


def _integral_to_one(t: np.ndarray, lam: float) -> np.ndarray:
    """int_t^1 s_lam(u)^2 / u du for each t in [1/lam, 1], by Gauss-Legendre quadrature."""
    x, w = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
    half = (1.0 - t)[:, None] / 2.0
    u = t[:, None] + half * (x[None, :] + 1.0)
    return np.sum(half * w[None, :] * _s_lam_squared_over_u(u, lam), axis=1)


def k_lam(t: np.ndarray, lam: float) -> np.ndarray:
    """The normalised integral k_lam(t): 1 for t <= 1/lam, 0 for t >= 1, smooth in between."""
    t = np.asarray(t, dtype=np.float64)
    out = np.where(t <= 1.0 / lam, 1.0, 0.0)
    between = (t > 1.0 / lam) & (t < 1.0)
    if np.any(between):
        norm = _integral_to_one(np.array([1.0 / lam]), lam)[0]
        out[between] = _integral_to_one(t[between], lam) / norm
    return out


def kappa_lam(t: np.ndarray, lam: float) -> np.ndarray:
    """Wavelet generating function kappa_lam(t) = sqrt(k_lam(t/lam) - k_lam(t))."""
    t = np.asarray(t, dtype=np.float64)
    return np.sqrt(np.maximum(k_lam(t / lam, lam) - k_lam(t, lam), 0.0))


def eta_lam(t: np.ndarray, lam: float) -> np.ndarray:
    """Scaling generating function eta_lam(t) = sqrt(k_lam(t))."""
    return np.sqrt(k_lam(t, lam))


@dataclass(frozen=True)
class FilterBank:
    """Harmonic multipliers of the axisymmetric wavelets and scaling function, for l < L.

    `wavelets[j - J0]` is kappa_lam(l / lam^j) for j = J0..J; `scaling` is eta_lam(l / lam^J0).
    """

    L: int
    lam: float
    J0: int
    scaling: np.ndarray
    wavelets: tuple[np.ndarray, ...]

    @property
    def J(self) -> int:
        return self.J0 + len(self.wavelets) - 1

    def wavelet(self, j: int) -> np.ndarray:
        return self.wavelets[j - self.J0]


@lru_cache(maxsize=16)
def filter_bank(L: int, lam: float, J0: int) -> FilterBank:
    """The (cached, read-only) filter bank for bandlimit L, dilation lam and lowest scale J0."""
    l = np.arange(L, dtype=np.float64)
    scaling = eta_lam(l / lam**J0, lam)
    wavelets = tuple(kappa_lam(l / lam**j, lam) for j in range(J0, max_scale(L, lam) + 1))
    for arr in (scaling, *wavelets):
        arr.flags.writeable = False
    return FilterBank(L, float(lam), J0, scaling, wavelets)



def wavelet_analysis(alm: np.ndarray, config: ScatteringConfig) -> tuple[np.ndarray, list[np.ndarray]]:
    """Axisymmetric wavelet transform (Leistedt et al. 2013, eq. 9-10) of complex-layout
    coefficients of bandlimit config.L: the scaling coefficients (bandlimit L0) and, for
    j = J0..J, W^j_lm = kappa_j(l) f_lm at its own bandlimit L_j (multiresolution)."""
    fb = filter_bank(config.L, config.lam, config.J0)
    scaling = apply_l_filter(alm, config.L, fb.scaling, config.L0)
    wavelets = [
        apply_l_filter(alm, config.L, fb.wavelet(j), config.wavelet_bandlimit(j)) for j in range(config.J0, config.J + 1)
    ]
    return scaling, wavelets


def wavelet_synthesis(scaling: np.ndarray, wavelets: list[np.ndarray], config: ScatteringConfig) -> np.ndarray:
    """Inverse of ``wavelet_analysis``, exact by the tight frame: f_lm = eta S_lm + sum_j kappa_j W^j_lm."""
    fb = filter_bank(config.L, config.lam, config.J0)
    out = apply_l_filter(pad(scaling, config.L0, config.L), config.L, fb.scaling)
    for j, W in zip(range(config.J0, config.J + 1), wavelets):
        out += apply_l_filter(pad(W, config.wavelet_bandlimit(j), config.L), config.L, fb.wavelet(j))
    return out
