"""Reading HEALPix FITS files: full-sky (IMPLICIT) and partial-sky (EXPLICIT) map tables and
healpy alm tables; ordering and NSIDE come from the header, and a declaration that disagrees with
it is an error (docs/inputs.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits

from pipeline.errors import InputError
from pipeline.io.checks import (
    ORDERINGS,
    UNSEEN,
    Harmonics,
    Pixels,
    bandlimit_of,
    check_complete,
    check_dtype,
    parser_errors,
)
from pipeline.sphere.grids import HealpixGrid

if TYPE_CHECKING:
    from pipeline.io.readers import ReaderOptions



def read_fits(path: Path, options: ReaderOptions) -> Pixels | Harmonics:
    with parser_errors("valid FITS"), fits.open(path, memmap=True, mode="readonly") as hdul:
        if len(hdul) < 2 or not isinstance(hdul[1], fits.BinTableHDU):
            raise InputError("no binary table in HDU 1: not a HEALPix map or a harmonic-coefficient table")
        table = hdul[1]
        check_complete(table.size, path.stat().st_size - table.fileinfo()["datLoc"])
        is_alm = sorted(name.upper() for name in table.columns.names) == ["IMAG", "INDEX", "REAL"]
        holds, grid = ("harmonic coefficients", "alm") if is_alm else ("a HEALPix map", "healpix")
        if options.grid not in (None, grid):
            raise InputError(f"the file holds {holds} but the options declare grid = {options.grid!r}")
        return _alm_table(table) if is_alm else _healpix_table(table, options, hdul[0].header)


def _alm_table(table: fits.BinTableHDU) -> Harmonics:
    """healpy/Healpix alm table: columns INDEX = l*l + l + m + 1, REAL, IMAG."""
    index, real, imag = (np.asarray(table.data.field(name)).reshape(-1) for name in ("INDEX", "REAL", "IMAG"))
    if index.dtype.kind not in "iu" or real.dtype.kind != "f" or imag.dtype.kind != "f":
        raise InputError("an alm table needs an integer INDEX column and floating-point REAL and IMAG columns")
    L = bandlimit_of(index.size)
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
    return Harmonics(alm, L)


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


COLUMN_ALIASES = {"T": "TEMPERATURE"}


def _select_column(names: list[str], field: str | int | None) -> str:
    """The column `field` names: its 0-based index, its name, or the start of one name before "_"
    (Q: Q_POLARISATION or Q_STOKES; T also TEMPERATURE)."""
    if field is None:
        if len(names) != 1:
            raise InputError(f"the table has {len(names)} map columns ({', '.join(names)}): choose one with field (a name or a 0-based index)")
        return names[0]
    if isinstance(field, int) or field.isdigit():
        if int(field) < len(names):
            return names[int(field)]
    else:
        key = field.upper()
        matches = [name for name in names if name.upper() == key] or [
            name for name in names if name.upper().startswith(key + "_") or name.upper() == COLUMN_ALIASES.get(key)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise InputError(f"field {field!r} matches several map columns ({', '.join(matches)}): name one exactly")
    raise InputError(f"field {field!r} names no map column: the table has {', '.join(names)}")


def _selected_columns(names: list[str], options: ReaderOptions) -> list[str]:
    if options.fields is None:
        return [_select_column(names, options.field)]
    selected = [_select_column(names, f) for f in options.fields]
    if len(set(selected)) != len(selected):
        raise InputError(f"fields {', '.join(map(str, options.fields))} name the columns {', '.join(selected)}: a column twice")
    return selected


def _healpix_table(table: fits.BinTableHDU, options: ReaderOptions, primary: fits.Header) -> Pixels:
    """Full-sky (INDXSCHM = IMPLICIT) or partial-sky (EXPLICIT: PIXEL column) HEALPix table, one
    column or (options.fields) several, stacked (n_fields, npix)."""
    header = table.header
    convention = header.get("POLCCONV", primary.get("POLCCONV"))
    pixtype = str(header.get("PIXTYPE", "HEALPIX")).strip().upper()
    if pixtype != "HEALPIX":
        raise InputError(f"PIXTYPE = {pixtype!r} in the header: not a HEALPix map")
    ordering = _header_ordering(header, options.ordering)
    nside = _header_nside(header)
    explicit = str(header.get("INDXSCHM", "IMPLICIT")).strip().upper() == "EXPLICIT"
    names = [name for name in table.columns.names if not (explicit and name.upper() == "PIXEL")]
    columns = [table.data.field(name) for name in _selected_columns(names, options)]
    for column in columns:
        check_dtype(column.dtype, "healpix")
    column = columns[0]
    convention = None if convention is None else str(convention)
    if not explicit:
        if nside is None:
            grid = HealpixGrid.from_npix(column.size, ordering)
        else:
            grid = HealpixGrid(nside, ordering)
            if column.size != grid.npix:
                raise InputError(f"{column.size} pixels do not match NSIDE = {nside}: expected 12 * NSIDE**2 = {grid.npix}")
        values = np.empty((len(columns), grid.npix))  # the one copy: >f4 -> float64
        for row, c in zip(values, columns):
            row[:] = c.reshape(-1)
        return Pixels(values if options.fields else values[0], grid, pol_convention=convention)
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
    values = np.full((len(columns), grid.npix), UNSEEN)
    values[:, pixels] = np.stack([c.reshape(-1) for c in columns])
    return Pixels(values if options.fields else values[0], grid,
                  f"partial-sky file: {n_observed} of {grid.npix} pixels observed, the rest set to UNSEEN", convention)
