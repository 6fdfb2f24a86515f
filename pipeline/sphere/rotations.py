"""Exact rotations of harmonic coefficients (Wigner-D matrices, ``ducc0.sht.rotate_alm``) and
Haar-random rotations: what equivariance is measured with (docs/equivariance.md section 1).
"""

from __future__ import annotations

import math

import ducc0
import numpy as np

from pipeline.sphere.alm import complex_to_real, real_to_complex


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
