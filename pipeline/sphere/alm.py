"""Spherical harmonic coefficient layouts.

Complex layout (ducc0 / healpy): a_lm for 0 <= m <= l < L, m-major, index m*(2L-1-m)/2 + l;
orthonormal Y_lm, real signals (a_l,-m = (-1)^m conj(a_lm)).

Real layout (what caches and the downstream network use): L**2 real numbers, degree-major,
index l*l + l + m for -l <= m <= l, coefficients of the orthonormal real harmonics
    r_l0 = a_l0,   r_lm = sqrt(2) Re a_lm,   r_l,-m = -sqrt(2) Im a_lm   (m > 0),
so that ||f||^2 = sum r^2 (Parseval) and each degree l is one (2l+1)-vector fragment that a
rotation mixes within itself (Cobb et al. 2021).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def n_alm(L: int) -> int:
    """Number of complex coefficients (m >= 0) of a bandlimit-L real signal."""
    return L * (L + 1) // 2


@lru_cache(maxsize=64)
def _lm_of_index(L: int) -> tuple[np.ndarray, np.ndarray]:
    m = np.concatenate([np.full(L - mm, mm) for mm in range(L)])
    l = np.concatenate([np.arange(mm, L) for mm in range(L)])
    m.flags.writeable = l.flags.writeable = False
    return l, m


def l_of_index(L: int) -> np.ndarray:
    """Degree l of every complex-layout index (read-only)."""
    return _lm_of_index(L)[0]


def m_of_index(L: int) -> np.ndarray:
    """Order m of every complex-layout index (read-only)."""
    return _lm_of_index(L)[1]


def alm_index(L: int, l, m):
    """Complex-layout index of (l, m), m >= 0."""
    return m * (2 * L - 1 - m) // 2 + l


@lru_cache(maxsize=64)
def _truncation_index(L_from: int, L_to: int) -> np.ndarray:
    l, m = _lm_of_index(L_to)
    idx = alm_index(L_from, l, m)
    idx.flags.writeable = False
    return idx


def truncate(alm: np.ndarray, L_from: int, L_to: int) -> np.ndarray:
    """Coefficients with l < L_to of bandlimit-L_from coefficients (last axis); L_to <= L_from."""
    if L_to > L_from:
        raise ValueError(f"cannot truncate from L = {L_from} up to L = {L_to}")
    if L_to == L_from:
        return alm
    return alm[..., _truncation_index(L_from, L_to)]


def pad(alm: np.ndarray, L_from: int, L_to: int) -> np.ndarray:
    """Bandlimit-L_from coefficients (last axis) embedded in bandlimit L_to >= L_from, zeros above."""
    out = np.zeros(alm.shape[:-1] + (n_alm(L_to),), dtype=alm.dtype)
    out[..., _truncation_index(L_to, L_from)] = alm
    return out


def apply_l_filter(alm: np.ndarray, L: int, filt: np.ndarray, L_out: int | None = None) -> np.ndarray:
    """Harmonic multiplier: out_lm = filt[l] * alm_lm, keeping l < L_out (default L)."""
    L_out = L if L_out is None else L_out
    out = truncate(alm, L, L_out)
    return out * filt[l_of_index(L_out)]


@lru_cache(maxsize=64)
def _real_layout_maps(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    l, m = _lm_of_index(L)
    pos = l * l + l + m  # real index of +m (and of m = 0)
    neg = l * l + l - m  # real index of -m
    mpos = m > 0
    for a in (pos, neg, mpos):
        a.flags.writeable = False
    return pos, neg, mpos


def complex_to_real(alm: np.ndarray, L: int) -> np.ndarray:
    """Complex layout (..., L(L+1)/2) -> real layout (..., L**2); see module docstring."""
    pos, neg, mpos = _real_layout_maps(L)
    out = np.empty(alm.shape[:-1] + (L * L,), dtype=alm.real.dtype)
    scale = np.where(mpos, np.sqrt(2.0), 1.0)
    out[..., pos] = alm.real * scale
    out[..., neg[mpos]] = -np.sqrt(2.0) * alm.imag[..., mpos]
    return out


def real_to_complex(r: np.ndarray, L: int) -> np.ndarray:
    """Real layout (..., L**2) -> complex layout (..., L(L+1)/2); inverse of complex_to_real."""
    pos, neg, mpos = _real_layout_maps(L)
    dtype = np.result_type(r.dtype, np.complex64)
    out = np.zeros(r.shape[:-1] + (n_alm(L),), dtype=dtype)
    scale = np.where(mpos, 1.0 / np.sqrt(2.0), 1.0)
    out.real = r[..., pos] * scale
    out.imag[..., mpos] = -r[..., neg[mpos]] / np.sqrt(2.0)
    return out


def power_spectrum(alm: np.ndarray, L: int) -> np.ndarray:
    """C_l = sum_m |a_lm|^2 / (2l+1) over -l <= m <= l, for complex-layout input (..., n_alm)."""
    l, m = _lm_of_index(L)
    power = (np.abs(alm) ** 2 * np.where(m > 0, 2.0, 1.0)).reshape(-1, alm.shape[-1])
    out = np.stack([np.bincount(l, weights=row, minlength=L) for row in power])
    return out.reshape(alm.shape[:-1] + (L,)) / (2 * np.arange(L) + 1)


def squared_norm(alm: np.ndarray, L: int) -> np.ndarray:
    """||f||^2 = integral of f^2 over the sphere, from complex-layout coefficients (..., n_alm)."""
    weight = np.where(m_of_index(L) > 0, 2.0, 1.0)
    return np.sum(np.abs(alm) ** 2 * weight, axis=-1)


def real_power_spectrum(r: np.ndarray, L: int) -> np.ndarray:
    """C_l = sum_m r_lm^2 / (2l+1) from real-layout coefficients (..., L**2) -> (..., L)."""
    starts = np.arange(L) ** 2
    return np.add.reduceat(r**2, starts, axis=-1) / (2 * np.arange(L) + 1)
