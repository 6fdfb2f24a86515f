"""Inspect and verify a cache: what it holds, and whether every claimed result is really there.

verify reads every chunk of every done map (crc32c makes corruption an error, NaN fill makes a
missing chunk visible) and checks that each record is consistent; it returns the problems with
the cache index and source of each affected map, so that a repair recomputes exactly those.
changed_inputs (verify --inputs) also re-reads every input and compares it with its recorded sha256,
and changed_masks every map's own mask file (docs/masks.md section 1).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from pipeline.errors import describe
from pipeline.io.readers import file_sha256
from pipeline.store.cache import Cache
from pipeline.store.format import (
    DONE,
    FAILED,
    MASKED_ARRAYS,
    PENDING,
    PLANNER_RECORDS,
    RESULT_RECORDS,
    coefficients_digest,
)
from pipeline.store.map_records import DAMAGED_PLANNER_RECORDS
from pipeline.store.zarr_io import chunk_reads


@dataclass(frozen=True)
class Problem:
    index: int | None  # cache index of the affected map (None: the cache as a whole)
    source: str
    message: str
    damage: bool = True  # False: the store is sound, the map failed on its input or is not computed yet

    def __str__(self) -> str:
        where = f"map {self.index} ({self.source}): " if self.index is not None else ""
        return where + self.message


def summary(cache: Cache) -> dict:
    """Plain-JSON overview: configuration, paths, counts by status, failures. Maps of an
    unreadable status chunk count as pending, and such a cache is never called complete."""
    status = cache.status()
    unreadable = sum(1 for _, values, _ in chunk_reads(cache.array("maps/status")) if values is None)
    attrs = cache.group.attrs.asdict()
    errors = cache.group["maps/error"][: cache.n_maps] if cache.n_maps else []
    sources = cache.sources()
    return {
        "config": attrs["config"],
        "config_hash": attrs["config_hash"],
        "L0": attrs["L0"],
        "n_paths": attrs["n_paths"],
        "channels_by_kind": dict(Counter(cache.layout.kinds)),
        "channels_by_field": {f: n for f, n in Counter(cache.layout.fields).items() if f},
        "input_spectra": list(cache.layout.spectra),
        "mask": attrs.get("mask"),
        "per_map_masks": _per_map_fractions(cache, status == DONE) if cache.layout.per_map_mask else None,
        "maps": int(cache.n_maps),
        "done": int(np.sum(status == DONE)),
        "failed": int(np.sum(status == FAILED)),
        "pending": int(np.sum(status == PENDING)),
        "complete": bool(attrs.get("complete", False)) and not unreadable,
        "unreadable_status_chunks": unreadable,
        "created": attrs["created"],
        "updated": attrs["updated"],
        "failures": [f"{sources[i]}: {errors[i]}" if not str(errors[i]).startswith(sources[i]) else str(errors[i])
                     for i in np.flatnonzero(status == FAILED)],
        "versions": attrs["provenance"]["versions"],
    }


def _per_map_fractions(cache: Cache, done: np.ndarray) -> dict:
    """Over the done maps of a cache with per-map masks: how many have a mask file of their own,
    whether bad pixels are masked, and the minimum, median and maximum of their observed sky
    fraction and of each channel's valid fraction."""
    rows, masks = np.flatnonzero(done), cache.own_masks()

    def spread(values: np.ndarray) -> list:
        return np.quantile(values, [0, 0.5, 1], axis=0).T.tolist() if rows.size else []

    return {"maps": int(rows.size), "own_mask_files": sum(bool(masks[i]) for i in rows),
            "bad_pixels_masked": cache.input_options["reader"]["bad_pixels"] == "mask",
            "observed_fraction": spread(cache.array("observed_fraction")[: cache.n_maps][rows]),
            "valid_fractions": spread(cache.array("valid_fractions")[: cache.n_maps][rows])}


def _map_chunks(cache: Cache, name: str):
    """``chunk_reads`` of array `name`, rows limited to the cache's maps (arrays may be longer)."""
    for rows, values, error in chunk_reads(cache.array(name)):
        if rows.start < cache.n_maps:
            yield range(rows.start, min(rows.stop, cache.n_maps)), values, error


def verify(cache: Cache) -> list[Problem]:
    """Every problem found, by map; an empty list means every done map is fully and correctly stored."""
    problems: list[Problem] = []
    n = cache.n_maps
    shapes = cache.layout.row_shapes
    for name, shape in shapes.items():  # longer than N (an interrupted append, trimmed by the next run) is fine
        found = cache.group[name].shape
        if found[0] < n or found[1:] != shape:
            problems.append(Problem(None, "", f"array {name} has shape {found}, expected ({n} or more, *{shape})"))
    for name in cache.records:
        if cache.group[f"maps/{name}"].shape[0] < n:
            problems.append(Problem(None, "", f"record maps/{name} has {cache.group[f'maps/{name}'].shape[0]} entries, expected {n}"))
    for name in (r for r in (*PLANNER_RECORDS, "mask") if r in cache.records):
        problems += [Problem(None, "", f"{error}: {DAMAGED_PLANNER_RECORDS}") for _, _, error in chunk_reads(cache.array(f"maps/{name}")) if error]
    if problems:
        return problems
    sources = cache.sources()
    status = cache.status()
    for name in (f"maps/{r}" for r in (*RESULT_RECORDS, "status") if r in cache.records):  # records lost: maps suspect
        for rows, values, error in _map_chunks(cache, name):
            if error:
                problems += [Problem(i, sources[i], error) for i in rows]
            elif name == "maps/error":
                problems += [Problem(i, sources[i], f"failed: {values[i - rows.start]}", damage=False)
                             for i in rows if status[i] == FAILED]
            elif name == "maps/sha256":
                problems += [Problem(i, sources[i], "no input sha256 recorded although the map is marked done")
                             for i in rows if status[i] == DONE and len(str(values[i - rows.start])) != 64]
    problems += [Problem(i, sources[i], "not computed yet (pending)", damage=False) for i in np.flatnonzero(status == PENDING)]
    digests = cache.group["maps/coefficients_sha256"][: cache.n_maps] if "coefficients_sha256" in cache.records else None
    valid = _valid_channels(cache)
    for name in shapes:
        for rows, values, error in _map_chunks(cache, name):
            for i in rows:
                if status[i] != DONE:
                    continue
                channels = valid[i] if name in MASKED_ARRAYS else ...  # NaN masked invariants: a channel with no valid region
                if error:
                    problems.append(Problem(i, sources[i], error))
                elif not _finite(name, values[i - rows.start][channels]):
                    problems.append(Problem(i, sources[i], f"{name} missing or not finite although the map is marked done"))
                elif name == "coefficients" and digests is not None and digests[i] and (
                        coefficients_digest(values[i - rows.start]) != digests[i]):
                    problems.append(Problem(i, sources[i], "coefficients do not match the digest written with the map "
                                                           "(another map's chunk, or altered)"))
    return sorted(problems, key=lambda p: -1 if p.index is None else p.index)


def _finite(name: str, values: np.ndarray) -> bool:
    """Whether a done map's row of array `name` (its valid channels only, for masked arrays) is sound:
    finite, except the masked spectra at l >= 1 of a channel whose region resolves no bandpower
    (all NaN there: docs/masks.md section 4)."""
    if name != "masked_power_spectra":
        return bool(np.all(np.isfinite(values)))
    higher = values[..., 1:]
    unresolved = np.all(np.isnan(higher), axis=-1)
    return bool(np.all(np.isfinite(values[..., 0])) and np.all(np.isfinite(higher[~unresolved])))


def _valid_channels(cache: Cache) -> np.ndarray | None:
    """(N, P) bool: the channels of each map with a valid region (a masked cache; the shared mask's
    for every map, or each map's own; False where its valid fractions are unreadable or not written)."""
    if not cache.layout.masked:
        return None
    if not cache.layout.per_map_mask:
        return np.broadcast_to(np.array(cache.group.attrs["mask"]["valid_fractions"]) > 0, (cache.n_maps, cache.layout.n_paths))
    valid = np.zeros((cache.n_maps, cache.layout.n_paths), dtype=bool)
    for rows, values, _ in _map_chunks(cache, "valid_fractions"):
        if values is not None:
            valid[rows.start : rows.stop] = values[: len(rows)] > 0
    return valid


def changed_masks(cache: Cache, indices: list[int] | None = None) -> list[Problem]:
    """Done maps (of `indices`; None: all) whose own mask file is gone or no longer has the sha256
    recorded when they were scattered: their coefficients and validity describe another mask.
    Reads each mask file once; none in a cache without per-map masks."""
    if "mask" not in cache.records:
        return []
    sources, masks, status = cache.sources(), cache.own_masks(), cache.status()
    wanted = set(range(cache.n_maps) if indices is None else indices)
    now: dict[str, str] = {}  # mask file -> its sha256 now, or why it cannot be read
    problems = []
    for rows, recorded, error in _map_chunks(cache, "maps/mask_sha256"):
        for i in (i for i in rows if not error and i in wanted and status[i] == DONE and masks[i]):
            if masks[i] not in now:
                try:
                    now[masks[i]] = file_sha256(masks[i])
                except OSError as err:
                    now[masks[i]] = f"unreadable ({describe(err)})"
            current, before = now[masks[i]], str(recorded[i - rows.start])
            if current != before:
                why = current if current.startswith("unreadable") else \
                    f"changed since the map was scattered (sha256 {current[:12]}..., recorded {before[:12]}...)"
                problems.append(Problem(i, sources[i], f"mask {masks[i]} {why}"))
    return problems


def changed_inputs(cache: Cache) -> list[Problem]:
    """Done maps whose input file is gone or no longer has the sha256 recorded when it was
    scattered: their coefficients describe another file. Reads every input file."""
    sources, status = cache.sources(), cache.status()
    problems = []
    for rows, recorded, error in _map_chunks(cache, "maps/sha256"):
        for i in (i for i in rows if not error and status[i] == DONE):
            try:
                now = file_sha256(sources[i])
            except OSError as err:
                problems.append(Problem(i, sources[i], f"input unreadable ({describe(err)})"))
                continue
            if now != recorded[i - rows.start]:
                problems.append(Problem(i, sources[i], f"input changed since it was scattered (sha256 {now[:12]}..., "
                                                       f"recorded {str(recorded[i - rows.start])[:12]}...)"))
    return problems


def find_problems(cache: Cache, check_inputs: bool = False) -> list[Problem]:
    """``verify``, and with `check_inputs` also ``changed_inputs`` and ``changed_masks`` (skipped
    when the cache as a whole is damaged: such problems come alone), by cache index."""
    problems = verify(cache)
    if check_inputs and all(p.index is not None for p in problems):
        problems = sorted(problems + changed_inputs(cache) + changed_masks(cache), key=lambda p: p.index)
    return problems
