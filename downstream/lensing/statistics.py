"""The classical weak-lensing statistics of one shear map (docs/lensing-experiment.md section 3):
the baselines the scattering classifiers are compared with.

A shear file (``pipeline.lensing.dataset``) holds (g1, g2) of shape (2, L, 2L - 1) on the
Gauss-Legendre grid of bandlimit L, COSMO convention. From it, float64:

- ``shear_spectra``: C_l^EE and C_l^BB, l < L, of the exact spin-2 analysis (ducc0 = healpy
  convention). Both classes have the same expected C_l^EE and C_l^BB = 0, so a classifier on them
  must sit at chance;
- ``convergence_moments``: skewness <k^3> / <k^2>^(3/2) and excess kurtosis <k^4> / <k^2>^2 - 3
  of the Kaiser-Squires reconstruction kappa_hat_lm = E_lm / f_l (l >= 2; Kaiser & Squires 1993;
  Wallis et al. 2017, arXiv:1703.09233), and of its smoothed and high-passed parts
  (kappa_hat times S_l and 1 - S_l, S_l = exp(-l(l+1) / (2 l_s^2)), l_s = L / 4): the one-point
  non-Gaussianity that separates lognormal from Gaussian convergence (e.g. Hilbert et al. 2011).

Moments are area-weighted and exact: each field (bandlimit L) is synthesised on the Gauss-Legendre
grid of 2L x 4L, whose quadrature integrates its fourth power (degree 4L - 4) exactly.
"""

from __future__ import annotations

from pathlib import Path

import ducc0
import numpy as np

from downstream.cmb.statistics import weighted_moments
from pipeline.lensing.simulation import kaiser_squires_convergence
from pipeline.sphere.alm import apply_l_filter, power_spectrum
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import analyse, ring_grid_synthesis

MOMENTS = ("skewness", "kurtosis", "skewness_smoothed", "kurtosis_smoothed", "skewness_highpass", "kurtosis_highpass")
"""The columns of ``convergence_moments``."""


def read_shear(path: str | Path) -> np.ndarray:
    """The (2, L, 2L - 1) float64 shear map (g1, g2) of a file written by ``pipeline.lensing.dataset``."""
    values = np.load(path, allow_pickle=False)
    if values.ndim != 3 or values.shape[0] != 2 or values.shape[2] != 2 * values.shape[1] - 1:
        raise ValueError(f"{path}: expected a (2, L, 2L - 1) shear map, got shape {values.shape}")
    return np.asarray(values, dtype=np.float64)


def shear_eb(shear: np.ndarray, *, nthreads: int = 1) -> np.ndarray:
    """(E_lm, B_lm), shape (2, n_alm(L)), of a (2, L, 2L - 1) Gauss-Legendre shear map: exact."""
    L = shear.shape[1]
    return analyse(shear, RingGrid.for_bandlimit("gl", L), L, spin=2, nthreads=nthreads)[0]


def shear_spectra(eb_alm: np.ndarray, L: int) -> np.ndarray:
    """(C_l^EE, C_l^BB), shape (2, L), of the (E, B) coefficients of a shear map."""
    return power_spectrum(eb_alm, L)


def _smoothing(L: int) -> np.ndarray:
    ell = np.arange(L, dtype=np.float64)
    return np.exp(-ell * (ell + 1) / (2 * (L / 4) ** 2))


def convergence_moments(eb_alm: np.ndarray, L: int, *, nthreads: int = 1) -> np.ndarray:
    """The MOMENTS of the Kaiser-Squires convergence of (E, B) coefficients of bandlimit L: skewness
    and excess kurtosis of kappa_hat, of its smoothed and of its high-passed part (exact)."""
    kappa = kaiser_squires_convergence(eb_alm, L)
    smooth = _smoothing(L)
    ntheta, nphi = 2 * L, 4 * L
    weights = ducc0.misc.GL_weights(ntheta, nphi)[:, None]
    out = []
    for filt in (None, smooth, 1.0 - smooth):
        alm = kappa if filt is None else apply_l_filter(kappa, L, filt)
        out += weighted_moments(ring_grid_synthesis(alm, L, ntheta, nphi, nthreads=nthreads), weights)
    return np.array(out)


def map_features(shear: np.ndarray, *, nthreads: int = 1) -> dict[str, np.ndarray]:
    """{"cl_ee": (L,), "cl_bb": (L,), "moments": (len(MOMENTS),)} of one (2, L, 2L - 1) shear map."""
    L = shear.shape[1]
    eb = shear_eb(shear, nthreads=nthreads)
    cl_ee, cl_bb = shear_spectra(eb, L)
    return {"cl_ee": cl_ee, "cl_bb": cl_bb, "moments": convergence_moments(eb, L, nthreads=nthreads)}


def feature_table(paths: list[str | Path], *, nthreads: int = 1) -> dict[str, np.ndarray]:
    """``map_features`` of every shear file in `paths`, stacked: {"cl_ee": (n, L), "cl_bb": (n, L),
    "moments": (n, len(MOMENTS))}, rows in the order of `paths` (all files of one bandlimit)."""
    rows = [map_features(read_shear(path), nthreads=nthreads) for path in paths]
    if not rows:
        raise ValueError("feature_table needs at least one file")
    return {key: np.stack([row[key] for row in rows]) for key in rows[0]}
