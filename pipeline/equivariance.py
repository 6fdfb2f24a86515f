"""Measuring rotation equivariance (science.md section 7).

Rotations act exactly in harmonic space (Wigner-D matrices, ``ducc0.sht.rotate_alm``), so the
error of a transform S under a rotation R is ||S(Rf) - R S(f)|| / ||S(f)||, reported per depth.
"""

from __future__ import annotations

import math

import ducc0
import numpy as np

from pipeline.alm import complex_to_real, real_to_complex


def random_rotation(rng: np.random.Generator) -> tuple[float, float, float]:
    """Euler angles (psi, theta, phi), ZYZ, uniformly distributed on SO(3) (Haar measure)."""
    return (rng.uniform(0, 2 * math.pi), math.acos(rng.uniform(-1.0, 1.0)), rng.uniform(0, 2 * math.pi))


def rotate_alm(alm: np.ndarray, L: int, angles: tuple[float, float, float], nthreads: int = 1) -> np.ndarray:
    """Rotate complex-layout coefficients (..., n_alm(L)) of bandlimit L by ZYZ Euler angles."""
    psi, theta, phi = angles
    flat = np.ascontiguousarray(alm, dtype=np.complex128).reshape(-1, alm.shape[-1])
    out = np.stack([ducc0.sht.rotate_alm(a, L - 1, psi, theta, phi, nthreads) for a in flat])
    return out.reshape(alm.shape)


def rotate_real(r: np.ndarray, L: int, angles: tuple[float, float, float]) -> np.ndarray:
    """Rotate real-layout coefficients (..., L**2) of bandlimit L."""
    return complex_to_real(rotate_alm(real_to_complex(r, L), L, angles), L)


def relative_error_by_depth(
    actual: np.ndarray, expected: np.ndarray, paths: tuple[tuple[int, ...], ...]
) -> dict[int, float]:
    """||actual - expected|| / ||expected|| over the paths of each depth; arrays (..., n_paths, n)."""
    depths = np.array([len(p) for p in paths])
    out = {}
    for d in sorted(set(depths.tolist())):
        sel = depths == d
        out[d] = float(np.linalg.norm(actual[..., sel, :] - expected[..., sel, :]) / np.linalg.norm(expected[..., sel, :]))
    return out


def scattering_equivariance_error(transform, alm: np.ndarray, angles) -> dict[int, float]:
    """||S(Rf) - R S(f)|| / ||S(f)|| per depth for one map's coefficients and one rotation."""
    L, L0 = transform.config.L, transform.config.L0
    S_f = transform.from_alm(alm).coefficients
    S_Rf = transform.from_alm(rotate_alm(alm, L, angles)).coefficients
    return relative_error_by_depth(S_Rf, rotate_real(S_f, L0, angles), transform.paths)
