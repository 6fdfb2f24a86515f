"""Rotation-equivariant linear layer in harmonic space (Cobb et al., ICLR 2021, arXiv:2010.11661).

Features are real-layout coefficients (..., C, L**2): each degree l is a (2l+1)-vector fragment
that a rotation R multiplies by the real Wigner matrix D^l(R). A map that mixes channels with one
C_out x C_in matrix W_l per degree, shared over m, commutes with every D^l:

    y[o, l, m] = sum_c W_l[o, c] x[c, l, m]  (+ b[o] for l = 0, where D^0 = 1),

so the layer is exactly equivariant (up to floating-point rounding). This is the learnable step of
the spherical CNN trained on scattering caches (McEwen, Wallis & Mavor-Parker, ICLR 2022).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class HarmonicLinear(nn.Module):
    """Per-degree channel mixing (..., C_in, L**2) -> (..., C_out, L**2), weights shared over m,
    bias on the invariant l = 0 component only."""

    def __init__(self, in_channels: int, out_channels: int, L: int, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels, self.L = in_channels, out_channels, L
        self.weight = nn.Parameter(torch.randn(L, out_channels, in_channels) * math.sqrt(2.0 / in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fragments = [self.weight[l] @ x[..., l * l : (l + 1) ** 2] for l in range(self.L)]
        if self.bias is not None:
            fragments[0] = fragments[0] + self.bias[:, None]
        return torch.cat(fragments, dim=-1)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, L={self.L}, bias={self.bias is not None}"
