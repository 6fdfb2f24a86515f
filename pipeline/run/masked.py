"""Scattering a map observed through a mask (docs/masks.md): the mask prepared (apodised, its
contamination propagated; the shared mask once per process), the map's mean removed over the
observed sky and the map apodised, and the rotation invariants recomputed over each channel's
valid region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from pipeline.errors import InputError
from pipeline.io.mask_files import MaskOptions, mask_on, mask_weights
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.validity import contamination, valid_fractions, valid_regions
from pipeline.sphere.alm import real_to_complex
from pipeline.sphere.grids import Grid, RingGrid
from pipeline.sphere.harmonic import quadrature_analysis, ring_grid_synthesis
from pipeline.sphere.masks import observed_fraction, pixel_areas
from pipeline.sphere.pseudo_spectra import Decoupling, region_pseudo_spectrum

MASKED_SPECTRA = "bandpowers decoupled from the valid region"
"""What a masked cache's ``masked_power_spectra`` are (its ``mask`` attribute's "masked_spectra"; caches
written before the decoupling hold pseudo-C_l / f_valid and have no such key): docs/masks.md section 4."""


@dataclass(frozen=True, eq=False)
class MaskedSky:
    """A mask prepared for one configuration: observed and apodised weights on the mask's grid,
    the observed fraction, the mean of the apodised weights squared (w2), each channel's
    contamination map (real layout, (n_channels, L0**2)), its valid region on the validity grid
    and the valid fraction."""

    observed: np.ndarray
    apodised: np.ndarray
    grid: Grid
    observed_fraction: float
    w2: float
    contamination: np.ndarray
    valid: np.ndarray
    valid_fractions: np.ndarray

    @cached_property
    def decouplings(self) -> tuple[Decoupling | None, ...]:
        """Each channel's bandpower decoupling over its valid region (``pipeline.sphere.pseudo_spectra``;
        None without a region), computed once per distinct region when first needed."""
        L0 = math.isqrt(self.contamination.shape[1])
        by_region: dict[bytes, Decoupling] = {}
        out: list[Decoupling | None] = []
        for region, fraction in zip(self.valid, self.valid_fractions):
            key = region.tobytes()
            if fraction > 0 and key not in by_region:
                by_region[key] = Decoupling.of_region(region.astype(np.float64), L0)
            out.append(by_region.get(key) if fraction > 0 else None)
        return tuple(out)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.observed, self.apodised, self.contamination, self.valid))

    def summary(self, options: MaskOptions) -> dict:
        """The cache's ``mask`` attribute (plain JSON)."""
        return {**options.to_dict(), "grid": self.grid.describe(), "observed_fraction": self.observed_fraction, "w2": self.w2,
                "valid_fractions": [float(f) for f in self.valid_fractions]}


@lru_cache(maxsize=2)
def masked_sky(options: MaskOptions, config: ScatteringConfig) -> MaskedSky:
    """The shared mask read, checked and prepared (``prepare_sky``)."""
    return prepare_sky(*mask_weights(options), options.tolerance, config)


def prepare_sky(observed: np.ndarray, apodised: np.ndarray, grid: Grid, tolerance: float, config: ScatteringConfig) -> MaskedSky:
    """Propagate the contamination (c^2 = (1 - w)^2) of the `apodised` weights through the channels
    of `config` (``pipeline.scattering.validity``); valid where sqrt(v) < tolerance."""
    areas = pixel_areas(grid)
    w2 = float(np.sum(apodised**2 * areas) / (4 * math.pi))
    maps = contamination(config, quadrature_analysis((1.0 - apodised) ** 2, grid, config.L))
    valid = valid_regions(maps, config.L0, tolerance**2)
    return MaskedSky(observed, apodised, grid, observed_fraction(observed, grid), w2, maps, valid, valid_fractions(valid))


def masked_map(values: np.ndarray, grid: Grid, sky: MaskedSky) -> np.ndarray:
    """(f - mean) w: the map's weighted mean over the observed pixels removed, times the apodised weights."""
    observed, apodised = (mask_on(w, sky.grid, grid) for w in (sky.observed, sky.apodised))
    areas = pixel_areas(grid) if isinstance(grid, RingGrid) else 1.0  # equal HEALPix pixels: no npix-sized array
    weights = observed * areas
    mean = np.vdot(values, weights) / np.sum(weights)
    out = values - mean
    out *= apodised
    if not out.any():
        raise InputError("the map is constant over the observed sky: nothing to analyse")
    return out


def masked_invariants(coefficients: np.ndarray, sky: MaskedSky, L0: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and power spectrum of each channel's signal over its valid region only: the mean of
    S[p] over the region; for l >= 1 the pseudo-spectrum of (S[p] - mean) times the region's
    indicator decoupled from the region in bandpowers (``pipeline.sphere.pseudo_spectra``: unbiased
    for spectra constant within the bins; NaN where the region resolves none), for l = 0 that of
    the mean, 4 pi mean^2 (all NaN where a channel has no valid region)."""
    _, ntheta, nphi = sky.valid.shape
    means, spectra = np.full(len(coefficients), np.nan), np.full((len(coefficients), L0), np.nan)
    for k, (row, region, decoupling) in enumerate(zip(coefficients, sky.valid, sky.decouplings)):
        if decoupling is None:
            continue
        values = ring_grid_synthesis(real_to_complex(row, L0), L0, ntheta, nphi)
        means[k], pseudo = region_pseudo_spectrum(values, region, L0)
        spectra[k] = decoupling.apply(pseudo)
        spectra[k, 0] = 4 * math.pi * means[k] ** 2
    return means, spectra
