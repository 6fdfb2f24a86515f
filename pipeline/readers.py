"""Read one input map (HEALPix FITS, .npy, .npz) or harmonic-coefficient file into native float64.

Nothing about an input is guessed (pitfalls.md, "Users of spherical tools" 5-9): the grid and the
HEALPix ordering come from the FITS header, from the options, or from a JSON sidecar
``<stem>.json`` (keys ``grid`` and, for HEALPix, ``ordering``) next to a .npy / .npz file, and a
declaration that disagrees with another is an error. NESTED maps stay NESTED: reordering is the
harmonic layer's job (``pipeline.harmonic``). UNSEEN / NaN / inf pixels are refused unless the
policy ``bad_pixels='fill-mean'`` is chosen; the masked fraction is recorded either way.

Every problem with a file is one ``InputError`` whose message starts with the file's path.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import tokenize
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
from astropy.io import fits

from pipeline.alm import n_alm
from pipeline.errors import InputError
from pipeline.grids import RING_SCHEMES, Grid, HealpixGrid, RingGrid

UNSEEN = -1.6375e30
"""HEALPix's marker for unobserved pixels; matched with healpy's tolerance |x - UNSEEN| <= 1e-5 |UNSEEN|."""
_UNSEEN_LOW, _UNSEEN_HIGH = UNSEEN * (1 + 1e-5), UNSEEN * (1 - 1e-5)

GRIDS = ("healpix", *RING_SCHEMES, "alm")
ORDERINGS = ("RING", "NESTED")
BAD_PIXEL_POLICIES = ("refuse", "fill-mean")
MAP_EXTENSIONS = {".fits": "fits", ".fit": "fits", ".fts": "fits", ".npy": "npy", ".npz": "npz"}
"""File suffixes read (case-insensitive) and their format."""
_CONSTANT = "the map is constant (zero variance): nothing to analyse"

# What the parsers (astropy, numpy.lib.format, zipfile) raise on corrupt or truncated bytes, as
# found by fuzzing (tests/test_readers_property.py).
_PARSER_ERRORS = (
    OSError, EOFError, ValueError, TypeError, LookupError, ArithmeticError, NotImplementedError,
    struct.error, zipfile.BadZipFile, zlib.error, tokenize.TokenError, fits.VerifyError,
)


@dataclass(frozen=True)
class ReaderOptions:
    """How to read inputs; every field left None is taken from the file (header or sidecar).

    grid: 'healpix', a ring scheme of ``grids.RING_SCHEMES`` (an H x 2H 360-degree image is 'f1'
        when cell-centred, 'dh' when its first row is the north pole) or 'alm' (complex
        coefficients, healpy/ducc0 m-major layout, lmax = mmax).
    ordering: HEALPix pixel ordering, 'RING' or 'NESTED'.
    field: FITS column holding the map, by name or 0-based index (needed when there are several).
    npz_key: array of a .npz archive holding the map (needed when there are several).
    bad_pixels: 'refuse' (default) or 'fill-mean' (NaN / inf / UNSEEN pixels set to the plain,
        unweighted mean of the valid pixels).
    """

    grid: str | None = None
    ordering: str | None = None
    field: str | int | None = None
    npz_key: str | None = None
    bad_pixels: str = "refuse"

    def __post_init__(self) -> None:
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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ReaderOptions":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"unknown reader options: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass(frozen=True, eq=False)
class MapData:
    """One input, read. Either `values` (read-only native float64, shape ``grid.shape``, in the
    file's own pixel ordering) or, for harmonic input, `alm` (complex128, layout of
    ``pipeline.alm``) with bandlimit `alm_L`; the other pair is None."""

    values: np.ndarray | None
    grid: Grid | None
    alm: np.ndarray | None
    alm_L: int | None
    masked_fraction: float
    mask_description: str
    sha256: str
    source: str


@dataclass(frozen=True, eq=False)
class _Pixels:
    values: np.ndarray  # our own float64 copy, filled in place by the bad-pixel policy
    grid: Grid
    coverage: str = ""  # set for partial-sky files


@dataclass(frozen=True, eq=False)
class _Harmonics:
    alm: np.ndarray
    L: int


def map_format(path: str | Path) -> str:
    """'fits', 'npy' or 'npz' from the file's suffix; InputError (naming the file) otherwise."""
    suffix = Path(path).suffix
    if suffix.lower() not in MAP_EXTENSIONS:
        raise InputError(f"{path}: unknown file type {suffix!r}: expected one of {', '.join(MAP_EXTENSIONS)}")
    return MAP_EXTENSIONS[suffix.lower()]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes: the input hash recorded with each map (maps/sha256)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_map(path: str | Path, options: ReaderOptions = ReaderOptions()) -> MapData:
    """Read one map or coefficient file; any problem with it is one InputError naming it."""
    source = str(path)
    path = Path(path)
    fmt = map_format(path)
    try:
        if not path.is_file():
            raise InputError("file not found")
        with _parser_errors("readable"):
            sha256 = file_sha256(path)
        read = _read_fits(path, options) if fmt == "fits" else _read_numpy(path, fmt, options)
        if isinstance(read, _Harmonics):
            return MapData(values=None, grid=None, alm=_checked_alm(read.alm), alm_L=read.L, masked_fraction=0.0,
                           mask_description="harmonic input", sha256=sha256, source=source)
        masked_fraction, description = _apply_bad_pixel_policy(read.values, options.bad_pixels, read.coverage)
        read.values.flags.writeable = False
        return MapData(values=read.values, grid=read.grid, alm=None, alm_L=None, masked_fraction=masked_fraction,
                       mask_description=description, sha256=sha256, source=source)
    except InputError as err:
        raise InputError(f"{source}: {err}") from err.__cause__


@contextmanager
def _parser_errors(what: str):
    """Turn a parser's exception on bad bytes into an InputError (our own InputErrors pass)."""
    try:
        yield
    except InputError:
        raise
    except _PARSER_ERRORS as err:
        raise InputError(f"not a {what} file ({type(err).__name__}: {err})") from err


def _check_complete(needed: int, available: int) -> None:
    if available < needed:
        raise InputError(f"truncated file: the header declares {needed} bytes of data, only {available} are present")


def _check_dtype(dtype: np.dtype, grid: str | None) -> None:
    """Maps are real floating point; harmonic coefficients complex; nothing pickled."""
    if dtype.hasobject:
        raise InputError("object arrays are not accepted: their data are pickled, and pickles are never loaded")
    if grid == "alm":
        if dtype.kind != "c":
            raise InputError(f"harmonic coefficients must be complex, got {dtype}")
    elif dtype.kind == "c":
        raise InputError(f"complex data ({dtype}) are accepted only as harmonic coefficients: declare grid 'alm'")
    elif dtype.kind != "f":
        raise InputError(f"{dtype} data are not accepted: a map must hold floating-point values")


def _bandlimit_of(n: int) -> int:
    """L with L (L + 1) / 2 = n coefficients (layout with lmax = mmax)."""
    L = (math.isqrt(8 * n + 1) - 1) // 2
    if n < 1 or n_alm(L) != n:
        raise InputError(f"{n} coefficients do not form a full set: expected L*(L+1)/2 (healpy/ducc0 layout, lmax = mmax)")
    return L


def _checked_alm(alm: np.ndarray) -> np.ndarray:
    bad = int(np.count_nonzero(~np.isfinite(alm)))
    if bad:
        raise InputError(f"{bad} of {alm.size} harmonic coefficients are NaN or inf")
    if not np.any(alm[1:]):  # only a_00 (index 0) nonzero: a constant map
        raise InputError(_CONSTANT)
    alm.flags.writeable = False
    return alm


def _apply_bad_pixel_policy(values: np.ndarray, policy: str, coverage: str) -> tuple[float, str]:
    """Find NaN / inf / UNSEEN pixels, refuse or fill them (in place); (masked fraction, description)."""
    bad = ~np.isfinite(values)
    bad |= (values >= _UNSEEN_LOW) & (values <= _UNSEEN_HIGH)
    n_bad, npix = int(np.count_nonzero(bad)), values.size
    note = f" ({coverage})" if coverage else ""
    if n_bad == npix:
        raise InputError(f"all {npix} pixels are NaN, inf or UNSEEN{note}: nothing to analyse")
    summary = f"{n_bad} of {npix} pixels ({100 * n_bad / npix:.3g} %) are NaN, inf or UNSEEN{note}"
    if n_bad and policy == "refuse":
        raise InputError(f"{summary}; the bad-pixel policy is 'refuse': choose bad_pixels='fill-mean' to fill them with the mean of the valid pixels")
    if n_bad:
        mean = float(np.mean(values, where=~bad))
        values[bad] = mean
        description = f"{summary}, filled with the mean of the valid pixels ({mean:.6g})"
    else:
        description = "no masked pixels"
    if values.max() == values.min():
        raise InputError(_CONSTANT)
    return n_bad / npix, description


# ---------------------------------------------------------------- .npy / .npz


def _declared(path: Path, options: ReaderOptions) -> ReaderOptions:
    """Options completed by the sidecar ``<stem>.json``, if any; a disagreement is an error."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return options
    try:
        content = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"sidecar {sidecar.name} is not readable JSON ({err})") from err
    if not isinstance(content, dict) or not set(content) <= {"grid", "ordering"}:
        raise InputError(f"sidecar {sidecar.name} must be a JSON object with keys 'grid' and (for HEALPix) 'ordering' only")
    declared = {key: value for key, value in content.items() if value is not None}
    for key, value in declared.items():
        if getattr(options, key) not in (None, value):
            raise InputError(f"the sidecar {sidecar.name} declares {key} = {value!r} but the options declare {getattr(options, key)!r}")
    try:
        return replace(options, **declared)
    except InputError as err:
        raise InputError(f"sidecar {sidecar.name}: {err}") from None


def _npy_grid(shape: tuple[int, ...], options: ReaderOptions, sidecar: str) -> Grid | int:
    """The declared grid of an array of `shape` (for 'alm': its bandlimit L)."""
    if options.grid is None:
        raise InputError(f"no grid declared: set grid ({', '.join(GRIDS)}) in the options or in a sidecar {sidecar}")
    if options.grid in RING_SCHEMES:
        return RingGrid.from_shape(options.grid, shape)
    what = "harmonic coefficients" if options.grid == "alm" else "a HEALPix map"
    if len(shape) != 1:
        raise InputError(f"{what} must be a 1-D array, got shape {shape}")
    if options.grid == "alm":
        return _bandlimit_of(shape[0])
    if options.ordering is None:
        raise InputError(f"HEALPix ordering not declared: set ordering (RING or NESTED) in the options or in a sidecar {sidecar}")
    return HealpixGrid.from_npix(shape[0], options.ordering)


def _read_npy_stream(fp, nbytes: int, options: ReaderOptions, sidecar: str) -> _Pixels | _Harmonics:
    """One .npy stream of `nbytes` bytes: header validated before any data are read."""
    version = np.lib.format.read_magic(fp)
    if version not in ((1, 0), (2, 0)):
        raise InputError(f"unsupported .npy format version {version[0]}.{version[1]}")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(fp)
    _check_dtype(dtype, options.grid)
    grid = _npy_grid(shape, options, sidecar)
    _check_complete(math.prod(shape) * dtype.itemsize, nbytes - fp.tell())
    fp.seek(0)
    array = np.lib.format.read_array(fp, allow_pickle=False)
    if options.grid == "alm":
        return _Harmonics(np.ascontiguousarray(array, dtype=np.complex128), grid)
    return _Pixels(np.ascontiguousarray(array, dtype=np.float64), grid)


def _read_numpy(path: Path, fmt: str, options: ReaderOptions) -> _Pixels | _Harmonics:
    options = _declared(path, options)
    sidecar = path.with_suffix(".json").name
    if fmt == "npy":
        with _parser_errors("valid .npy"), open(path, "rb") as fp:
            return _read_npy_stream(fp, path.stat().st_size, options, sidecar)
    with _parser_errors("valid .npz"), zipfile.ZipFile(path) as archive:
        member = _npz_member(archive, options.npz_key)
        with archive.open(member) as fp:
            return _read_npy_stream(fp, member.file_size, options, sidecar)


def _npz_member(archive: zipfile.ZipFile, key: str | None) -> zipfile.ZipInfo:
    members = {info.filename.removesuffix(".npy"): info for info in archive.infolist() if info.filename.endswith(".npy")}
    if key is not None:
        if key not in members:
            raise InputError(f"npz_key {key!r} is not in the archive: it holds {', '.join(members) or 'no arrays'}")
        return members[key]
    if not members:
        raise InputError("the archive holds no arrays")
    if len(members) > 1:
        raise InputError(f"the archive holds {len(members)} arrays ({', '.join(members)}): choose one with npz_key")
    return next(iter(members.values()))


# ---------------------------------------------------------------- FITS


def _read_fits(path: Path, options: ReaderOptions) -> _Pixels | _Harmonics:
    with _parser_errors("valid FITS"), fits.open(path, memmap=True, mode="readonly") as hdul:
        if len(hdul) < 2 or not isinstance(hdul[1], fits.BinTableHDU):
            raise InputError("no binary table in HDU 1: not a HEALPix map or a harmonic-coefficient table")
        table = hdul[1]
        _check_complete(table.size, path.stat().st_size - table.fileinfo()["datLoc"])
        is_alm = sorted(name.upper() for name in table.columns.names) == ["IMAG", "INDEX", "REAL"]
        holds, grid = ("harmonic coefficients", "alm") if is_alm else ("a HEALPix map", "healpix")
        if options.grid not in (None, grid):
            raise InputError(f"the file holds {holds} but the options declare grid = {options.grid!r}")
        return _alm_table(table) if is_alm else _healpix_table(table, options)


def _alm_table(table: fits.BinTableHDU) -> _Harmonics:
    """healpy/Healpix alm table: columns INDEX = l*l + l + m + 1, REAL, IMAG."""
    index, real, imag = (np.asarray(table.data.field(name)).reshape(-1) for name in ("INDEX", "REAL", "IMAG"))
    if index.dtype.kind not in "iu" or real.dtype.kind != "f" or imag.dtype.kind != "f":
        raise InputError("an alm table needs an integer INDEX column and floating-point REAL and IMAG columns")
    L = _bandlimit_of(index.size)
    k = index.astype(np.int64) - 1
    l = np.floor(np.sqrt(np.maximum(k, 0))).astype(np.int64)
    m = k - l * l - l
    position = m * (2 * L - 1 - m) // 2 + l
    seen = np.zeros(index.size, dtype=bool)
    valid = (k >= 0) & (m >= 0) & (l < L)
    seen[position[valid]] = True
    if not (valid.all() and seen.all()):
        raise InputError(f"the table must hold each (l, m) with 0 <= m <= l <= lmax = {L - 1} exactly once (INDEX = l*l + l + m + 1)")
    alm = np.empty(index.size, dtype=np.complex128)
    alm.real[position] = real
    alm.imag[position] = imag
    return _Harmonics(alm, L)


def _header_ordering(header: fits.Header, declared: str | None) -> str:
    raw = header.get("ORDERING")
    if raw is None:
        if declared is None:
            raise InputError("no ORDERING keyword in the header: declare ordering (RING or NESTED)")
        return declared
    ordering = {"NEST": "NESTED"}.get(str(raw).strip().upper(), str(raw).strip().upper())
    if ordering not in ORDERINGS:
        raise InputError(f"ORDERING = {raw!r} in the header: expected RING or NESTED")
    if declared not in (None, ordering):
        raise InputError(f"the header declares ORDERING = {ordering} but the options declare {declared}")
    return ordering


def _header_nside(header: fits.Header) -> int | None:
    nside = header.get("NSIDE")
    if nside is not None and type(nside) is not int:
        raise InputError(f"NSIDE = {nside!r} in the header is not an integer")
    return nside


def _select_column(names: list[str], field: str | int | None) -> str:
    if field is None:
        if len(names) != 1:
            raise InputError(f"the table has {len(names)} map columns ({', '.join(names)}): choose one with field (a name or a 0-based index)")
        return names[0]
    if isinstance(field, int):
        if field < len(names):
            return names[field]
    else:
        matches = [name for name in names if name.upper() == field.upper()]
        if matches:
            return matches[0]
    raise InputError(f"field {field!r} names no map column: the table has {', '.join(names)}")


def _healpix_table(table: fits.BinTableHDU, options: ReaderOptions) -> _Pixels:
    """Full-sky (INDXSCHM = IMPLICIT) or partial-sky (EXPLICIT: PIXEL column) HEALPix table."""
    header = table.header
    pixtype = str(header.get("PIXTYPE", "HEALPIX")).strip().upper()
    if pixtype != "HEALPIX":
        raise InputError(f"PIXTYPE = {pixtype!r} in the header: not a HEALPix map")
    ordering = _header_ordering(header, options.ordering)
    nside = _header_nside(header)
    explicit = str(header.get("INDXSCHM", "IMPLICIT")).strip().upper() == "EXPLICIT"
    names = [name for name in table.columns.names if not (explicit and name.upper() == "PIXEL")]
    column = table.data.field(_select_column(names, options.field))
    _check_dtype(column.dtype, "healpix")
    if not explicit:
        if nside is None:
            grid = HealpixGrid.from_npix(column.size, ordering)
        else:
            grid = HealpixGrid(nside, ordering)
            if column.size != grid.npix:
                raise InputError(f"{column.size} pixels do not match NSIDE = {nside}: expected 12 * NSIDE**2 = {grid.npix}")
        return _Pixels(np.array(column, dtype=np.float64).reshape(-1), grid)  # the one copy: >f4 -> float64
    if nside is None:
        raise InputError("partial-sky (EXPLICIT) table without NSIDE in the header")
    if "PIXEL" not in (name.upper() for name in table.columns.names):
        raise InputError("partial-sky (EXPLICIT) table without a PIXEL column")
    grid = HealpixGrid(nside, ordering)
    pixels = np.asarray(table.data.field("PIXEL")).reshape(-1)
    if pixels.dtype.kind not in "iu" or pixels.size != column.size:
        raise InputError(f"the PIXEL column must hold one integer index per value ({column.size} values)")
    if pixels.size and (pixels.min() < 0 or pixels.max() >= grid.npix):
        raise InputError(f"PIXEL indices must lie in [0, {grid.npix}) for NSIDE = {nside}")
    observed = np.zeros(grid.npix, dtype=bool)
    observed[pixels] = True
    n_observed = int(np.count_nonzero(observed))
    if n_observed != pixels.size:
        raise InputError("PIXEL indices repeat: each pixel may appear once")
    values = np.full(grid.npix, UNSEEN)
    values[pixels] = column.reshape(-1)
    return _Pixels(values, grid, f"partial-sky file: {n_observed} of {grid.npix} pixels observed, the rest set to UNSEEN")
