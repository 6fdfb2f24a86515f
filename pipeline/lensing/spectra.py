"""Power spectra of the Gaussian vs lognormal weak-lensing experiment (docs/lensing-experiment.md
section 1), computed exactly.

The lognormal convergence (Coles & Jones 1991; Hilbert, Hartlap & Schneider 2011, A&A 536, A85;
Xavier, Abdalla & Joachimi 2016, MNRAS 459, 3693) is
    kappa = lambda (exp(g - sigma_g^2 / 2) - 1),
with g a zero-mean isotropic Gaussian field of spectrum C_l^g, variance sigma_g^2 = xi_g(0), and the
shift parameter lambda > 0 (kappa >= -lambda). For any two directions
    <kappa kappa'> = lambda^2 (exp(xi_g(theta)) - 1),
so C_l^kappa is the Legendre transform of lambda^2 (exp(xi_g) - 1). The Gaussian class is drawn with
exactly this C_l^kappa on 2 <= l < L, so both classes have the same expected spectrum there.

C_l^g is a power law with an exponential cut-off, C_l^g = A l^(-n) exp(-l / l_cut) for l >= 2
(0 for l < 2), a smooth stand-in for the shape of a weak-lensing convergence spectrum below its
turnover; g is bandlimited to L.

Legendre transforms (``pipeline.cmb.spectra``): xi(mu) = sum_l (2l+1)/(4 pi) C_l P_l(mu),
C_l = 2 pi int xi P_l dmu, here with 4L Gauss-Legendre nodes: xi_g has degree L - 1 in mu, so the
integral of the term xi_g^k P_l (degree (k+1)(L-1) <= 8L - 1) is exact for k <= 7; the
remainder is below the rounding of the sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import roots_legendre

from pipeline.cmb.spectra import correlation_function, field_variance, legendre_spectrum
from pipeline.errors import InputError


def transform_quadrature_order(L: int) -> int:
    """Gauss-Legendre nodes of the Legendre transform of exp(xi_g) - 1 to l < L: 4L."""
    return 4 * L


@dataclass(frozen=True)
class LognormalModel:
    """The convergence model: C_l^g = amplitude l^(-slope) exp(-l / l_cut) for l >= 2, and the
    lognormal shift parameter `shift` (lambda). The defaults are the experiment's (docs/lensing-experiment.md)."""

    amplitude: float = 0.005
    slope: float = 1.0
    l_cut: float = 128.0
    shift: float = 0.05

    def __post_init__(self) -> None:
        for name in ("amplitude", "slope", "l_cut", "shift"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise InputError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("amplitude", "l_cut", "shift"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)!r}")

    def gaussian_cl(self, L: int) -> np.ndarray:
        """C_l^g for l < L (0 for l < 2)."""
        ell = np.arange(L, dtype=np.float64)
        out = np.zeros(L)
        out[2:] = self.amplitude * ell[2:] ** -self.slope * np.exp(-ell[2:] / self.l_cut)
        return out


def lognormal_cl(cl_g: np.ndarray, shift: float) -> np.ndarray:
    """C_l, l < L = len(cl_g), of kappa = shift (exp(g - sigma_g^2/2) - 1) for a Gaussian g of
    spectrum cl_g: the Legendre transform of shift^2 (exp(xi_g) - 1), all l (including l < 2)."""
    L = len(cl_g)
    mu, weights = roots_legendre(transform_quadrature_order(L))
    return legendre_spectrum(shift**2 * np.expm1(correlation_function(cl_g, mu)), mu, weights, L)


def lognormal_skewness(sigma_g2: float) -> float:
    """Pixel skewness of a lognormal field with Gaussian variance sigma_g^2, for all l (any shift):
    (exp(sigma_g^2) + 2) sqrt(exp(sigma_g^2) - 1)."""
    e = math.exp(sigma_g2)
    return (e + 2.0) * math.sqrt(e - 1.0)


@dataclass(frozen=True, eq=False)
class LensingSpectra:
    """The spectra that define the experiment at bandlimit L (arrays of length L, read-only).

    cl_g: C_l^g of the Gaussian field g; cl_kappa: C_l^kappa of both classes (0 for l < 2, where
    the maps carry nothing); shift: lambda; sigma_g2: the ensemble variance of g (bandlimit L).
    """

    L: int
    cl_g: np.ndarray
    cl_kappa: np.ndarray
    shift: float
    sigma_g2: float

    @property
    def sigma_kappa2(self) -> float:
        """Ensemble pixel variance of the convergence of either class (2 <= l < L)."""
        return field_variance(self.cl_kappa)


@lru_cache(maxsize=16)
def lensing_spectra(L: int, model: LognormalModel = LognormalModel()) -> LensingSpectra:
    """The experiment's spectra at bandlimit L >= 3 (cached on (L, model))."""
    if not isinstance(L, int) or isinstance(L, bool) or L < 3:
        raise InputError(f"L must be an integer >= 3 (shear needs l >= 2), got {L!r}")
    cl_g = model.gaussian_cl(L)
    cl_kappa = lognormal_cl(cl_g, model.shift)
    cl_kappa[:2] = 0.0
    for a in (cl_g, cl_kappa):
        a.flags.writeable = False
    return LensingSpectra(L, cl_g, cl_kappa, model.shift, field_variance(cl_g))
