"""The CMB benchmark on a cut sky (docs/cmb-experiment.md section 9; docs/masks.md).

The same maps, scattered a second time through a mask shared by every map: a Galactic band
|b| < cut_deg around the equator of the map's coordinates plus n_holes point-source holes of
radius hole_deg at isotropic directions drawn from a recorded seed (``pipeline.sphere.masks``),
apodised by the pipeline's defaults (C1, 2 deg). What each method sees of a map on the cut sky:

- scattering methods: the masked cache (``scatter-preprocess --mask``); the MLP pools each channel
  over its own valid region, the CNN over the region where every channel it reads is valid, both
  without rotation augmentation (a fixed mask is not rotation-invariant); the linear read-out uses
  the channels' means over their valid regions (channels without a valid region dropped);
- power spectrum: the pseudo-spectrum of the masked, apodised map (the cache's input spectrum;
  the mask is the same for every map, so a Gaussian and a spectrum-matched map stay alike);
- skewness and kurtosis of the pixel values over the observed pixels (binary mask evaluated on
  the exact 2L x 4L Gauss-Legendre grid of the full-sky moments).

Band moments, Minkowski functionals and the optimal cubic estimator are not computed on the cut
sky (their cut-sky versions need edge and linear-term corrections this benchmark does not make).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.cmb.plan import map_grid, map_sidecar
from pipeline.errors import InputError
from pipeline.io.atomic import write_atomic
from pipeline.sphere.grids import Grid
from pipeline.sphere.masks import MASK_GRIDS, galactic_cut_and_holes, pixel_directions, random_directions

MASKS = ("galactic",)
"""Named cut-sky masks of ``scatter-reproduce-cmb --mask`` (``named_mask``)."""
CUT_SKY_LEARNED = ("scattering_cnn", "scattering_mlp", "scattering_cnn_modulus", "scattering_mlp_modulus")
CUT_SKY_CLASSICAL = ("power_spectrum", "skewness", "kurtosis", "scattering_linear", "scattering_linear_modulus")
CUT_SKY_STATISTICS = ("skewness", "kurtosis")


@dataclass(frozen=True)
class CutSky:
    """The cut-sky mask: Galactic band |b| < cut_deg, n_holes holes of radius hole_deg drawn from `seed`."""

    cut_deg: float = 20.0
    n_holes: int = 100
    hole_deg: float = 0.5
    seed: int = 2022

    @property
    def name(self) -> str:
        return f"galactic{self.cut_deg:g}_holes{self.n_holes}x{self.hole_deg:g}_seed{self.seed}"

    def on(self, grid: Grid) -> np.ndarray:
        """The binary mask (1 observed) at the pixels of `grid`, in the grid's shape."""
        holes = random_directions(np.random.default_rng(self.seed), self.n_holes)
        return galactic_cut_and_holes(pixel_directions(grid), holes, self.cut_deg, self.hole_deg).reshape(grid.shape)

    def write(self, directory: Path, grid_name: str, L: int) -> Path:
        """The mask on the maps' grid as ``<name>_L{L}_{grid}.npy`` with its sidecar (atomic; kept if present)."""
        grid = cut_sky_grid(grid_name, L)
        path = Path(directory) / f"mask_{self.name}_L{L}_{grid_name}.npy"
        if not path.is_file():
            buffer = io.BytesIO()
            np.save(buffer, self.on(grid), allow_pickle=False)
            write_atomic(path.with_suffix(".json"), json.dumps(map_sidecar(grid_name)).encode())
            write_atomic(path, buffer.getvalue())
        return path

    def to_dict(self) -> dict:
        return asdict(self)


def named_mask(name: str) -> CutSky:
    """The cut sky of ``--mask NAME``: "galactic" is |b| < 20 deg and 100 holes of 0.5 deg drawn from seed 2022."""
    if name not in MASKS:
        raise InputError(f"mask must be one of {', '.join(MASKS)}, got {name!r}")
    return CutSky()


def cut_sky_grid(grid_name: str, L: int) -> Grid:
    """The grid of the benchmark's maps (``pipeline.cmb.plan.map_grid``), refused where a mask has no quadrature weights."""
    if grid_name != "healpix" and grid_name not in MASK_GRIDS:
        raise InputError(f"a cut sky needs maps on a grid with quadrature weights (gl or healpix), not {grid_name!r}")
    return map_grid(grid_name, L)
