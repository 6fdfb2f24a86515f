"""Harmonic <-> Gauss-Legendre grid transforms and the pointwise nonlinearity between them.

The nonlinearity of the generalized spherical CNN of Cobb et al. (ICLR 2021, arXiv:2010.11661),
as used downstream of the scattering layer by McEwen, Wallis & Mavor-Parker (ICLR 2022,
arXiv:2102.02828): synthesise each channel on a sampling grid, apply a pointwise activation,
analyse back by exact quadrature. Synthesis and analysis commute with rotations, the pointwise
activation commutes with rotations of the sphere, but the activation's output is not bandlimited,
so its quadrature aliases: the layer is approximately equivariant, more so on finer grids
(``oversampling``). Rotations about the z-axis by multiples of the grid's longitude step are rolls
of the grid and stay exact.

Tables come from :mod:`downstream.nn.sh_tables` (float64) and are registered as non-persistent
buffers: they move with the module but are never written to checkpoints.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from downstream.nn.sh_tables import fourier_table, gl_nodes, grid_shape, legendre_table, padded_column

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "softplus": nn.Softplus, "tanh": nn.Tanh}


def _table(array) -> torch.Tensor:
    return torch.from_numpy(array).to(torch.float64)


class ToS2Grid(nn.Module):
    """Synthesis: real-layout coefficients (..., L**2) -> samples (..., ntheta, nphi) on the
    Gauss-Legendre grid of bandlimit ``L_grid``."""

    def __init__(self, L: int, L_grid: int):
        super().__init__()
        self.L, self.L_grid = L, L_grid
        ntheta, nphi = grid_shape(L_grid)
        self.register_buffer("legendre", _table(legendre_table(L, ntheta)), persistent=False)
        self.register_buffer("fourier", _table(fourier_table(L, nphi)), persistent=False)
        self.register_buffer("column", torch.from_numpy(padded_column(L)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = self.L
        padded = x.new_zeros(x.shape[:-1] + (L * (2 * L - 1),))
        padded[..., self.column] = x
        padded = padded.unflatten(-1, (L, 2 * L - 1))
        rings = torch.einsum("...lm,klm->...km", padded, self.legendre.to(x.dtype))
        return rings @ self.fourier.to(x.dtype)

    def extra_repr(self) -> str:
        return f"L={self.L}, L_grid={self.L_grid}, grid={grid_shape(self.L_grid)}"


class FromS2Grid(nn.Module):
    """Analysis by Gauss-Legendre quadrature: samples (..., ntheta, nphi) on the grid of bandlimit
    ``L_grid`` -> real-layout coefficients (..., L**2). Exact for signals of bandlimit
    <= 2 L_grid - L; for other signals it is the quadrature sum (aliasing included)."""

    def __init__(self, L: int, L_grid: int):
        super().__init__()
        self.L, self.L_grid = L, L_grid
        ntheta, nphi = grid_shape(L_grid)
        _, weights = gl_nodes(ntheta)
        weighted = legendre_table(L, ntheta) * weights[:, None, None]
        self.register_buffer("legendre", _table(weighted), persistent=False)
        fourier = fourier_table(L, nphi).T * (2.0 * math.pi / nphi)
        self.register_buffer("fourier", _table(fourier), persistent=False)
        self.register_buffer("column", torch.from_numpy(padded_column(L)), persistent=False)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        rings = f @ self.fourier.to(f.dtype)
        padded = torch.einsum("...km,klm->...lm", rings, self.legendre.to(f.dtype))
        return padded.flatten(-2)[..., self.column]

    def extra_repr(self) -> str:
        return f"L={self.L}, L_grid={self.L_grid}, grid={grid_shape(self.L_grid)}"


class S2Activation(nn.Module):
    """Pointwise activation on the sphere: bandlimit-L_in coefficients (..., L_in**2) ->
    synthesis on a Gauss-Legendre grid of bandlimit ceil(oversampling * L_in) -> activation ->
    analysis to bandlimit L_out (..., L_out**2). Approximately rotation-equivariant (see module
    docstring; measured in tests/downstream/test_downstream_layers.py and test_downstream_equivariance.py)."""

    def __init__(self, L_in: int, L_out: int, oversampling: float = 2.0, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if not 1 <= L_out <= L_in or oversampling < 1:
            raise ValueError(f"need 1 <= L_out <= L_in and oversampling >= 1; got {L_in}, {L_out}, {oversampling}")
        self.L_in, self.L_out, self.oversampling, self.activation = L_in, L_out, oversampling, activation
        L_grid = math.ceil(oversampling * L_in)
        self.to_grid = ToS2Grid(L_in, L_grid)
        self.act = ACTIVATIONS[activation]()
        self.from_grid = FromS2Grid(L_out, L_grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_grid(self.act(self.to_grid(x)))

    def extra_repr(self) -> str:
        return f"L_in={self.L_in}, L_out={self.L_out}, oversampling={self.oversampling}"
