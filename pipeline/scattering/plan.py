"""The pure planner of the scattering transform: which channels, at which bandlimits, on which
grids (docs/scattering.md sections 2, 5 and 7). The executor (``pipeline.scattering.transform``)
only follows the plan, so the channel list can never drift from what is computed.

Nodes of the scattering tree: U[()] f = f, U[p + (j,)] f = |W[p + (j,)]| with the wavelet
coefficient W[p + (j,)] = U[p] f * Psi^j, frequency-decreasing paths (each next scale below the
last). Output channels, each a bandlimit-L0 signal, in this order:

- "modulus" S[p] = U[p] * Phi for every node, depth-first (McEwen, Wallis & Mavor-Parker 2022, eq. 8-10);
- "signed_square" (w_j |W[(j,)]|) * Phi for every scale j;
- "cross" (w_j W[p]) * Phi for every node p of depth >= 2 with last scale j: the map's wavelet
  coefficient at scale j times that of the envelope U[p[:-1]] (a local scattering covariance,
  Cheng & Menard 2021; Morel et al. 2023);

where w_j = W[(j,)] / sigma_j is the map's wavelet coefficient in units of its own rms over the
sphere, sigma_j^2 = ||W[(j,)]||^2 / (4 pi) (rotation invariant, computed from the coefficients),
so that every channel is homogeneous of degree 1 in the map like the modulus paths.

A spin-2 input (``spin=2``: the E and B coefficients of Q + iU, docs/scattering.md section 8) has
the same tree: its wavelet coefficients W[(j,)] are spin-2 fields Q_j + iU_j and U[(j,)] =
|Q_j + iU_j| (the polarised intensity at scale j, a spin-0 signal), from which the tree goes on as
for a scalar map. Its depth-0 channels are E * Phi and B * Phi (component 0 and 1 of the root);
the odd kinds, products of a scalar field's own W, are not made for it.

Every W with last scale j has bandlimit L_j and is synthesised on one Gauss-Legendre grid per
scale, so each grid pass makes every pointwise product of that scale from one synthesis per W.
Passes run from the largest scale down: a node's parent always has a larger last scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import ducc0

from pipeline.scattering.config import ScatteringConfig

MODULUS = "modulus"
KINDS = (MODULUS, "signed_square", "cross")


@dataclass(frozen=True)
class PathNode:
    """One node of the scattering tree, in depth-first order.

    path: the scales (j1, ..., jk); () is the input itself.
    parent: index of the parent node in the plan (-1 for the root).
    L_wavelet: bandlimit of W = U[parent] * Psi^j (the input bandlimit L for the root).
    grid: (ntheta, nphi) of the Gauss-Legendre grid on which W is sampled ((0, 0) for the root).
    L_out: bandlimit to which U[path] is kept (the largest its children or the low-pass need).
    n_children: number of child nodes.
    """

    path: tuple[int, ...]
    parent: int
    L_wavelet: int
    grid: tuple[int, int]
    L_out: int
    n_children: int


@dataclass(frozen=True)
class Channel:
    """One output signal: its kind, its scales (those of its node) and the node(s) it is made of.

    factors: node indices whose W are multiplied pointwise ((node,) for the modulus; (j, j) for
    the signed square, whose second factor enters as |W|; (j, node) for the cross channel); the
    first factor of an odd channel is divided by its rms sigma_j.
    component: for the root channel of a spin-2 input, 0 (E * Phi) or 1 (B * Phi); else 0.
    """

    kind: str
    path: tuple[int, ...]
    factors: tuple[int, ...]
    component: int = 0


@dataclass(frozen=True)
class GridPass:
    """All the nodes whose W live on one grid (last scale j), and the odd channels made there."""

    scale: int
    L_wavelet: int
    grid: tuple[int, int]
    nodes: tuple[int, ...]
    odd_channels: tuple[int, ...]


@dataclass(frozen=True)
class ScatteringPlan:
    nodes: tuple[PathNode, ...]
    channels: tuple[Channel, ...]
    passes: tuple[GridPass, ...]
    spin: int = 0

    @property
    def paths(self) -> tuple[tuple[int, ...], ...]:
        return tuple(c.path for c in self.channels)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(c.kind for c in self.channels)


def modulus_grid(L_wavelet: int, oversampling: float) -> tuple[int, int]:
    """Gauss-Legendre grid for the modulus of a bandlimit-L_wavelet signal."""
    ntheta = max(L_wavelet, math.ceil(oversampling * L_wavelet))
    return ntheta, ducc0.fft.good_size(2 * ntheta - 1)


def _child_scales(config: ScatteringConfig, path: tuple[int, ...]) -> range:
    """Frequency-decreasing rule: the next scale is below the last one (any scale for the root)."""
    if len(path) == config.depth:
        return range(0)
    upper = path[-1] if path else config.J + 1
    return range(config.J0, upper)


def _tree(config: ScatteringConfig) -> tuple[PathNode, ...]:
    nodes: list[PathNode] = []

    def visit(path: tuple[int, ...], parent: int) -> None:
        children = _child_scales(config, path)
        if path:
            L_wavelet = config.wavelet_bandlimit(path[-1])
            grid = modulus_grid(L_wavelet, config.oversampling)
        else:
            L_wavelet, grid = config.L, (0, 0)
        L_out = max(config.wavelet_bandlimit(j) for j in children) if children else config.L0
        index = len(nodes)
        nodes.append(PathNode(path, parent, L_wavelet, grid, max(L_out, config.L0), len(children)))
        for j in children:
            visit(path + (j,), index)

    visit((), -1)
    return tuple(nodes)


SPINS = (0, 2)


@lru_cache(maxsize=32)
def scattering_plan(config: ScatteringConfig, spin: int = 0) -> ScatteringPlan:
    """The nodes, the output channels (in output order) and the grid passes (in execution order)
    for a spin-0 map or (spin=2) the E and B coefficients of a spin-2 field."""
    if spin not in SPINS:
        raise ValueError(f"spin must be one of {SPINS}, got {spin!r}")
    nodes = _tree(config)
    index_of = {node.path: i for i, node in enumerate(nodes)}
    channels = [Channel(MODULUS, node.path, (i,)) for i, node in enumerate(nodes)]
    if spin == 2:
        channels.insert(1, Channel(MODULUS, (), (0,), component=1))
    if "signed_square" in config.odd and spin == 0:
        channels += [Channel("signed_square", node.path, (i, i)) for i, node in enumerate(nodes) if len(node.path) == 1]
    if "cross" in config.odd and spin == 0:
        channels += [Channel("cross", node.path, (index_of[node.path[-1:]], i)) for i, node in enumerate(nodes)
                     if len(node.path) >= 2]
    passes = []
    for j in range(config.J, config.J0 - 1, -1):
        members = tuple(i for i, node in enumerate(nodes) if node.path[-1:] == (j,))
        if members:
            odd = tuple(c for c, channel in enumerate(channels) if channel.kind != MODULUS and channel.factors[-1] in members)
            passes.append(GridPass(j, nodes[members[0]].L_wavelet, nodes[members[0]].grid, members, odd))
    return ScatteringPlan(nodes, tuple(channels), tuple(passes), spin)


def cost_in_sht_pairs(config: ScatteringConfig) -> float:
    """Modelled cost of scattering one map (input analysis included) in units of one forward +
    inverse SHT pair at L on its native grid: a transform's Legendre work is taken as
    (rings) x (bandlimit)^2, which is how ducc0's cost scales (docs/scattering.md section 5).
    Odd channels add one analysis to L0 each on their grid; their real cost, the ring FFTs and
    grid-sized products that this model does not count, is measured by benchmarks/bench_sign_aware.py."""
    L = config.L
    plan = scattering_plan(config)
    work = L * L**2  # analysis of the input map
    for node in plan.nodes[1:]:
        ntheta = node.grid[0]
        work += ntheta * node.L_wavelet**2 + ntheta * node.L_out**2
    for channel in plan.channels:
        if channel.kind != MODULUS:
            work += plan.nodes[channel.factors[-1]].grid[0] * config.L0**2
    return work / (2 * L * L**2)
