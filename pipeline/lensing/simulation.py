"""Simulated convergence skies of the two classes and their shear by the spin-2 Kaiser-Squires
relation on the sphere (docs/lensing-experiment.md section 1).

Gaussian class: kappa_lm ~ N(0, C_l^kappa) for 2 <= l < L (``pipeline.cmb.simulation.gaussian_alm``).

Lognormal class: g ~ N(0, C_l^g), bandlimit L, synthesised on a Gauss-Legendre grid of 3L rings
and nphi >= 6L longitudes; kappa = lambda (exp(g - sigma_g^2/2) - 1) there, analysed back to l < L
by the grid's quadrature, and l < 2 set to 0. The quadrature integrates g^k Y_lm exactly for
k <= 5 (degree <= 6L - 6 <= 2 * 3L - 1), so the aliasing of exp(g) into l < L comes only from its
terms g^k / k!, k >= 6 (measured: < 1e-8 relative in C_l at sigma_g <= 0.3). Both classes then have
the expected spectrum C_l^kappa of ``pipeline.lensing.spectra`` on l < L.

Kaiser-Squires on the sphere (Kaiser & Squires 1993, ApJ 404, 441; Wallis et al. 2017,
arXiv:1703.09233, MNRAS 509, 4480): with the lensing potential psi, kappa = (1/2) eth-bar eth psi
and gamma = gamma1 + i gamma2 = (1/2) eth eth psi, eth = -(sin theta)^s (d_theta + i / sin theta
d_phi) (sin theta)^-s on spin s (Goldberg et al. 1967), so kappa_lm = -l(l+1)/2 psi_lm and
gamma = sum_lm 2gamma_lm 2Y_lm with 2gamma_lm = -sqrt((l+2)(l-1) / (l(l+1))) kappa_lm. ducc0 (as
healpy, COSMO convention) writes a spin-2 pair as g1 + i g2 = sum_lm a_2,lm 2Y_lm with
a_2,lm = -(E_lm + i B_lm), hence
    E_lm = sqrt((l+2)(l-1) / (l(l+1))) kappa_lm,   B_lm = 0   (l >= 2),
and l = 0, 1 of kappa carry no shear. g1, g2 are the components in the local frame (e_theta,
e_phi): g1 > 0 stretches images along the meridian, g2 > 0 along (e_theta + e_phi) / sqrt 2; a
positive convergence peak has tangential shear gamma_t = -Re(gamma e^(-2 i phi)) > 0 around it
(tests/lensing/test_lensing_simulation.py checks the sign and the exact curved-sky profile).
"""

from __future__ import annotations

from functools import lru_cache

import ducc0
import numpy as np

from pipeline.cmb.simulation import gaussian_alm
from pipeline.lensing.spectra import LensingSpectra
from pipeline.sphere.alm import apply_l_filter
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import ring_grid_analysis, ring_grid_synthesis, synthesise

GAUSSIAN, LOGNORMAL = 0, 1
"""Class labels (the manifest's `label` column)."""

CLASS_NAMES = {GAUSSIAN: "gaussian", LOGNORMAL: "lognormal"}


def lognormal_grid_shape(L: int) -> tuple[int, int]:
    """(ntheta, nphi) of the Gauss-Legendre grid on which exp(g) is formed: 3L rings and an
    FFT-friendly nphi >= 6L."""
    return 3 * L, ducc0.fft.good_size(6 * L)


@lru_cache(maxsize=16)
def shear_filter(L: int) -> np.ndarray:
    """f_l = sqrt((l+2)(l-1) / (l(l+1))) for 2 <= l < L, 0 for l < 2 (read-only): E_lm = f_l kappa_lm."""
    ell = np.arange(L, dtype=np.float64)
    out = np.zeros(L)
    out[2:] = np.sqrt((ell[2:] + 2) * (ell[2:] - 1) / (ell[2:] * (ell[2:] + 1)))
    out.flags.writeable = False
    return out


def kaiser_squires_shear(kappa_alm: np.ndarray, L: int) -> np.ndarray:
    """(E_lm, B_lm), shape (2, n_alm(L)), of the shear of a convergence (complex layout, l < L):
    E = f_l kappa_lm, B = 0 (ducc0's spin-2 convention; see the module docstring)."""
    e = apply_l_filter(np.asarray(kappa_alm, dtype=np.complex128), L, shear_filter(L))
    return np.stack([e, np.zeros_like(e)])


def kaiser_squires_convergence(eb_alm: np.ndarray, L: int) -> np.ndarray:
    """The convergence kappa_lm = E_lm / f_l (l >= 2; 0 for l < 2) of a shear's (E, B) coefficients:
    the exact inverse of ``kaiser_squires_shear`` on l >= 2 (B is ignored)."""
    f = shear_filter(L)
    inverse = np.divide(1.0, f, out=np.zeros(L), where=f > 0)
    return apply_l_filter(np.asarray(eb_alm[0], dtype=np.complex128), L, inverse)


def lognormal_alm(g_alm: np.ndarray, spectra: LensingSpectra, *, nthreads: int = 1) -> np.ndarray:
    """kappa_lm, 2 <= l < L, of kappa = lambda (exp(g - sigma_g^2/2) - 1) for the bandlimit-L
    Gaussian map g with coefficients g_alm (l < 2 set to 0)."""
    L = spectra.L
    field = ring_grid_synthesis(g_alm, L, *lognormal_grid_shape(L), nthreads=nthreads)
    field -= spectra.sigma_g2 / 2
    np.expm1(field, out=field)
    field *= spectra.shift
    return apply_l_filter(ring_grid_analysis(field, L, nthreads=nthreads), L, (np.arange(L) >= 2).astype(np.float64))


def convergence_alm(spectra: LensingSpectra, label: int, seed: int, *, nthreads: int = 1) -> np.ndarray:
    """Coefficients (complex layout, l < spectra.L, 0 for l < 2) of one convergence map of class
    `label` (GAUSSIAN or LOGNORMAL) from the integer `seed` of ``numpy.random.default_rng``."""
    if label not in CLASS_NAMES:
        raise ValueError(f"label must be {GAUSSIAN} (Gaussian) or {LOGNORMAL} (lognormal), got {label!r}")
    rng = np.random.default_rng(seed)
    if label == GAUSSIAN:
        return gaussian_alm(spectra.cl_kappa, rng)
    return lognormal_alm(gaussian_alm(spectra.cl_g, rng), spectra, nthreads=nthreads)


def shear_maps(kappa_alm: np.ndarray, L: int, *, nthreads: int = 1) -> np.ndarray:
    """(g1, g2), shape (2, L, 2L - 1), float64: the shear of the convergence kappa_alm synthesised
    exactly on the Gauss-Legendre grid of bandlimit L (north pole first, first longitude phi = 0)."""
    return synthesise(kaiser_squires_shear(kappa_alm, L), RingGrid.for_bandlimit("gl", L), L, spin=2, nthreads=nthreads)
