"""Scattering a map of several fields (docs/scattering.md section 8): which signals are scattered,
the channel table of the output, and the executor.

The fields of a ``FieldSet`` become signals, in field order (the spin-2 pair at the place of its
first component):

- a spin-0 field (T, a colour channel) is scattered as a map of its own, exactly as if it were
  read alone (the same analysis and transform, so the same bits);
- the spin-2 pair (Q, U) is analysed with spin 2 into E and B coefficients, then scattered by
  ``config.spin2_route``: "modulus" scatters the spin-2 field itself (its wavelet coefficients
  Q_j + iU_j, their modulus |Q_j + iU_j|, then the scalar tree; depth-0 channels E * Phi and
  B * Phi; ``pipeline.scattering.plan``), "eb" scatters E and B as two scalar maps.

Every output channel is a spin-0 bandlimit-L0 signal, so the cache and the equivariant CNN stay
scalar. Each channel is labelled by the field it comes from: the field's name, "E" or "B", or
"Q+iU" (the pair's names) for the channels of the spin-2 modulus tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.plan import scattering_plan
from pipeline.scattering.transform import ScatteringTransform
from pipeline.sphere.alm import power_spectrum
from pipeline.sphere.fields import FieldSet
from pipeline.sphere.grids import Grid
from pipeline.sphere.harmonic import HarmonicAnalysis, analyse


@dataclass(frozen=True)
class Signal:
    """One scattered signal: its label, its spin, the fields it is made of (indices into the
    FieldSet), and for the "eb" route which part of the pair's analysis (0: E, 1: B)."""

    label: str
    spin: int
    fields: tuple[int, ...]
    part: int | None = None


def signals(fields: FieldSet, route: str) -> tuple[Signal, ...]:
    """The signals scattered for `fields` with spin-2 route `route`, in output order."""
    out = []
    for i, name in enumerate(fields.names):
        if fields.spin2 is None or i not in fields.spin2:
            out.append(Signal(name, 0, (i,)))
        elif i == fields.spin2[0]:
            pair = fields.spin2
            if route == "modulus":
                out.append(Signal(f"{fields.names[pair[0]]}+i{fields.names[pair[1]]}", 2, pair))
            else:
                out += [Signal("E", 0, pair, 0), Signal("B", 0, pair, 1)]
    return tuple(out)


def spectrum_labels(fields: FieldSet) -> tuple[str, ...]:
    """The input power spectra stored for `fields`: each scalar field's, then E and B at the pair's place."""
    return tuple(s.label for s in signals(fields, "eb"))


@dataclass(frozen=True)
class ChannelTable:
    """The output channels of a map: scales, kind and field label of each (() for one field),
    and the labels of its input power spectra (() for one field)."""

    paths: tuple[tuple[int, ...], ...]
    kinds: tuple[str, ...]
    fields: tuple[str, ...] = ()
    spectra: tuple[str, ...] = ()


def channel_table(config: ScatteringConfig, fields: FieldSet | None) -> ChannelTable:
    """The channels of a map of one field (None), or of every signal of `fields` concatenated in signal order."""
    if fields is None:
        plan = scattering_plan(config)
        return ChannelTable(plan.paths, plan.kinds)
    paths, kinds, labels = [], [], []
    for signal in signals(fields, config.spin2_route):
        plan = scattering_plan(config, signal.spin)
        paths += plan.paths
        kinds += plan.kinds
        if signal.spin == 2:  # depth 0: E * Phi and B * Phi; deeper: the tree of |Q_j + iU_j|
            labels += [("E", "B")[c.component] if not c.path else signal.label for c in plan.channels]
        else:
            labels += [signal.label] * len(plan.channels)
    return ChannelTable(tuple(paths), tuple(kinds), tuple(labels), spectrum_labels(fields))


@dataclass(frozen=True)
class FieldsResult:
    """The scattering of one multi-field map: coefficients (n_channels, L0**2) in the order of
    ``channel_table``, the input power spectra (n_spectra, L) in the order of ``spectrum_labels``,
    and the harmonic analyses (one per scalar field, one for the pair)."""

    coefficients: np.ndarray
    input_power_spectra: np.ndarray
    analysis: tuple[HarmonicAnalysis, ...]


class FieldScattering:
    """The scattering of maps of several fields on one grid: one ``ScatteringTransform`` per spin."""

    def __init__(self, config: ScatteringConfig, fields: FieldSet, nthreads: int = 1):
        self.config, self.fields, self.nthreads = config, fields, int(nthreads)
        self.signals = signals(fields, config.spin2_route)

    @cached_property
    def table(self) -> ChannelTable:
        return channel_table(self.config, self.fields)

    def transform(self, spin: int) -> ScatteringTransform:
        return _transforms(self.config, self.nthreads)[spin]

    def from_map(self, values: np.ndarray, grid: Grid, **analysis_options) -> FieldsResult:
        """Scatter one map of fields (n_fields, *grid.shape) (the spin-2 pair in COSMO convention);
        options go to ``harmonic.analyse``."""
        values = np.asarray(values)
        if values.shape != (len(self.fields.names), *grid.shape):
            raise ValueError(f"expected fields of shape {(len(self.fields.names), *grid.shape)}, got {values.shape}")
        L = self.config.L
        coefficients: dict[tuple[int, ...], np.ndarray] = {}  # fields -> alm (spin 0: (n_alm,); the pair: (2, n_alm))
        analyses = []
        for signal in self.signals:
            if signal.fields not in coefficients:
                spin = 2 if len(signal.fields) == 2 else 0
                alm, residual, iterations = analyse(values[list(signal.fields)], grid, L, spin, nthreads=self.nthreads, **analysis_options)
                coefficients[signal.fields] = alm if spin else alm[0]
                analyses.append(HarmonicAnalysis(coefficients[signal.fields], L, residual, iterations))
        outputs, spectra = [], []
        for signal in self.signals:
            alm = coefficients[signal.fields]
            if signal.part is not None:
                alm = alm[signal.part]
            outputs.append(self.transform(signal.spin).from_alm(alm).coefficients)
            spectra.append(power_spectrum(alm, L))
        return FieldsResult(np.concatenate(outputs), np.concatenate([s.reshape(-1, L) for s in spectra]), tuple(analyses))


@lru_cache(maxsize=4)
def _transforms(config: ScatteringConfig, nthreads: int) -> dict[int, ScatteringTransform]:
    """The spin-0 and spin-2 transforms of `config`, built once per process."""
    return {spin: ScatteringTransform(config, nthreads, spin) for spin in (0, 2)}
