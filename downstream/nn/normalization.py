"""Rotation-equivariant input normalisation, fitted on the training split, stored with the model.

Per path p and degree l, one scalar scale s_pl (never one per m: a per-m scale would not commute
with rotations), and one offset mu_p on the invariant l = 0 component only:

    x'_p,lm = (x_p,lm - mu_p [l = 0]) / s_pl,
    mu_p = E[r_p,00],   s_p0 = std(r_p,00),   s_pl = sqrt(E[C_pl]) (l >= 1),

expectations over the training maps. The statistics are persistent buffers of the module, so
checkpoints carry them (McEwen, Wallis & Mavor-Parker, ICLR 2022: scattering path signals have
very different scales; Cobb et al., ICLR 2021, for the per-degree fragment structure).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from downstream.nn.invariants import degree_power
from downstream.nn.sh_tables import degree_of_column


class HarmonicNormalization(nn.Module):
    """(..., P, L**2) -> normalised (..., P, L**2) with buffers `offset` (P,) and `scale` (P, L)."""

    def __init__(self, n_paths: int, L: int):
        super().__init__()
        self.n_paths, self.L = n_paths, L
        self.register_buffer("offset", torch.zeros(n_paths, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_paths, L, dtype=torch.float64))
        self.register_buffer("degree", torch.from_numpy(degree_of_column(L)), persistent=False)

    @torch.no_grad()
    def set_statistics(self, offset: torch.Tensor, scale: torch.Tensor) -> None:
        if offset.shape != self.offset.shape or scale.shape != self.scale.shape:
            raise ValueError(f"expected offset {tuple(self.offset.shape)} and scale {tuple(self.scale.shape)}")
        self.offset.copy_(offset)
        self.scale.copy_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset, scale = self.offset.to(x.dtype), self.scale.to(x.dtype)
        x = torch.cat([x[..., :1] - offset[:, None], x[..., 1:]], dim=-1)
        return x / scale[:, self.degree]

    def extra_repr(self) -> str:
        return f"n_paths={self.n_paths}, L={self.L}"


@torch.no_grad()
def fit_normalization(batches: Iterable[torch.Tensor], L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Streaming (offset, scale) from batches of coefficients (B, P, L**2), accumulated in float64
    (memory independent of the number of maps). Degenerate scales (no signal) are set to 1."""
    count, sum00, sumsq00, power = 0, 0.0, 0.0, 0.0
    for x in batches:
        x = x.to(torch.float64)
        count += x.shape[0]
        sum00 = sum00 + x[..., 0].sum(0)
        sumsq00 = sumsq00 + (x[..., 0] ** 2).sum(0)
        power = power + degree_power(x, L).sum(0)
    if count == 0:
        raise ValueError("cannot fit a normalisation on zero maps")
    offset = sum00 / count
    scale = torch.sqrt(power / count)
    scale[:, 0] = torch.sqrt(torch.clamp(sumsq00 / count - offset**2, min=0.0))
    tiny = torch.finfo(torch.float64).tiny ** 0.5
    return offset, torch.where(scale > tiny, scale, torch.ones_like(scale))
