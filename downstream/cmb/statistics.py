"""The statistics cosmologists already use for non-Gaussianity, one map at a time
(docs/cmb-experiment.md section 7): the baselines the scattering classifiers are compared with.

All start from the map's harmonic coefficients a_lm (l < L) and use area-weighted
Gauss-Legendre quadrature on the sphere, float64:

- ``skewness``, ``kurtosis``: of the pixel values, <dT^3> / <dT^2>^(3/2) and <dT^4> / <dT^2>^2 - 3;
- ``band_moments``: skewness and kurtosis of every wavelet band W_j = f * Psi^j (j = J0..J, the
  scattering's own filters) and of the high-passed map (1 - eta_{J0+1}^2 applied to a_lm);
- ``minkowski``: the three Minkowski functionals V0, V1, V2 of the map and of the high-passed map,
  normalised to unit variance, at the thresholds ``THRESHOLDS`` (Schmalzing & Gorski 1998, MNRAS
  297, 355, eq. 5-7), at bandlimit at most ``MINKOWSKI_BANDLIMIT``;
- ``optimal_cubic``: the cubic (KSW-type) estimator of this model (Komatsu, Spergel & Wandelt 2005):
  for T = G + f (G^2 - sigma^2) / sigma the reduced bispectrum is, to first order in f,
  b_{l1 l2 l3} = (2 f / sigma) (C_l1 C_l2 + C_l2 C_l3 + C_l1 C_l3), separable, and the optimal
  full-sky noise-free estimator is, up to normalisation, E = integral of T(n)^2 A(n) dn with
  A = sum_{l >= 2} (a_lm / C_l) Y_lm the inverse-variance-filtered map (its linear term vanishes:
  <T^2> is constant and A has no monopole).

Moments and the cubic estimator are integrated exactly (a 2L x 4L Gauss-Legendre grid per field of
bandlimit L); the Minkowski functionals are sums over the pixels of an L x 2L grid.
"""

from __future__ import annotations

import math
from functools import lru_cache

import ducc0
import numpy as np

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.wavelets import eta_lam, filter_bank
from pipeline.sphere.alm import apply_l_filter, l_of_index, m_of_index, truncate
from pipeline.sphere.harmonic import ring_grid_synthesis

STATISTICS = ("skewness", "kurtosis", "band_moments", "minkowski", "optimal_cubic")
THRESHOLDS = tuple(np.round(np.linspace(-2.0, 2.0, 9), 2))
"""Thresholds nu (in units of the field's rms) of the Minkowski functionals."""
BIN_WIDTH = 0.2
"""Width in nu of the window that stands in for delta(u - nu) in V1 and V2."""
MINKOWSKI_BANDLIMIT = 512
"""Minkowski functionals are computed from the map truncated to at most this bandlimit."""


def _weights(ntheta: int, nphi: int) -> np.ndarray:
    """Quadrature weight of each pixel of a Gauss-Legendre grid (rings x 1), summing to 4 pi."""
    return ducc0.misc.GL_weights(ntheta, nphi)[:, None]


def weighted_moments(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(skewness, excess kurtosis) of a field on a grid with quadrature weights broadcastable to
    it (one per ring, (ntheta, 1); or per pixel, e.g. times a mask: the moments over the observed sky).
    Per-ring weights multiply ring sums, so no weight array the size of the grid is made."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape == (values.shape[0], 1):
        ring_weights, total = weights[:, 0], float(weights.sum()) * values.shape[1]

        def mean(x: np.ndarray) -> float:
            return float(ring_weights @ x.sum(axis=1)) / total
    else:
        pixel_weights = np.broadcast_to(weights, values.shape)
        total = float(pixel_weights.sum())

        def mean(x: np.ndarray) -> float:
            return float(np.vdot(pixel_weights, x)) / total

    d = values - mean(values)
    d2 = d * d
    m2 = mean(d2)
    m3 = mean(np.multiply(d2, d, out=d))
    m4 = mean(np.multiply(d2, d2, out=d2))
    return m3 / m2**1.5, m4 / m2**2 - 3.0


def _on_grid(alm: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """A bandlimit-L field on the Gauss-Legendre grid of 2L x 4L, whose quadrature integrates
    polynomials of degree <= 4L - 1 exactly: the first four moments of the field are exact."""
    ntheta, nphi = 2 * L, 4 * L
    return ring_grid_synthesis(alm, L, ntheta, nphi), _weights(ntheta, nphi)


@lru_cache(maxsize=8)
def _highpass_filter(L: int, lam: float, J0: int) -> np.ndarray:
    return 1.0 - eta_lam(np.arange(L) / lam ** (J0 + 1), lam) ** 2


def highpass(alm: np.ndarray, config: ScatteringConfig) -> np.ndarray:
    """a_lm (1 - eta_lam(l / lam^(J0+1))^2): 0 below lam^J0, 1 from lam^(J0+1) (tight frame)."""
    return apply_l_filter(alm, config.L, _highpass_filter(config.L, config.lam, config.J0))


def band_moments(alm: np.ndarray, config: ScatteringConfig, high: np.ndarray) -> np.ndarray:
    """Skewness and kurtosis of every wavelet band (j = J0..J), then of the high-passed map `high`."""
    fb = filter_bank(config.L, config.lam, config.J0)
    out = []
    for j in range(config.J0, config.J + 1):
        Lj = config.wavelet_bandlimit(j)
        out += weighted_moments(*_on_grid(apply_l_filter(alm, config.L, fb.wavelet(j), Lj), Lj))
    out += weighted_moments(*_on_grid(high, config.L))
    return np.array(out)


def _phi_derivative(values: np.ndarray, order: int) -> np.ndarray:
    """d^order / dphi^order along each ring, exact for ring signals of degree < nphi / 2."""
    nphi = values.shape[1]
    m = np.arange(nphi // 2 + 1)
    return np.fft.irfft(np.fft.rfft(values, axis=1) * (1j * m) ** order, n=nphi, axis=1)


def field_derivatives(alm: np.ndarray, L: int) -> dict[str, np.ndarray]:
    """u, its gradient (g1, g2) and Hessian (h11, h12, h22) in the orthonormal (theta, phi) frame
    on a Gauss-Legendre grid of L x 2L: u_theta from ducc0's first-derivative synthesis, phi
    derivatives by FFT along the rings, u_theta_theta from the Laplacian (-l(l+1) a_lm)."""
    ntheta, nphi = L, 2 * L
    theta = ducc0.misc.GL_thetas(ntheta)[:, None]
    geometry = dict(theta=theta[:, 0], nphi=np.full(ntheta, nphi, dtype=np.uint64), phi0=np.zeros(ntheta),
                    ringstart=np.arange(ntheta, dtype=np.uint64) * nphi)
    a = np.ascontiguousarray(alm, dtype=np.complex128)[None]
    u = ring_grid_synthesis(alm, L, ntheta, nphi)
    u_t = ducc0.sht.synthesis_deriv1(alm=a, lmax=L - 1, **geometry)[0].reshape(ntheta, nphi)
    l = l_of_index(L)
    laplacian = ring_grid_synthesis(alm * -(l * (l + 1.0)), L, ntheta, nphi)
    u_p, u_pp, u_tp = _phi_derivative(u, 1), _phi_derivative(u, 2), _phi_derivative(u_t, 1)
    sin, cot = np.sin(theta), np.cos(theta) / np.sin(theta)
    u_tt = laplacian - cot * u_t - u_pp / sin**2
    return {"u": u, "g1": u_t, "g2": u_p / sin, "h11": u_tt, "h12": (u_tp - cot * u_p) / sin,
            "h22": u_pp / sin**2 + cot * u_t, "weights": _weights(ntheta, nphi)}


def minkowski_functionals(alm: np.ndarray, L: int, thresholds=THRESHOLDS, bin_width: float = BIN_WIDTH) -> np.ndarray:
    """(3, len(thresholds)): V0, V1, V2 per unit area of the field normalised to unit variance,
    V0 = <Theta(u - nu)>, V1 = <delta(u - nu) |grad u|> / 4,
    V2 = <delta(u - nu) (2 g1 g2 h12 - g1^2 h22 - g2^2 h11) / |grad u|^2> / (2 pi)."""
    d = field_derivatives(alm, L)
    w = d["weights"] / (4 * math.pi)
    sigma = math.sqrt(float((w * d["u"] ** 2).sum()))
    u, g1, g2 = d["u"] / sigma, d["g1"] / sigma, d["g2"] / sigma
    grad2 = g1**2 + g2**2
    curvature = (2 * g1 * g2 * d["h12"] - g1**2 * d["h22"] - g2**2 * d["h11"]) / sigma / np.maximum(grad2, 1e-300)
    out = np.empty((3, len(thresholds)))
    for k, nu in enumerate(thresholds):
        window = (np.abs(u - nu) < bin_width / 2) / bin_width
        out[0, k] = float((w * (u > nu)).sum())
        out[1, k] = float((w * window * np.sqrt(grad2)).sum()) / 4
        out[2, k] = float((w * window * curvature).sum()) / (2 * math.pi)
    return out


def optimal_cubic(alm: np.ndarray, L: int, cl: np.ndarray, T: np.ndarray | None = None) -> float:
    """E = integral of T^2 A, A the inverse-variance-filtered map (l >= 2 with C_l > 0), on the
    grid of ``_on_grid`` (exact: T^2 A has degree 3L - 3); T: the map already on that grid."""
    inverse = np.zeros(L)
    usable = (np.arange(L) >= 2) & (cl[:L] > 0)
    inverse[usable] = 1.0 / cl[:L][usable]
    A, weights = _on_grid(apply_l_filter(alm, L, inverse), L)
    T = _on_grid(alm, L)[0] if T is None else T
    return float((weights * T * T * A).sum())


def cut_sky_statistics(alm: np.ndarray, L: int, observed: np.ndarray) -> dict[str, np.ndarray]:
    """Pixel skewness and kurtosis over the observed pixels of the 2L x 4L grid of ``_on_grid``
    (`observed`: the binary mask on that grid; docs/cmb-experiment.md section 9)."""
    T, weights = _on_grid(np.where(m_of_index(L) == 0, alm.real, alm), L)
    skewness, kurtosis = weighted_moments(T, weights * observed)
    return {"skewness": np.array([skewness]), "kurtosis": np.array([kurtosis])}


def map_statistics(alm: np.ndarray, config: ScatteringConfig, cl: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic of STATISTICS for one map of bandlimit config.L (a_lm complex layout)."""
    L = config.L
    alm = np.where(m_of_index(L) == 0, alm.real, alm)  # exactly real m = 0 coefficients
    T, weights = _on_grid(alm, L)
    skewness, kurtosis = weighted_moments(T, weights)
    L_mf = min(L, MINKOWSKI_BANDLIMIT)
    high = highpass(alm, config)
    minkowski = [minkowski_functionals(truncate(a, L, L_mf), L_mf).ravel() for a in (alm, high)]
    return {"skewness": np.array([skewness]), "kurtosis": np.array([kurtosis]),
            "band_moments": band_moments(alm, config, high), "minkowski": np.concatenate(minkowski),
            "optimal_cubic": np.array([optimal_cubic(alm, L, cl, T)])}
