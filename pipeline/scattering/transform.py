"""Multiresolution spherical wavelet scattering (McEwen, Wallis & Mavor-Parker, ICLR 2022).

    U[()] f = f,   U[p + (j,)] f = |U[p] f * Psi^j|,   S[p] f = U[p] f * Phi      (paper eq. 8-10)

with axisymmetric scale-discretised wavelets Psi^j (``pipeline.scattering.wavelets``), frequency-decreasing
paths (each next scale smaller than the last), depth M. Multiresolution: each wavelet coefficient
W = U[p] f * Psi^j is synthesised at its own bandlimit L_j on a Gauss-Legendre grid oversampled by
``config.oversampling``, the modulus is taken pointwise, and |W| is analysed only up to the
largest bandlimit its children need (L_{j-1}), or L0 at the last layer. Every output S[p] f is a
bandlimit-L0 signal, returned in the real harmonic layout of ``pipeline.sphere.alm``.

The computation is split into a pure planner (``scattering_plan``: which paths, at which
bandlimits, on which grids) and an executor that only follows the plan, so the path list can never
drift from what is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import ducc0
import numpy as np

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.wavelets import filter_bank
from pipeline.sphere.alm import apply_l_filter, complex_to_real, n_alm, real_power_spectrum, truncate
from pipeline.sphere.grids import Grid
from pipeline.sphere.harmonic import HarmonicAnalysis, exact_scale, map_to_alm, modulus_analysis


@dataclass(frozen=True)
class PathNode:
    """One node of the scattering tree, in execution order.

    path: the scales (j1, ..., jk); () is the input itself.
    parent: index of the parent node in the plan (-1 for the root).
    L_wavelet: bandlimit of W = U[parent] * Psi^j (the input bandlimit L for the root).
    grid: (ntheta, nphi) of the Gauss-Legendre grid on which |W| is taken ((0, 0) for the root).
    L_out: bandlimit to which U[path] is kept (the largest its children or the low-pass need).
    n_children: number of child nodes.
    """

    path: tuple[int, ...]
    parent: int
    L_wavelet: int
    grid: tuple[int, int]
    L_out: int
    n_children: int


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


@lru_cache(maxsize=32)
def scattering_plan(config: ScatteringConfig) -> tuple[PathNode, ...]:
    """All nodes of the scattering tree in depth-first execution order (paths in output order)."""
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


def cost_in_sht_pairs(config: ScatteringConfig) -> float:
    """Modelled cost of scattering one map (input analysis included) in units of one forward +
    inverse SHT pair at L on its native grid: a transform's Legendre work is taken as
    (rings) x (bandlimit)^2, which is how ducc0's cost scales (docs/scattering.md section 5)."""
    L = config.L
    work = L * L**2  # analysis of the input map
    for node in scattering_plan(config)[1:]:
        ntheta = node.grid[0]
        work += ntheta * node.L_wavelet**2 + ntheta * node.L_out**2
    return work / (2 * L * L**2)


@dataclass(frozen=True)
class ScatteringResult:
    """Scattering coefficients of a batch of maps.

    coefficients: (..., n_paths, L0**2) float64, real harmonic layout (``pipeline.sphere.alm``).
    analysis: the input analyses (accuracy of HEALPix inputs), flattened over the batch; empty
        when the input was harmonic coefficients.
    """

    config: ScatteringConfig
    paths: tuple[tuple[int, ...], ...]
    coefficients: np.ndarray
    analysis: tuple[HarmonicAnalysis, ...] = ()

    @property
    def means(self) -> np.ndarray:
        """Mean of each S[p] f over the sphere, (..., n_paths): rotation invariant."""
        return self.coefficients[..., 0] / math.sqrt(4 * math.pi)

    @property
    def power_spectra(self) -> np.ndarray:
        """Power spectrum C_l of each S[p] f, (..., n_paths, L0): rotation invariant."""
        return real_power_spectrum(self.coefficients, self.config.L0)


class ScatteringTransform:
    """Fixed spherical scattering layer: build once (filters cached), call on many maps.

    >>> import numpy as np
    >>> st = ScatteringTransform(ScatteringConfig(L=32, J0=3, depth=2))
    >>> len(st.paths), st.paths[:3]
    (7, ((), (3,), (4,)))
    >>> st.from_alm(np.zeros(528, complex)).coefficients.shape
    (7, 64)
    """

    def __init__(self, config: ScatteringConfig, nthreads: int = 1):
        self.config = config
        self.nthreads = int(nthreads)
        self.plan = scattering_plan(config)
        self.filters = filter_bank(config.L, config.lam, config.J0)

    @cached_property
    def paths(self) -> tuple[tuple[int, ...], ...]:
        return tuple(node.path for node in self.plan)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"ScatteringTransform(L={c.L}, lam={c.lam:g}, J0={c.J0}, J={c.J}, depth={c.depth}, "
            f"L0={c.L0}, n_paths={len(self.paths)}, oversampling={c.oversampling:g}, nthreads={self.nthreads})"
        )

    def from_alm(self, alm: np.ndarray, L: int | None = None) -> ScatteringResult:
        """Scatter complex-layout coefficients (..., n_alm(L)); L defaults to config.L, and a
        larger L is truncated to config.L."""
        L = self.config.L if L is None else L
        if L < self.config.L:
            raise ValueError(f"coefficients of bandlimit {L} are below the configured L = {self.config.L}")
        alm = np.asarray(alm)
        if alm.shape[-1:] != (n_alm(L),):
            raise ValueError(f"expected last axis of length {n_alm(L)} for L = {L}, got shape {alm.shape}")
        alm = truncate(alm.astype(np.complex128, copy=False), L, self.config.L)
        flat = alm.reshape(-1, alm.shape[-1])
        out = np.stack([self._scatter_one(a) for a in flat]) if len(flat) else np.empty((0, len(self.plan), self.config.L0**2))
        return ScatteringResult(self.config, self.paths, out.reshape(alm.shape[:-1] + out.shape[1:]))

    def from_map(self, values: np.ndarray, grid: Grid, **analysis_options) -> ScatteringResult:
        """Scatter real maps (..., *grid.shape) on `grid`; options go to ``harmonic.map_to_alm``."""
        values = np.asarray(values)
        batch = values.shape[: values.ndim - len(grid.shape)]
        if values.shape[len(batch) :] != grid.shape:
            raise ValueError(f"map shape {values.shape} does not end with the grid shape {grid.shape}")
        flat = values.reshape((-1,) + grid.shape)
        analyses = tuple(
            map_to_alm(v, grid, self.config.L, nthreads=self.nthreads, **analysis_options) for v in flat
        )
        alm = np.stack([a.alm for a in analyses]).reshape(batch + (n_alm(self.config.L),))
        result = self.from_alm(alm)
        return ScatteringResult(self.config, self.paths, result.coefficients, analyses)

    def _scatter_one(self, alm: np.ndarray) -> np.ndarray:
        """Follow the plan for one map; U signals are freed as soon as their children are done."""
        c, fb, nthreads = self.config, self.filters, self.nthreads
        scale = exact_scale(alm)  # S is homogeneous: S(f) = S(s f) / s, exactly for s a power of two
        if scale != 1.0:
            alm = alm * scale
        out = np.empty((len(self.plan), c.L0**2))
        U: dict[int, np.ndarray] = {}
        children_left: dict[int, int] = {}
        for index, node in enumerate(self.plan):
            if node.parent < 0:
                U[index] = alm
            else:
                parent = self.plan[node.parent]
                W = apply_l_filter(U[node.parent], parent.L_out, fb.wavelet(node.path[-1]), node.L_wavelet)
                U[index] = modulus_analysis(W, node.L_wavelet, *node.grid, node.L_out, nthreads=nthreads)
                del W
                children_left[node.parent] -= 1
                if children_left[node.parent] == 0:
                    del U[node.parent]
            out[index] = complex_to_real(apply_l_filter(U[index], node.L_out, fb.scaling, c.L0), c.L0)
            children_left[index] = node.n_children
            if node.n_children == 0:
                del U[index]
        return out / scale if scale != 1.0 else out
