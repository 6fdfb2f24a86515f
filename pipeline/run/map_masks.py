"""The mask a map is observed through (docs/masks.md section 1): the one shared by every map, or,
when masks differ between maps, the product of the shared mask, the map's own mask file (the
manifest's ``mask`` column) and its own bad pixels (``bad_pixels='mask'``), all under the run's
mask options. Preparing a mask (apodisation, contamination: ``pipeline.run.masked``) is the
expensive step; it is cached by the content of the combined mask, so maps that share a mask
prepare it once per worker process.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipeline.errors import InputError
from pipeline.io.mask_files import MaskOptions, apodised, check_sky_fraction, checked_mask, mask_on
from pipeline.io.readers import MapData
from pipeline.run.masked import MaskedSky, masked_sky, prepare_sky
from pipeline.scattering.config import ScatteringConfig
from pipeline.sphere.grids import Grid

PREPARED_BYTES = 2**30
"""Most memory the prepared masks of a per-map run keep in a process (the newest is always kept):
at HEALPix nside 2048 one holds two weight maps of 400 MB."""

_prepared: OrderedDict[tuple, MaskedSky] = OrderedDict()


@lru_cache(maxsize=2)
def file_weights(options: MaskOptions) -> tuple[np.ndarray, Grid]:
    """A mask file of a per-map run (the shared one, or a map's own), read and checked
    (``checked_mask``); kept for the next maps by its options, its sha256 included."""
    return checked_mask(options)


@dataclass(frozen=True, eq=False)
class MapMasks:
    """The masks of one map: the run's options and configuration, and, when masks differ between
    maps, its mask files read and checked on their own grids ((weights, grid, path): the shared
    one, then its own) and the sha256 of its own file ("" none)."""

    options: MaskOptions
    config: ScatteringConfig
    files: tuple[tuple[np.ndarray, Grid, str], ...] = ()
    sha256: str = ""

    @classmethod
    def read(cls, options: MaskOptions, config: ScatteringConfig, own: str = "") -> "MapMasks":
        """The masks of a map whose own mask file is `own` ("" none); one InputError naming a bad file."""
        if not options.per_map:
            return cls(options, config)
        files = [(*file_weights(options), options.path)] if options.path is not None else []
        own_options = options.own(own) if own else None
        if own_options is not None:
            files.append((*file_weights(own_options), own_options.path))
        return cls(options, config, tuple(files), own_options.sha256 if own_options else "")

    def hidden(self, grid: Grid) -> np.ndarray:
        """The pixels of the map's grid that its mask files zero (bad pixels there are no concern)."""
        if not self.options.per_map:
            sky = masked_sky(self.options, self.config)
            return mask_on(sky.observed, sky.grid, grid) == 0
        return self._product(grid) == 0

    def sky(self, data: MapData) -> MaskedSky:
        """The prepared mask of the map read as `data`: the shared one, or the product of its masks,
        checked as a mask file is, and prepared once per content (PREPARED_BYTES)."""
        if not self.options.per_map:
            return masked_sky(self.options, self.config)
        weights = self._product(data.grid)
        parts = [f"mask {path}" for _, _, path in self.files]
        if data.unobserved is not None and data.unobserved.any():
            weights[data.unobserved] = 0.0
            parts.append(f"its {int(np.count_nonzero(data.unobserved))} NaN, inf or UNSEEN pixels")
        try:
            if not weights.any():
                raise InputError("it masks every pixel: nothing to analyse")
            check_sky_fraction(weights, data.grid, self.options)
        except InputError as err:
            raise InputError(f"the product of its masks ({', '.join(parts)}): {err}") from None
        key = (hashlib.sha256(weights).hexdigest(), data.grid, self.options, self.config)
        sky = _prepared.pop(key, None) or prepare_sky(weights, apodised(weights, data.grid, self.options), data.grid,
                                                      self.options.tolerance, self.config)
        _prepared[key] = sky  # the most recently used last
        while len(_prepared) > 1 and sum(s.nbytes for s in _prepared.values()) > PREPARED_BYTES:
            _prepared.popitem(last=False)
        return sky

    def _product(self, grid: Grid) -> np.ndarray:
        """The product of the mask files' weights on the map's grid (ones without any)."""
        weights = np.ones(grid.shape)
        for values, mask_grid, path in self.files:
            try:
                weights *= mask_on(values, mask_grid, grid)
            except InputError as err:
                raise InputError(f"mask {path}: {err}") from None
        return weights
