"""CMB power spectra of the Gaussian vs non-Gaussian experiment, computed exactly
(docs/cmb-experiment.md sections 1-3).

- The shipped table: unlensed LCDM TT C_l (muK^2) for the Planck 2018 best fit (Planck
  Collaboration 2020, A&A 641, A6), computed with CAMB (Lewis, Challinor & Lasenby 2000) by
  ``scripts/make_cl_table.py``.
- The expected spectrum of the local-type non-Gaussian field T = G + f (G^2 - sigma^2) / sigma
  (the pixel-space "local" model, Komatsu & Spergel 2001, Phys. Rev. D 63, 063002). For a
  zero-mean isotropic Gaussian G with correlation function xi(theta) and variance sigma^2 = xi(0),
  Wick's theorem gives <G G'> = xi, <G (G'^2 - sigma^2)> = 0 (an odd moment) and
  <(G^2 - sigma^2)(G'^2 - sigma^2)> = 2 xi^2, so
      <C_l^NG> = C_l + f^2 / sigma^2 * N_l,   N_l = Legendre transform of 2 xi^2,
  for the part of T with l < L. No calibration set of simulated maps is involved (its finite-size
  bias is detectable by a spectrum classifier; docs/cmb-experiment.md section 3).

Legendre transforms (Y_lm orthonormal, mu = cos theta):
    xi(mu) = sum_l (2l+1)/(4 pi) C_l P_l(mu),     C_l = 2 pi int_{-1}^{1} xi(mu) P_l(mu) dmu,
the integral done with Gauss-Legendre quadrature of `product_quadrature_order(L)` nodes, exact in
exact arithmetic for the polynomial xi^2 P_l (degree <= 3L - 3), in float64 otherwise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import roots_legendre

from pipeline.errors import InputError

CL_TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "planck2018_unlensed_tt_cl.txt"
"""The shipped C_l table: columns l, C_l [muK^2] for l = 0..4096 (header: parameters, CAMB version)."""


def product_quadrature_order(L: int) -> int:
    """Fewest Gauss-Legendre nodes that integrate a product of two bandlimit-L functions times a
    third, i.e. a polynomial of degree 3L - 3 in cos(theta): n with 2n - 1 >= 3L - 3.

    This is the order of the Legendre transform of xi^2 to l < L, and the ring count of the grid
    on which (G^2 - sigma^2) is projected exactly onto l < L (``pipeline.cmb.simulation``).
    """
    return (3 * L - 1) // 2


@lru_cache(maxsize=4)
def _read_table(path: str) -> tuple[np.ndarray, str]:
    data = np.loadtxt(path, comments="#", ndmin=2)
    if data.shape[1] != 2 or not np.array_equal(data[:, 0], np.arange(data.shape[0])):
        raise InputError(f"{path}: expected two columns l, C_l with l = 0, 1, 2, ... in order")
    cl = data[:, 1]
    if not np.all(np.isfinite(cl)) or np.any(cl < 0) or np.any(cl[:2] != 0):
        raise InputError(f"{path}: C_l must be finite and >= 0, with C_0 = C_1 = 0")
    cl.flags.writeable = False
    return cl, hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_cl(path: str | Path = CL_TABLE_PATH) -> np.ndarray:
    """C_l [muK^2] for l = 0..lmax from a table file (read-only array, cached per path)."""
    return _read_table(str(path))[0]


def cl_table_sha256(path: str | Path = CL_TABLE_PATH) -> str:
    """sha256 of the table file's bytes (recorded in every simulated map's provenance)."""
    return _read_table(str(path))[1]


def _legendre_rows(L: int, mu: np.ndarray):
    """Yield (l, P_l(mu)) for l = 0..L-1 by the three-term recurrence (stable for |mu| <= 1)."""
    p_prev, p = np.zeros_like(mu), np.ones_like(mu)
    for l in range(L):
        yield l, p
        p_prev, p = p, ((2 * l + 1) * mu * p - l * p_prev) / (l + 1)


def correlation_function(cl: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """xi(mu) = sum_{l < len(cl)} (2l+1)/(4 pi) C_l P_l(mu)."""
    xi = np.zeros_like(mu, dtype=np.float64)
    for l, p in _legendre_rows(len(cl), mu):
        xi += (2 * l + 1) / (4 * np.pi) * cl[l] * p
    return xi


def legendre_spectrum(values: np.ndarray, mu: np.ndarray, weights: np.ndarray, L: int) -> np.ndarray:
    """C_l = 2 pi sum_i w_i X(mu_i) P_l(mu_i) for l < L: the spectrum of an isotropic field whose
    correlation function X is sampled at quadrature nodes mu with weights w."""
    wx = 2 * np.pi * weights * values
    out = np.empty(L)
    for l, p in _legendre_rows(L, mu):
        out[l] = wx @ p
    return out


def field_variance(cl: np.ndarray) -> float:
    """sigma^2 = xi(0) = sum_l (2l+1)/(4 pi) C_l: the pixel variance of a Gaussian field."""
    return float(np.sum((2 * np.arange(len(cl)) + 1) * cl) / (4 * np.pi))


def squared_field_spectrum(cl: np.ndarray) -> np.ndarray:
    """N_l, l < L = len(cl): spectrum of G^2 - sigma^2 projected onto l < L, for a Gaussian G of
    spectrum cl; the Legendre transform of 2 xi^2, exact with ``product_quadrature_order(L)`` nodes."""
    L = len(cl)
    mu, weights = roots_legendre(product_quadrature_order(L))
    xi = correlation_function(cl, mu)
    return legendre_spectrum(2 * xi**2, mu, weights, L)


@dataclass(frozen=True, eq=False)
class CMBSpectra:
    """The spectra that define the experiment at bandlimit L (arrays of length L, read-only).

    cl: C_l of both classes; sigma2: pixel variance of the Gaussian field G;
    squared: N_l, the spectrum of G^2 - sigma^2 on l < L; table_sha256: provenance of cl.
    """

    L: int
    cl: np.ndarray
    sigma2: float
    squared: np.ndarray
    table_sha256: str

    def nongaussian_cl(self, f: float) -> np.ndarray:
        """<C_l^NG> = C_l + f^2 / sigma^2 N_l: expected spectrum of T = G + f (G^2 - sigma^2)/sigma, l < L."""
        return self.cl + f * f / self.sigma2 * self.squared

    def nongaussian_filter(self, f: float) -> np.ndarray:
        """sqrt(C_l / <C_l^NG>): the harmonic filter that gives T the spectrum C_l (0 where C_l = 0)."""
        ng = self.nongaussian_cl(f)
        return np.sqrt(np.divide(self.cl, ng, out=np.zeros(self.L), where=self.cl > 0))


@lru_cache(maxsize=16)
def _spectra(L: int, path: str) -> CMBSpectra:
    cl_all = load_cl(path)
    if not 2 <= L <= len(cl_all):
        raise InputError(f"L = {L} is outside what the C_l table {path} supports: allowed 2 <= L <= {len(cl_all)}")
    cl = cl_all[:L].copy()
    squared = squared_field_spectrum(cl)
    for a in (cl, squared):
        a.flags.writeable = False
    return CMBSpectra(L, cl, field_variance(cl), squared, cl_table_sha256(path))


def cmb_spectra(L: int, table: str | Path = CL_TABLE_PATH) -> CMBSpectra:
    """The experiment's spectra at bandlimit L from a C_l table (cached on (L, table path))."""
    return _spectra(int(L), str(table))
