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

from downstream.nn.s2_grid import FromS2Grid, ToS2Grid
from downstream.nn.sh_tables import degree_of_column, grid_shape


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
    spectrum log(C_l + eps) for l = 1 .. L-1 (C_0 would repeat the mean). Exactly invariant.

    masked: the same over a region of the sphere only (docs/masks.md section 4): the signal is
    sampled on the Gauss-Legendre grid of bandlimit 2L and multiplied by the region's indicator (the
    buffer ``region``, all ones until ``set_region``; saved with the model): the mean over the
    region, and the power of the fluctuation about it times the indicator divided by the region's
    sky fraction. Invariant only under the rotations that keep the region. With `channels`, the
    buffer holds one region per channel (C, ntheta, nphi): each channel pooled over its own (the
    invariant MLP on a masked cache: each channel's own valid region). A batch of regions
    (B, ntheta, nphi), or (B, C, ntheta, nphi) one per channel, passed with the signals (B, C, L**2)
    replaces the buffer, item by item (the
    valid regions of a cache with per-map masks; with `per_item` they are required)."""

    def __init__(self, L: int, eps: float = 1e-6, masked: bool = False, channels: int | None = None, per_item: bool = False):
        super().__init__()
        self.L, self.eps, self.masked, self.per_item = L, eps, masked, per_item
        if masked:
            self.to_grid, self.from_grid = ToS2Grid(L, 2 * L), FromS2Grid(L, 2 * L)
            shape = grid_shape(2 * L) if channels is None else (channels, *grid_shape(2 * L))
            self.register_buffer("region", torch.ones(shape, dtype=torch.float64))

    def set_region(self, region: torch.Tensor) -> None:
        """The indicator (or weights) of the region, sampled on the Gauss-Legendre grid of bandlimit 2L
        (with one region per channel: (C, ntheta, nphi), or one grid for every channel)."""
        if region.shape != self.region.shape[-region.dim():] or region.dim() > self.region.dim():
            raise ValueError(f"the region must be sampled on a {tuple(self.region.shape)} grid, got {tuple(region.shape)}")
        self.region.copy_(region.expand_as(self.region))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Checkpoints written before per-channel regions hold one grid: it applies to every channel."""
        key = prefix + "region"
        if self.masked and key in state_dict and state_dict[key].dim() < self.region.dim():
            state_dict[key] = state_dict[key].expand_as(self.region).clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def n_features(self, channels: int) -> int:
        return channels * self.L

    def forward(self, x: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
        if not self.masked:
            mean = x[..., :1] / math.sqrt(4.0 * math.pi)
            return torch.cat([mean, torch.log(degree_power(x, self.L)[..., 1:] + self.eps)], dim=-1).flatten(-2)
        if region is None and self.per_item:
            raise ValueError("this model pools each item over its own valid region (per-map masks): pass the batch of regions")
        if region is None:
            region = self.region.to(x.dtype)
        else:  # one region per item, for all its channels (B, ntheta, nphi) or per channel (B, C, ntheta, nphi)
            region = region.to(x.dtype)[:, None] if region.dim() == 3 else region.to(x.dtype)
        samples = self.to_grid(x)
        area = self.from_grid(region)[..., :1] * math.sqrt(4.0 * math.pi)  # integral of the region
        mean = self.from_grid(samples * region)[..., :1] * math.sqrt(4.0 * math.pi) / area
        fluctuation = self.from_grid((samples - mean[..., None]) * region)  # pseudo-C_l / f_R: not decoupled (docs/masks.md section 4)
        log_power = torch.log(degree_power(fluctuation, self.L)[..., 1:] * (4.0 * math.pi) / area + self.eps)
        return torch.cat([mean, log_power], dim=-1).flatten(-2)

    def extra_repr(self) -> str:
        return f"L={self.L}, eps={self.eps:g}" + (", masked" if self.masked else "")
