"""Expand the inputs named on a command line (files, folders, globs, manifest CSVs) into an ordered
list of maps to read.

Order is stable: the order given, with each folder's and each glob's matches sorted. A manifest
only *names* inputs (to be read): nothing in it can choose where the pipeline writes.
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import InputError
from pipeline.io.readers import MAP_EXTENSIONS, map_format

SPLITS = ("train", "val", "test")
_MAP_FILES = f"map files ({', '.join(MAP_EXTENSIONS)})"


@dataclass(frozen=True)
class InputSpec:
    """One map to read: its path, and what a manifest says about it (label, split, other columns,
    and its own mask file: docs/masks.md section 1).

    Local paths are made absolute (against the working directory) on construction, so that a
    cache records the same source whatever directory the command ran in; URLs stay as given.
    """

    source: str
    label: int | None = None
    split: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    mask: str | None = None

    def __post_init__(self) -> None:
        for name in ("source", "mask"):
            value = getattr(self, name)
            if value is not None and "://" not in value:
                object.__setattr__(self, name, os.path.abspath(value))


MISSING_POLICIES = ("refuse", "fail")
"""What a manifest row whose file does not exist does: refuse the whole run before anything is
computed (the default: a typo or an unmounted disk is cheaper to fix first), or become a map that
is recorded as failed ("file not found") while the others compute."""


def expand_inputs(items: Iterable[str | os.PathLike], missing: str = "refuse") -> list[InputSpec]:
    """Files, folders (their map files, non-recursive), glob patterns and manifests (``.csv``), in
    the order given; InputError for anything missing (manifest rows: see MISSING_POLICIES), a
    duplicate file, or no maps at all."""
    if missing not in MISSING_POLICIES:
        raise InputError(f"missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
    specs: list[InputSpec] = []
    for item in map(str, items):
        path = Path(item)
        if path.is_dir():
            found = _map_files(path.iterdir())
            if not found:
                raise InputError(f"{item}: folder holds no {_MAP_FILES}")
            specs += [InputSpec(str(p)) for p in found]
        elif path.is_file() and path.suffix.lower() == ".csv":
            specs += read_manifest(path, missing)
        elif path.is_file():
            map_format(path)
            specs.append(InputSpec(item))
        elif any(c in item for c in "*?["):
            found = _map_files(map(Path, glob.glob(item)))
            if not found:
                raise InputError(f"{item}: pattern matches no {_MAP_FILES}")
            specs += [InputSpec(str(p)) for p in found]
        else:
            raise InputError(f"{item}: no such file, folder or manifest")
    if not specs:
        raise InputError("no inputs given")
    _refuse_duplicates(specs)
    return specs


def read_manifest(path: str | os.PathLike, missing: str = "refuse") -> list[InputSpec]:
    """A CSV with a ``path`` column (relative paths are taken from the manifest's folder), optional
    ``label`` (integer >= 0), ``split`` (train / val / test) and ``mask`` (the map's own mask file,
    a path like ``path``'s; empty: none); other columns become metadata. Rows whose file (map or
    mask) does not exist refuse the manifest, or with missing="fail" are kept (their maps fail when read)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: not a readable CSV manifest ({err})") from err
    if not rows or "path" not in rows[0]:
        raise InputError(f"{path}: a manifest needs a 'path' column (header: {', '.join(rows[0]) if rows else 'empty'})")
    header = rows[0]
    if len(set(header)) != len(header) or "" in header:
        raise InputError(f"{path}: column names must be unique and non-empty (header: {', '.join(header)})")
    specs, numbers = [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            if row:  # blank lines are skipped
                raise InputError(f"{path}, row {number}: {len(row)} fields, the header has {len(header)}")
            continue
        specs.append(_manifest_row(f"{path}, row {number}", path.parent, dict(zip(header, row))))
        numbers.append(number)
    if not specs:
        raise InputError(f"{path}: manifest lists no maps")
    listed = [(number, name) for number, spec in zip(numbers, specs) for name in (spec.source, spec.mask) if name is not None]
    absent = [(number, name) for number, name in listed if not Path(name).is_file()]
    if absent and missing == "refuse":
        number, source = absent[0]
        raise InputError(f"{path}: {len(absent)} of {len(listed)} listed files do not exist (first: row {number}: {source}); "
                         f"nothing was computed; --missing fail records them as failed maps and computes the rest")
    return specs


def _manifest_row(where: str, folder: Path, row: dict[str, str]) -> InputSpec:
    name = row.pop("path").strip()
    if not name:
        raise InputError(f"{where}: empty path")
    source = folder / name  # an absolute `name` stays as it is
    mask = row.pop("mask", "").strip()
    try:
        map_format(source)
        if mask and map_format(mask) == "image":
            raise InputError(f"{mask}: a mask is a HEALPix FITS or a .npy / .npz map, not an image")
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    label = row.pop("label", "").strip()
    if label and not (label.isascii() and label.isdigit()):
        raise InputError(f"{where}: label {label!r} is not an integer >= 0")
    split = row.pop("split", "").strip()
    if split and split not in SPLITS:
        raise InputError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    return InputSpec(str(source), int(label) if label else None, split or None, row, str(folder / mask) if mask else None)


def _map_files(paths: Iterable[Path]) -> list[Path]:
    return sorted(p for p in paths if p.suffix.lower() in MAP_EXTENSIONS and p.is_file())


def input_identity(source: str) -> str:
    """What makes two spellings of a source one input: the real path of a local file ("maps/a.npy",
    "./maps/a.npy" and a symlink to it are one map), the URL itself otherwise."""
    return source if "://" in source else os.path.realpath(source)


def _refuse_duplicates(specs: list[InputSpec]) -> None:
    first: dict[str, str] = {}
    for spec in specs:
        key = input_identity(spec.source)
        if key in first:
            raise InputError(f"{spec.source}: duplicate input (the same file as {first[key]})")
        first[key] = spec.source
