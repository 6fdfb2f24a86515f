"""Read one input map (HEALPix FITS, .npy, .npz, a 360-degree PNG / JPEG / TIFF image) or
harmonic-coefficient file into native float64.

Nothing about an input is guessed (docs/inputs.md section 1): the grid and the
HEALPix ordering come from the FITS header, from the options, or from a JSON sidecar
``<stem>.json`` (keys ``grid`` and, for HEALPix, ``ordering``) next to a .npy / .npz file, and a
declaration that disagrees with another is an error. NESTED maps stay NESTED: reordering is the
harmonic layer's job (``pipeline.sphere.harmonic``). UNSEEN / NaN / inf pixels are refused unless the
policy ``bad_pixels='fill-mean'`` or ``'mask'`` (they become masked pixels of the map, docs/masks.md
section 1) is chosen; the masked fraction is recorded either way.

Every problem with a file is one ``InputError`` whose message starts with the file's path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path

import numpy as np

from pipeline.errors import InputError
from pipeline.io.checks import (
    BAD_PIXEL_POLICIES,
    CONSTANT_MAP,
    GRIDS,
    ORDERINGS,
    UNSEEN_HIGH,
    UNSEEN_LOW,
    Harmonics,
    check_magnitude,
    parser_errors,
)
from pipeline.io.fits_files import read_fits
from pipeline.io.image_files import ALPHA_RULES, COLOR_RULES, read_image
from pipeline.io.numpy_files import read_numpy
from pipeline.sphere.fields import POL_CONVENTIONS, FieldSet, check_pol_convention
from pipeline.sphere.grids import Grid
from pipeline.sphere.harmonic import peak_magnitude

MAP_EXTENSIONS = {".fits": "fits", ".fit": "fits", ".fts": "fits", ".npy": "npy", ".npz": "npz",
                  ".png": "image", ".jpg": "image", ".jpeg": "image", ".tif": "image", ".tiff": "image"}
"""File suffixes read (case-insensitive) and their format."""


@dataclass(frozen=True)
class ReaderOptions:
    """How to read inputs; every field left None is taken from the file (header or sidecar).

    grid: 'healpix', a ring scheme of ``grids.RING_SCHEMES`` (an H x 2H 360-degree image is 'f1'
        when cell-centred, 'dh' when its first row is the north pole) or 'alm' (complex
        coefficients, healpy/ducc0 m-major layout, lmax = mmax).
    ordering: HEALPix pixel ordering, 'RING' or 'NESTED'.
    field: FITS column holding the map, by name or 0-based index (needed when there are several).
    npz_key: array of a .npz archive holding the map (needed when there are several).
    bad_pixels: 'refuse' (default), 'fill-mean' (NaN / inf / UNSEEN pixels set to the plain,
        unweighted mean of the valid pixels) or 'mask' (set to 0 and returned as
        ``MapData.unobserved``: the map's own mask, docs/masks.md section 1).
    color: how a colour image becomes one map: 'luminance' (ITU-R BT.601 luma) or one channel
        'R', 'G', 'B' (None: colour images are refused; greyscale images need no rule).
    alpha: 'refuse' (default) an image with an alpha channel, or 'ignore' (drop the channel).
    fields: two or more fields read together (docs/inputs.md section 8), by name or 0-based index:
        FITS columns (a name also matches a column named NAME_..., e.g. Q matches Q_POLARISATION
        and Q_STOKES; T matches TEMPERATURE), the leading axis of a .npy / .npz array (named in
        its sidecar's "fields"), or image channels R, G, B. Exclusive with `field` and `color`.
    spin2: the two of `fields` that form a spin-2 pair (None: Q, U or G1, G2 by name;
        ``pipeline.sphere.fields``).
    pol_convention: 'COSMO' or 'IAU' for the spin-2 pair (None: from the file, the FITS POLCCONV
        keyword or the sidecar; a spin-2 pair with neither is refused). IAU maps are read into
        COSMO (U -> -U), the harmonic layer's convention.
    """

    grid: str | None = None
    ordering: str | None = None
    field: str | int | None = None
    npz_key: str | None = None
    bad_pixels: str = "refuse"
    color: str | None = None
    alpha: str = "refuse"
    fields: tuple[str | int, ...] | None = None
    spin2: tuple[str | int, str | int] | None = None
    pol_convention: str | None = None

    def __post_init__(self) -> None:
        for name in ("fields", "spin2"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.grid is not None and self.grid not in GRIDS:
            raise InputError(f"grid must be one of {', '.join(GRIDS)} (or None: from the file), got {self.grid!r}")
        if self.ordering is not None and self.ordering not in ORDERINGS:
            raise InputError(f"ordering must be RING or NESTED (or None: from the file), got {self.ordering!r}")
        if self.ordering is not None and self.grid not in (None, "healpix"):
            raise InputError(f"ordering applies only to HEALPix maps, not to grid {self.grid!r}")
        if not (self.field is None or (isinstance(self.field, str) and self.field)
                or (type(self.field) is int and self.field >= 0)):
            raise InputError(f"field must be a column name or a 0-based column index, got {self.field!r}")
        if not (self.npz_key is None or (isinstance(self.npz_key, str) and self.npz_key)):
            raise InputError(f"npz_key must be a non-empty string, got {self.npz_key!r}")
        if self.bad_pixels not in BAD_PIXEL_POLICIES:
            raise InputError(f"bad_pixels must be one of {', '.join(BAD_PIXEL_POLICIES)}, got {self.bad_pixels!r}")
        if self.color is not None and self.color not in COLOR_RULES:
            raise InputError(f"color must be one of {', '.join(COLOR_RULES)} (or None: colour images refused), got {self.color!r}")
        if self.alpha not in ALPHA_RULES:
            raise InputError(f"alpha must be one of {', '.join(ALPHA_RULES)}, got {self.alpha!r}")
        if self.fields is None:
            if self.spin2 is not None or self.pol_convention is not None:
                raise InputError("spin2 and pol_convention apply to maps read with several fields (fields)")
            return
        if self.field is not None or self.color is not None:
            raise InputError(f"fields reads several fields: it excludes {'field' if self.field is not None else 'color'}")
        if self.pol_convention is not None and self.pol_convention not in POL_CONVENTIONS:
            raise InputError(f"pol_convention must be one of {', '.join(POL_CONVENTIONS)} (or None: from the file), got {self.pol_convention!r}")
        pair = self.field_set.spin2  # validates the fields and their pair
        if self.pol_convention is not None and pair is None:
            raise InputError(f"pol_convention applies to a spin-2 pair, and fields {', '.join(map(str, self.fields))} hold none")

    @property
    def field_set(self) -> FieldSet | None:
        """The declared fields and their spin-2 pair, or None for single-field inputs."""
        return None if self.fields is None else FieldSet.declare(self.fields, self.spin2)

    def to_dict(self) -> dict:
        """Plain JSON; the image and field rules only when set, so caches written before they existed still resume."""
        d = asdict(self)
        for name, default in (("color", None), ("alpha", "refuse"), ("fields", None), ("spin2", None), ("pol_convention", None)):
            if d[name] == default:
                del d[name]
        for name in ("fields", "spin2"):
            if name in d:
                d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ReaderOptions":
        unknown = set(d) - {f.name for f in dataclass_fields(cls)}
        if unknown:
            raise InputError(f"unknown reader options: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass(frozen=True, eq=False)
class MapData:
    """One input, read. Either `values` (read-only native float64, shape ``grid.shape``, in the
    file's own pixel ordering) or, for harmonic input, `alm` (complex128, layout of
    ``pipeline.sphere.alm``) with bandlimit `alm_L`; the other pair is None."""

    values: np.ndarray | None
    grid: Grid | None
    alm: np.ndarray | None
    alm_L: int | None
    masked_fraction: float
    mask_description: str
    sha256: str
    source: str
    fields: FieldSet | None = None
    """With ReaderOptions.fields: `values` is (n_fields, *grid.shape), a spin-2 pair in COSMO convention."""
    unobserved: np.ndarray | None = None
    """With bad_pixels='mask': boolean, shape ``grid.shape``, the NaN / inf / UNSEEN pixels (set to 0 in `values`)."""


def map_format(path: str | Path) -> str:
    """'fits', 'npy', 'npz' or 'image' from the file's suffix; InputError (naming the file) otherwise."""
    suffix = Path(path).suffix
    if suffix.lower() not in MAP_EXTENSIONS:
        raise InputError(f"{path}: unknown file type {suffix!r}: expected one of {', '.join(MAP_EXTENSIONS)}")
    return MAP_EXTENSIONS[suffix.lower()]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes: the input hash recorded with each map (maps/sha256)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_map(path: str | Path, options: ReaderOptions = ReaderOptions(), masked_by: Callable[[Grid], np.ndarray] | None = None) -> MapData:
    """Read one map or coefficient file; any problem with it is one InputError naming it.
    `masked_by(grid)`: the pixels a mask will zero (docs/masks.md): bad pixels there are set to 0
    whatever the bad-pixel policy, which applies to the others."""
    source = str(path)
    path = Path(path)
    fmt = map_format(path)
    try:
        if not path.is_file():
            raise InputError("file not found")
        with parser_errors("readable"):
            sha256 = file_sha256(path)
        readers = {"fits": read_fits, "image": read_image}
        read = readers[fmt](path, options) if fmt in readers else read_numpy(path, fmt, options)
        if isinstance(read, Harmonics):
            if options.fields is not None:
                raise InputError("harmonic coefficients are read one field per file: fields applies to maps")
            return MapData(values=None, grid=None, alm=_checked_alm(read.alm), alm_L=read.L, masked_fraction=0.0,
                           mask_description="harmonic input", sha256=sha256, source=source)
        fields = options.field_set
        hidden = None if masked_by is None else masked_by(read.grid)
        masked_fraction, description, unobserved = _apply_bad_pixel_policy(read.values, options.bad_pixels, read.coverage, fields, hidden)
        if fields is not None and fields.spin2 is not None:
            where = {"fits": "POLCCONV keyword", "image": "polarisation convention"}.get(
                fmt, f"pol_convention in the sidecar {path.with_suffix('.json').name}")
            if check_pol_convention(read.pol_convention, options.pol_convention, where) == "IAU":
                read.values[fields.spin2[1]] *= -1.0  # IAU -> COSMO: U changes sign (after the bad pixels are found)
        read.values.flags.writeable = False
        return MapData(values=read.values, grid=read.grid, alm=None, alm_L=None, masked_fraction=masked_fraction,
                       mask_description=description, sha256=sha256, source=source, fields=fields, unobserved=unobserved)
    except InputError as err:
        raise InputError(f"{source}: {err}") from err.__cause__


def _checked_alm(alm: np.ndarray) -> np.ndarray:
    bad = int(np.count_nonzero(~np.isfinite(alm)))
    if bad:
        raise InputError(f"{bad} of {alm.size} harmonic coefficients are NaN or inf")
    if not np.any(alm[1:]):  # only a_00 (index 0) nonzero: a constant map
        raise InputError(CONSTANT_MAP)
    check_magnitude(peak_magnitude(alm))
    alm.flags.writeable = False
    return alm


def _apply_bad_pixel_policy(values: np.ndarray, policy: str, coverage: str, fields: FieldSet | None,
                            hidden: np.ndarray | None = None) -> tuple[float, str, np.ndarray | None]:
    """Find NaN / inf / UNSEEN pixels (in any field), refuse, fill (in place, each field with its
    own mean) or mask them (set to 0), except those `hidden` by a mask, which are set to 0;
    (masked fraction, description, the masked pixels under the policy 'mask')."""
    bad = ~np.isfinite(values)
    bad |= (values >= UNSEEN_LOW) & (values <= UNSEEN_HIGH)
    if fields is not None:
        bad = bad.any(axis=0)
    n_hidden = 0
    if hidden is not None and (hidden_bad := bad & hidden).any():
        n_hidden = int(np.count_nonzero(hidden_bad))
        values[..., hidden_bad] = 0.0
        bad &= ~hidden
    n_bad, npix = int(np.count_nonzero(bad)), bad.size
    usable = ~bad if hidden is None else ~(bad | hidden)
    note = f" ({coverage})" if coverage else ""
    if not usable.any():
        raise InputError(f"all {npix} pixels are NaN, inf or UNSEEN{note}: nothing to analyse")
    summary = f"{n_bad} of {npix} pixels ({100 * n_bad / npix:.3g} %) are NaN, inf or UNSEEN{note}"
    if n_bad and policy == "refuse":
        raise InputError(f"{summary}; the bad-pixel policy is 'refuse': choose bad_pixels='fill-mean' to fill them with the mean of the valid pixels, or 'mask' to mask them")
    layers = [values] if fields is None else list(values)
    means = []
    for layer in layers if n_bad and policy == "fill-mean" else ():
        means.append(float(np.mean(layer, where=usable)))
        layer[bad] = means[-1]
    if policy == "mask":
        values[..., bad] = 0.0
    treated = "masked" if policy == "mask" else f"filled with the mean of the valid pixels ({', '.join(f'{m:.6g}' for m in means)})"
    description = f"{summary}, {treated}" if n_bad else "no masked pixels"
    if n_hidden:
        description += f"; {n_hidden} bad pixels inside the mask set to 0"
    for k, layer in enumerate(layers):
        high, low = layer.max(), layer.min()
        if high == low:
            raise InputError(CONSTANT_MAP if fields is None else f"field {fields.names[k]!r}: {CONSTANT_MAP}")
        check_magnitude(max(high, -low))
    return (n_bad + n_hidden) / npix, description, bad if policy == "mask" else None
