"""Measured equivariance of torch modules on real-layout harmonic signals (docs/equivariance.md
section 5).

Rotations are applied exactly in harmonic space (Wigner-D matrices via ``ducc0.sht.rotate_alm``,
:func:`pipeline.sphere.rotations.rotate_real`), in float64. The measured quantity is
||F(R x) - R F(x)|| / ||F(x)||, the form used by McEwen, Wallis & Mavor-Parker (ICLR 2022) and
Cobb et al. (ICLR 2021, arXiv:2010.11661) to report equivariance of spherical CNNs.
"""

from __future__ import annotations

from typing import Callable

import torch

from pipeline.sphere.rotations import rotate_real

EulerAngles = tuple[float, float, float]
SignalMap = Callable[[torch.Tensor], torch.Tensor]


def rotate_tensor(x: torch.Tensor, L: int, angles: EulerAngles) -> torch.Tensor:
    """Rotate real-layout coefficients (..., L**2) of a tensor (any device and float dtype;
    computed in float64) by ZYZ Euler angles."""
    rotated = rotate_real(x.detach().cpu().double().numpy(), L, angles)
    return torch.from_numpy(rotated).to(device=x.device, dtype=x.dtype)


def equivariance_error(fn: SignalMap, x: torch.Tensor, L_in: int, L_out: int, angles: EulerAngles) -> float:
    """||fn(R x) - R fn(x)|| / ||fn(x)|| for a map between real-layout signals of bandlimits
    L_in -> L_out (last axis)."""
    with torch.no_grad():
        out = fn(x)
        diff = fn(rotate_tensor(x, L_in, angles)) - rotate_tensor(out, L_out, angles)
    return float(diff.norm() / out.norm())


def invariance_error(fn: SignalMap, x: torch.Tensor, L_in: int, angles: EulerAngles) -> float:
    """||fn(R x) - fn(x)|| / ||fn(x)||."""
    with torch.no_grad():
        out = fn(x)
        diff = fn(rotate_tensor(x, L_in, angles)) - out
    return float(diff.norm() / out.norm())
