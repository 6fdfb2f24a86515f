"""Reading a mask (shared by every map of a run, or a map's own), and the mask options recorded
in a cache (docs/masks.md section 1).

A mask file is a HEALPix FITS map or a .npy / .npz array (grid from the header or sidecar, as for
maps: docs/inputs.md), one value per pixel in [0, 1]: 1 observed, 0 masked. It must be on the
map's own grid: another HEALPix nside is refused with both named (no silent regridding); another
HEALPix ordering is reordered to the map's. Binary masks (0 / 1 only, the default kind) are
apodised (``pipeline.sphere.masks``); weighted masks (kind "weights") are used as they are.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import InputError
from pipeline.io.checks import Harmonics, parser_errors
from pipeline.io.fits_files import read_fits
from pipeline.io.numpy_files import read_numpy
from pipeline.io.readers import ReaderOptions, file_sha256, map_format
from pipeline.sphere.grids import Grid, HealpixGrid
from pipeline.sphere.harmonic import nested_to_ring, ring_to_nested
from pipeline.sphere.masks import APODISATIONS, apodise, observed_fraction

MASK_KINDS = ("binary", "weights")
DEFAULT_APODISATION, DEFAULT_WIDTH_DEG = "C1", 2.0
"""NaMaster's C1 taper, 2 degrees: a few times the beam of a Planck map at L ~ 1024, and a small
loss of sky for a Galactic cut (docs/masks.md section 2)."""
DEFAULT_MIN_SKY_FRACTION = 0.05
DEFAULT_TOLERANCE = 0.01
"""A channel is valid where the propagated mask contamination is below 1 % (docs/masks.md section 3)."""


@dataclass(frozen=True)
class MaskOptions:
    """The masks of a run: the file shared by every map (absolute path; None: none) and its
    sha256, the FITS column holding a mask (a name or 0-based index; None: the only one), the kind,
    the apodisation of a binary mask (C1 / C2 of width_deg degrees, or none), the least observed
    sky fraction accepted, the contamination tolerance of the validity maps, and whether masks
    differ between maps (per_map: maps with their own mask file, or whose bad pixels are masked;
    their validity is stored per map). The same options apply to every mask of the run."""

    path: str | None = None
    sha256: str = ""
    field: str | None = None
    kind: str = "binary"
    apodisation: str = DEFAULT_APODISATION
    width_deg: float = DEFAULT_WIDTH_DEG
    min_sky_fraction: float = DEFAULT_MIN_SKY_FRACTION
    tolerance: float = DEFAULT_TOLERANCE
    per_map: bool = False

    def __post_init__(self) -> None:
        if self.path is None and not self.per_map:
            raise InputError("mask options without a mask: give a shared mask file, a manifest column mask or --bad-pixels mask")
        if self.kind not in MASK_KINDS:
            raise InputError(f"mask kind must be one of {', '.join(MASK_KINDS)}, got {self.kind!r}")
        if self.apodisation not in APODISATIONS:
            raise InputError(f"apodisation must be one of {', '.join(APODISATIONS)}, got {self.apodisation!r}")
        if self.kind == "weights" and self.apodisation != "none":
            raise InputError("a weighted mask is used as it is: apodisation applies to binary masks (use --apodisation none)")
        if not 0 < self.width_deg <= 90:
            raise InputError(f"the apodisation width must be in (0, 90] degrees, got {self.width_deg!r}")
        if not 0 <= self.min_sky_fraction < 1:
            raise InputError(f"the minimum sky fraction must be in [0, 1), got {self.min_sky_fraction!r}")
        if not 0 < self.tolerance < 1:
            raise InputError(f"the validity tolerance must be in (0, 1), got {self.tolerance!r}")

    @classmethod
    def for_file(cls, path: str | os.PathLike, **options) -> "MaskOptions":
        """Options for the mask at `path`: its absolute path and the sha256 of its bytes."""
        path = os.path.abspath(path)
        if map_format(path) == "image":
            raise InputError(f"{path}: a mask is a HEALPix FITS or a .npy / .npz map, not an image")
        if not Path(path).is_file():
            raise InputError(f"{path}: mask file not found")
        with parser_errors("readable"):
            return cls(path, file_sha256(path), **options)

    def own(self, path: str) -> "MaskOptions":
        """The options of a map's own mask file: these, for that file."""
        return self.for_file(path, **{k: v for k, v in asdict(self).items() if k not in ("path", "sha256", "per_map")})

    def to_dict(self) -> dict:
        """Plain JSON; "per_map" only when set, so that shared-mask caches keep resuming."""
        return {k: v for k, v in asdict(self).items() if k != "per_map" or v}

    @classmethod
    def from_dict(cls, d: dict) -> "MaskOptions":
        return cls(**d)


def load_mask(options: MaskOptions) -> tuple[np.ndarray, Grid]:
    """The mask's weights (float64 in [0, 1]) and its own grid, checked; every problem is one
    InputError naming the mask file."""
    try:
        if file_sha256(options.path) != options.sha256:
            raise InputError("the mask file changed since the cache was made (its sha256 differs)")
        fmt = map_format(options.path)
        field = int(options.field) if options.field is not None and options.field.isdigit() else options.field
        reader = ReaderOptions(field=field)
        read = read_fits(Path(options.path), reader) if fmt == "fits" else read_numpy(Path(options.path), fmt, reader)
        if isinstance(read, Harmonics) or read.values.ndim != len(read.grid.shape):
            raise InputError("a mask is one map of pixel weights, not harmonic coefficients or several fields")
        _check_values(read.values, options)
        observed_fraction(read.values, read.grid)  # refuses grids without quadrature weights
        return read.values, read.grid
    except InputError as err:
        raise InputError(f"mask {options.path}: {err}") from err.__cause__


def mask_on(values: np.ndarray, mask_grid: Grid, grid: Grid) -> np.ndarray:
    """The mask on the map's grid: another HEALPix ordering is reordered; another nside or grid is refused."""
    if isinstance(mask_grid, HealpixGrid) and isinstance(grid, HealpixGrid):
        if mask_grid.nside != grid.nside:
            raise InputError(f"the mask has HEALPix nside {mask_grid.nside} and the map nside {grid.nside}: masks are never "
                             "regridded; make the mask at the map's nside")
        if mask_grid.ordering != grid.ordering:
            return (nested_to_ring if mask_grid.ordering == "NESTED" else ring_to_nested)(values, grid.nside)
        return values
    if mask_grid != grid:
        raise InputError(f"the mask is on {mask_grid.describe()} and the map on {grid.describe()}: a mask must be on the map's grid")
    return values


def _check_values(values: np.ndarray, options: MaskOptions) -> None:
    if not np.isfinite(values).all():
        raise InputError(f"{int(np.count_nonzero(~np.isfinite(values)))} mask values are NaN or inf: a mask holds weights in [0, 1]")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 1:
        raise InputError(f"mask values must lie in [0, 1] (1 observed, 0 masked), found {low:.6g} to {high:.6g}")
    if high == 0:
        raise InputError("the mask masks every pixel: nothing to analyse")
    other = np.count_nonzero((values != 0) & (values != 1))
    if options.kind == "binary" and other:
        raise InputError(f"a binary mask holds only 0 and 1, this one {other} other values: declare a weighted mask (--mask-kind weights)")


def check_sky_fraction(weights: np.ndarray, grid: Grid, options: MaskOptions) -> None:
    """Refuse weights that observe less than options.min_sky_fraction of the sky."""
    fraction = observed_fraction(weights, grid)
    if fraction < options.min_sky_fraction:
        raise InputError(f"it observes {100 * fraction:.3g} % of the sky, below the minimum "
                         f"{100 * options.min_sky_fraction:.3g} % (--min-sky-fraction)")


def checked_mask(options: MaskOptions) -> tuple[np.ndarray, Grid]:
    """``load_mask``, refusing a mask that observes less than options.min_sky_fraction of the sky."""
    weights, grid = load_mask(options)
    try:
        check_sky_fraction(weights, grid, options)
    except InputError as err:
        raise InputError(f"mask {options.path}: {err}") from None
    return weights, grid


def apodised(weights: np.ndarray, grid: Grid, options: MaskOptions) -> np.ndarray:
    """What multiplies the map: a binary mask apodised, weights as they are."""
    return weights if options.kind == "weights" else apodise(weights, grid, options.apodisation, options.width_deg)


def mask_weights(options: MaskOptions) -> tuple[np.ndarray, np.ndarray, Grid]:
    """(observed weights before apodisation, apodised weights, the mask's grid) of the shared mask:
    the first defines the observed region (mean removal), the second multiplies the map."""
    weights, grid = checked_mask(options)
    return weights, apodised(weights, grid, options), grid
