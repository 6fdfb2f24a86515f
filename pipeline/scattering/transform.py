"""Multiresolution spherical wavelet scattering (McEwen, Wallis & Mavor-Parker, ICLR 2022), with
sign-aware channels (docs/scattering.md section 7).

    U[()] f = f,   U[p + (j,)] f = |U[p] f * Psi^j|,   S[p] f = U[p] f * Phi      (paper eq. 8-10)

with axisymmetric scale-discretised wavelets Psi^j (``pipeline.scattering.wavelets``), frequency-decreasing
paths, depth M. Multiresolution: each wavelet coefficient W = U[p] f * Psi^j is synthesised at its
own bandlimit L_j on a Gauss-Legendre grid oversampled by ``config.oversampling``, the modulus
taken pointwise, and |W| analysed only up to the largest bandlimit its children need (L_{j-1}), or
L0 at the last layer. The odd channels of ``config.odd`` are pointwise products of the W of one
scale, made on the same grid in the same pass. Every output is a bandlimit-L0 signal, returned in
the real harmonic layout of ``pipeline.sphere.alm``.

The executor only follows the pure plan of ``pipeline.scattering.plan``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.plan import MODULUS, scattering_plan
from pipeline.scattering.wavelets import filter_bank
from pipeline.sphere.alm import apply_l_filter, complex_to_real, n_alm, real_power_spectrum, squared_norm, truncate
from pipeline.sphere.grids import Grid
from pipeline.sphere.harmonic import HarmonicAnalysis, analyse, exact_scale, pointwise_analysis

_OPERATION = {"signed_square": "signed_square", "cross": "product"}


@dataclass(frozen=True)
class ScatteringResult:
    """Scattering coefficients of a batch of maps.

    coefficients: (..., n_channels, L0**2) float64, real harmonic layout (``pipeline.sphere.alm``).
    analysis: the input analyses (accuracy of HEALPix inputs), flattened over the batch; empty
        when the input was harmonic coefficients.
    """

    config: ScatteringConfig
    paths: tuple[tuple[int, ...], ...]
    coefficients: np.ndarray
    analysis: tuple[HarmonicAnalysis, ...] = ()
    spin: int = 0

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kind of each channel ("modulus", "signed_square", "cross"), parallel to paths."""
        return scattering_plan(self.config, self.spin).kinds

    @property
    def means(self) -> np.ndarray:
        """Mean of each S[p] f over the sphere, (..., n_paths): rotation invariant."""
        return channel_means(self.coefficients)

    @property
    def power_spectra(self) -> np.ndarray:
        """Power spectrum C_l of each S[p] f, (..., n_paths, L0): rotation invariant."""
        return real_power_spectrum(self.coefficients, self.config.L0)


def channel_means(coefficients: np.ndarray) -> np.ndarray:
    """Mean over the sphere of each channel's signal from its real coefficients (..., n, L0**2)."""
    return coefficients[..., 0] / math.sqrt(4 * math.pi)


class ScatteringTransform:
    """Fixed spherical scattering layer: build once (filters cached), call on many maps.

    >>> import numpy as np
    >>> st = ScatteringTransform(ScatteringConfig(L=32, J0=3, depth=2))
    >>> len(st.paths), st.paths[:3], st.plan.kinds[-1]
    (13, ((), (3,), (4,)), 'cross')
    >>> st.from_alm(np.zeros(528, complex)).coefficients.shape
    (13, 64)
    """

    def __init__(self, config: ScatteringConfig, nthreads: int = 1, spin: int = 0):
        self.config = config
        self.nthreads = int(nthreads)
        self.spin = spin
        self.plan = scattering_plan(config, spin)
        self.filters = filter_bank(config.L, config.lam, config.J0)

    @cached_property
    def paths(self) -> tuple[tuple[int, ...], ...]:
        """The scales of each output channel (kinds: ``self.plan.kinds``)."""
        return self.plan.paths

    def __repr__(self) -> str:
        c = self.config
        return (
            f"ScatteringTransform(L={c.L}, lam={c.lam:g}, J0={c.J0}, J={c.J}, depth={c.depth}, "
            f"L0={c.L0}, n_paths={len(self.paths)}, oversampling={c.oversampling:g}, precision={c.precision}, "
            f"spin={self.spin}, nthreads={self.nthreads})"
        )

    def from_alm(self, alm: np.ndarray, L: int | None = None, *, sky_fraction: float = 1.0) -> ScatteringResult:
        """Scatter complex-layout coefficients (..., n_alm(L)), for spin 2 the E and B
        coefficients (..., 2, n_alm(L)); L defaults to config.L, and a larger L is truncated to config.L.
        `sky_fraction`: for a map multiplied by mask weights w, the mean of w^2 over the sphere,
        so that the rms sigma_j of the odd channels is that of the observed sky (docs/masks.md section 4)."""
        L = self.config.L if L is None else L
        if L < self.config.L:
            raise ValueError(f"coefficients of bandlimit {L} are below the configured L = {self.config.L}")
        alm = np.asarray(alm)
        field_shape = (n_alm(L),) if self.spin == 0 else (2, n_alm(L))
        if alm.shape[alm.ndim - len(field_shape):] != field_shape:
            raise ValueError(f"expected trailing shape {field_shape} for spin {self.spin} and L = {L}, got shape {alm.shape}")
        alm = truncate(alm.astype(np.complex128, copy=False), L, self.config.L)
        batch = alm.shape[: alm.ndim - len(field_shape)]
        flat = alm.reshape((-1,) + field_shape[:-1] + (n_alm(self.config.L),))
        out = np.stack([self._scatter_one(a, sky_fraction) for a in flat]) if len(flat) else np.empty((0, len(self.paths), self.config.L0**2))
        return ScatteringResult(self.config, self.paths, out.reshape(batch + out.shape[1:]), spin=self.spin)

    def from_map(self, values: np.ndarray, grid: Grid, *, sky_fraction: float = 1.0, **analysis_options) -> ScatteringResult:
        """Scatter real maps (..., *grid.shape) on `grid`, for spin 2 the components (..., 2,
        *grid.shape) (e.g. Q, U in the COSMO convention); options go to ``harmonic.analyse``."""
        values = np.asarray(values)
        field_shape = grid.shape if self.spin == 0 else (2, *grid.shape)
        batch = values.shape[: values.ndim - len(field_shape)]
        if values.shape[len(batch) :] != field_shape:
            raise ValueError(f"map shape {values.shape} does not end with the grid shape {grid.shape}"
                             f"{' after the 2 components of a spin-2 field' if self.spin else ''}")
        flat = values.reshape((-1, 1 if self.spin == 0 else 2) + grid.shape)
        analyses = []
        for v in flat:
            alm, residual, iterations = analyse(v, grid, self.config.L, self.spin, nthreads=self.nthreads, **analysis_options)
            analyses.append(HarmonicAnalysis(alm if self.spin else alm[0], self.config.L, residual, iterations))
        alm = np.stack([a.alm for a in analyses]).reshape(batch + field_shape[:-len(grid.shape)] + (n_alm(self.config.L),))
        result = self.from_alm(alm, sky_fraction=sky_fraction)
        return ScatteringResult(self.config, self.paths, result.coefficients, tuple(analyses), spin=self.spin)

    def _scatter_one(self, alm: np.ndarray, sky_fraction: float = 1.0) -> np.ndarray:
        """Follow the plan for one map: one grid pass per scale, largest first; a U is freed as
        soon as its children are done."""
        c, fb, plan, nthreads = self.config, self.filters, self.plan, self.nthreads
        scale = exact_scale(alm)  # S is homogeneous: S(f) = S(s f) / s, exactly for s a power of two
        if scale != 1.0:
            alm = alm * scale
        low: list[np.ndarray | None] = [None] * len(plan.channels)  # complex coefficients, l < L0
        channel_of = {ch.factors[0]: k for k, ch in enumerate(plan.channels) if ch.kind == MODULUS and ch.component == 0}
        U: dict[int, np.ndarray] = {0: alm}  # a spin-2 root is (2, n_alm): E and B
        children_left = {i: node.n_children for i, node in enumerate(plan.nodes)}
        for grid_pass in plan.passes:
            W = []
            for i in grid_pass.nodes:
                parent = plan.nodes[i].parent
                W.append(apply_l_filter(U[parent], plan.nodes[parent].L_out, fb.wavelet(grid_pass.scale), grid_pass.L_wavelet))
                children_left[parent] -= 1
                if children_left[parent] == 0:
                    del U[parent]
            slot = {node: k for k, node in enumerate(grid_pass.nodes)}
            products = [("abs", (slot[i],), plan.nodes[i].L_out) for i in grid_pass.nodes]
            products += [(_OPERATION[plan.channels[ch].kind], tuple(slot[i] for i in plan.channels[ch].factors), c.L0)
                         for ch in grid_pass.odd_channels]
            results = pointwise_analysis(W, grid_pass.L_wavelet, *grid_pass.grid, products, nthreads=nthreads,
                                         single=c.precision == "float32")
            for i, result in zip(grid_pass.nodes, results):
                if children_left[i]:
                    U[i] = result
                low[channel_of[i]] = truncate(result, plan.nodes[i].L_out, c.L0)
            if grid_pass.odd_channels:  # every odd channel of a pass has the map's W_j = W[(j,)] as first factor
                sigma = math.sqrt(squared_norm(W[slot[plan.channels[grid_pass.odd_channels[0]].factors[0]]], grid_pass.L_wavelet)
                                  / (4 * math.pi * sky_fraction))  # rms of W_j over the (observed) sphere
            for ch, result in zip(grid_pass.odd_channels, results[len(grid_pass.nodes):]):
                low[ch] = result / sigma if sigma > 0 else result  # W_j = 0 makes the product 0
        for k, channel in enumerate(plan.channels[: 1 + (plan.spin == 2)]):  # S[()] = f * Phi; E * Phi and B * Phi for spin 2
            low[k] = truncate(alm if plan.spin == 0 else alm[channel.component], c.L, c.L0)
        out = np.stack([complex_to_real(apply_l_filter(a, c.L0, fb.scaling), c.L0) for a in low])
        return out / scale if scale != 1.0 else out
