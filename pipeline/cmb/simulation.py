"""Simulated CMB temperature skies in harmonic space: the two classes of docs/cmb-experiment.md
sections 2-3.

Gaussian class: a_lm ~ N(0, C_l) for l < L (real field: a_l0 real with variance C_l; for m > 0,
Re and Im independent with variance C_l / 2).

Non-Gaussian class: the local-type transform in pixel space (Komatsu & Spergel 2001),
    T = G + f (G^2 - sigma^2) / sigma,
with G a Gaussian map of the same C_l, sigma^2 = <G^2> its ensemble pixel variance (analytic, not
the sample variance of the map), and the declared amplitude f; then T is filtered in harmonic space
by sqrt(C_l / <C_l^NG>) (``pipeline.cmb.spectra``), so that both classes have exactly the same
expected power spectrum C_l on l < L and only higher-order statistics tell them apart
(McEwen, Wallis & Mavor-Parker, ICLR 2022, section 6).

The pixel-space step is exact: G (bandlimit L) is synthesised on a Gauss-Legendre grid of
``product_quadrature_order(L)`` = ceil((3L - 2) / 2) rings and nphi >= 3L - 2 longitudes, squared
there (G^2 has bandlimit 2L - 1), and analysed back to l < L. That quadrature integrates
G^2 Y_lm* (degree <= 3L - 3) exactly, so the l < L part of G^2 is obtained without aliasing: the
same projection that <C_l^NG> describes. Everything with l >= L is discarded by construction.
"""

from __future__ import annotations

import ducc0
import numpy as np

from pipeline.cmb.spectra import CMBSpectra, product_quadrature_order
from pipeline.sphere.alm import apply_l_filter, l_of_index, m_of_index, n_alm
from pipeline.sphere.harmonic import ring_grid_analysis, ring_grid_synthesis

GAUSSIAN, NONGAUSSIAN = 0, 1
"""Class labels (the manifest's `label` column)."""

CLASS_NAMES = {GAUSSIAN: "gaussian", NONGAUSSIAN: "non-gaussian"}


def product_grid_shape(L: int) -> tuple[int, int]:
    """(ntheta, nphi) of the Gauss-Legendre grid on which products of two bandlimit-L maps are
    projected exactly onto l < L: ceil((3L - 2) / 2) rings, an FFT-friendly nphi >= 3L - 2."""
    return product_quadrature_order(L), ducc0.fft.good_size(3 * L - 2)


def gaussian_alm(cl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Complex-layout a_lm (l < L = len(cl)) of a real Gaussian isotropic field with spectrum cl.

    Draws 2 * n_alm(L) standard normals (real parts, then imaginary parts) from `rng`, in the
    fixed complex-layout order, so a seed determines the map bit for bit.
    """
    L = len(cl)
    z = rng.standard_normal((2, n_alm(L)))
    m = m_of_index(L)
    amp = np.sqrt(cl)[l_of_index(L)]
    return np.where(m == 0, z[0], (z[0] + 1j * z[1]) / np.sqrt(2.0)) * amp


def squared_field_alm(g_alm: np.ndarray, L: int, sigma2: float, *, nthreads: int = 1) -> np.ndarray:
    """a_lm, l < L, of G^2 - sigma^2 for the bandlimit-L map G with coefficients g_alm (exact:
    see the module docstring)."""
    ntheta, nphi = product_grid_shape(L)
    g = ring_grid_synthesis(g_alm, L, ntheta, nphi, nthreads=nthreads)
    g *= g
    g -= sigma2
    return ring_grid_analysis(g, L, nthreads=nthreads)


def nongaussian_alm(g_alm: np.ndarray, spectra: CMBSpectra, f: float, *, nthreads: int = 1) -> np.ndarray:
    """a_lm, l < L, of the local-type map T = G + f (G^2 - sigma^2) / sigma filtered by
    sqrt(C_l / <C_l^NG>), from the coefficients g_alm of G (Gaussian with spectrum spectra.cl)."""
    L, sigma2 = spectra.L, spectra.sigma2
    t_alm = g_alm + (f / np.sqrt(sigma2)) * squared_field_alm(g_alm, L, sigma2, nthreads=nthreads)
    return apply_l_filter(t_alm, L, spectra.nongaussian_filter(f))


def simulate_alm(spectra: CMBSpectra, label: int, f: float, seed: int, *, nthreads: int = 1) -> np.ndarray:
    """Coefficients (complex layout, l < spectra.L) of one map of class `label` (GAUSSIAN or
    NONGAUSSIAN, with amplitude f) from the integer `seed` of ``numpy.random.default_rng``."""
    if label not in CLASS_NAMES:
        raise ValueError(f"label must be {GAUSSIAN} (Gaussian) or {NONGAUSSIAN} (non-Gaussian), got {label!r}")
    g_alm = gaussian_alm(spectra.cl, np.random.default_rng(seed))
    if label == GAUSSIAN:
        return g_alm
    return nongaussian_alm(g_alm, spectra, f, nthreads=nthreads)
