"""Reading .npy and .npz maps: the grid (and HEALPix ordering) must be declared, by option or by a
JSON sidecar ``<stem>.json``; the header is validated before any data are read (docs/inputs.md).
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import InputError
from pipeline.io.checks import GRIDS, Harmonics, Pixels, bandlimit_of, check_complete, check_dtype, parser_errors
from pipeline.sphere.grids import RING_SCHEMES, Grid, HealpixGrid, RingGrid

if TYPE_CHECKING:
    from pipeline.io.readers import ReaderOptions



SIDECAR_KEYS = ("grid", "ordering", "fields", "pol_convention")
"""Keys of a sidecar: the grid, the HEALPix ordering, the names of the fields along the array's
leading axis (several fields per file), the polarisation convention of its spin-2 pair."""


@dataclass(frozen=True)
class Sidecar:
    """What a sidecar declares about the array itself (the rest completes the options)."""

    field_names: tuple[str, ...] | None = None
    pol_convention: str | None = None


def _declared(path: Path, options: ReaderOptions) -> tuple[ReaderOptions, Sidecar]:
    """Options completed by the sidecar ``<stem>.json``, if any (a disagreement is an error), and
    the sidecar's field names and convention."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return options, Sidecar()
    try:
        content = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"sidecar {sidecar.name} is not readable JSON ({err})") from err
    if not isinstance(content, dict) or not set(content) <= set(SIDECAR_KEYS):
        raise InputError(f"sidecar {sidecar.name} must be a JSON object with keys {', '.join(SIDECAR_KEYS)} only")
    names = content.get("fields")
    if names is not None and not (isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)):
        raise InputError(f"sidecar {sidecar.name}: fields must be a list of the names of the array's leading axis, got {names!r}")
    convention = content.get("pol_convention")
    if convention is not None and not isinstance(convention, str):
        raise InputError(f"sidecar {sidecar.name}: pol_convention must be COSMO or IAU, got {convention!r}")
    declared = {key: value for key, value in content.items() if value is not None and key in ("grid", "ordering")}
    for key, value in declared.items():
        if getattr(options, key) not in (None, value):
            raise InputError(f"the sidecar {sidecar.name} declares {key} = {value!r} but the options declare {getattr(options, key)!r}")
    try:
        options = replace(options, **declared)
    except InputError as err:
        raise InputError(f"sidecar {sidecar.name}: {err}") from None
    return options, Sidecar(tuple(names) if names else None, content.get("pol_convention"))


def _field_rows(n_rows: int, options: ReaderOptions, sidecar: Sidecar) -> list[int]:
    """Rows of the leading axis holding options.fields: indices, or names from the sidecar."""
    names = [n.upper() for n in sidecar.field_names or ()]
    if sidecar.field_names is not None and len(names) != n_rows:
        raise InputError(f"the sidecar names {len(names)} fields for an array of {n_rows} along its leading axis")
    rows = []
    for f in options.fields:
        token = str(f)
        if token.isdigit() and int(token) < n_rows:
            rows.append(int(token))
        elif token.upper() in names:
            rows.append(names.index(token.upper()))
        else:
            held = f"named {', '.join(sidecar.field_names)}" if sidecar.field_names else f"indices 0..{n_rows - 1} (no fields in a sidecar)"
            raise InputError(f"field {token!r} is not in the array: its leading axis holds {held}")
    if len(set(rows)) != len(rows):
        raise InputError(f"fields {', '.join(map(str, options.fields))} name a row twice")
    return rows


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
        return bandlimit_of(shape[0])
    if options.ordering is None:
        raise InputError(f"HEALPix ordering not declared: set ordering (RING or NESTED) in the options or in a sidecar {sidecar}")
    return HealpixGrid.from_npix(shape[0], options.ordering)


def _read_npy_stream(fp, nbytes: int, options: ReaderOptions, sidecar: Sidecar, sidecar_name: str) -> Pixels | Harmonics:
    """One .npy stream of `nbytes` bytes: header validated before any data are read."""
    version = np.lib.format.read_magic(fp)
    if version not in ((1, 0), (2, 0)):
        raise InputError(f"unsupported .npy format version {version[0]}.{version[1]}")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(fp)
    check_dtype(dtype, options.grid)
    several = options.fields is not None and options.grid != "alm"
    if several and len(shape) < 2:
        raise InputError(f"fields are read from an array with a leading field axis, got shape {shape}")
    grid = _npy_grid(shape[1:] if several else shape, options, sidecar_name)
    rows = _field_rows(shape[0], options, sidecar) if several else None
    check_complete(math.prod(shape) * dtype.itemsize, nbytes - fp.tell())
    fp.seek(0)
    array = np.lib.format.read_array(fp, allow_pickle=False)
    if options.grid == "alm":
        return Harmonics(np.ascontiguousarray(array, dtype=np.complex128), grid)
    values = np.ascontiguousarray(array if rows is None else array[rows], dtype=np.float64)
    return Pixels(values, grid, pol_convention=sidecar.pol_convention)


def read_numpy(path: Path, fmt: str, options: ReaderOptions) -> Pixels | Harmonics:
    options, sidecar = _declared(path, options)
    name = path.with_suffix(".json").name
    if fmt == "npy":
        with parser_errors("valid .npy"), open(path, "rb") as fp:
            return _read_npy_stream(fp, path.stat().st_size, options, sidecar, name)
    with parser_errors("valid .npz"), zipfile.ZipFile(path) as archive:
        member = _npz_member(archive, options.npz_key)
        with archive.open(member) as fp:
            return _read_npy_stream(fp, member.file_size, options, sidecar, name)


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
