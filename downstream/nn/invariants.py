"""Rotation invariants of real-layout spherical signals (cache_format.md, "What the numbers mean").

For a signal with real coefficients r_lm: its mean over the sphere r_00 / sqrt(4 pi) and its
power spectrum C_l = sum_m r_lm^2 / (2l+1) are invariant under every rotation (the Wigner matrices
are orthogonal). These are the degree-0 outputs that the generalized spherical CNN of Cobb et al.
(ICLR 2021, arXiv:2010.11661) feeds to its fully connected head, and the invariants of
McEwen, Wallis & Mavor-Parker (ICLR 2022, arXiv:2102.02828) computed from scattering paths.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from downstream.nn.sh_tables import degree_of_column


@lru_cache(maxsize=32)
def _degree_means(L: int) -> torch.Tensor:
    """(L**2, L) float64: 1 / (2l+1) at [column, l] for the columns of degree l, else 0."""
    degree = degree_of_column(L)
    table = np.zeros((L * L, L))
    table[np.arange(L * L), degree] = 1.0 / (2 * degree + 1)
    return torch.from_numpy(table)


def degree_power(x: torch.Tensor, L: int) -> torch.Tensor:
    """C_l = sum_m x_lm^2 / (2l+1): real layout (..., L**2) -> (..., L)."""
    return (x * x) @ _degree_means(L).to(x)


class RotationInvariants(nn.Module):
    """(..., C, L**2) -> (..., C * L): per channel, the mean r_00 / sqrt(4 pi) and the log power
    spectrum log(C_l + eps) for l = 1 .. L-1 (C_0 would repeat the mean). Exactly invariant."""

    def __init__(self, L: int, eps: float = 1e-6):
        super().__init__()
        self.L, self.eps = L, eps

    def n_features(self, channels: int) -> int:
        return channels * self.L

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x[..., :1] / math.sqrt(4.0 * math.pi)
        log_power = torch.log(degree_power(x, self.L)[..., 1:] + self.eps)
        return torch.cat([mean, log_power], dim=-1).flatten(-2)

    def extra_repr(self) -> str:
        return f"L={self.L}, eps={self.eps:g}"
