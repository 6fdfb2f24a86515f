"""The Zarr v3 scattering cache: creation, resume, per-map writes (layout: cache_format.md).

The write protocol of docs/pipeline-rules.md sections 4-7: one writer; coefficients one map per
chunk, written by chunk-aligned regions (asserted); small arrays shared by many maps, rewritten a
whole chunk at a time; a map's status only after its data; NaN fill values and crc32c on every
chunk; metadata consolidated when a run completes; undecodable shared chunks dropped and recomputed.
"""

from __future__ import annotations

import datetime as _dt
import math
import warnings

import numpy as np
import zarr
import zarr.codecs
from zarr.core.sync import sync

from pipeline.errors import InputError, StoreDamage, describe
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.fields import channel_table
from pipeline.sphere.fields import FieldSet
from pipeline.store.format import (
    DATA_ARRAYS,
    DIMENSION_NAMES,
    DONE,
    FAILED,
    FORMAT,
    MASK_RECORDS,
    OPTIONAL_RECORDS,
    PENDING,
    READABLE_SCHEMA_VERSIONS,
    RECORD_CHUNK_MAPS,
    RECORDS,
    RESULT_RECORDS,
    CacheLayout,
    MapResult,
)
from pipeline.store.map_records import MapRecords
from pipeline.store.provenance import provenance
from pipeline.store.zarr_io import chunk_reads, delete_chunk, gather_all, open_store, region_write

_DATA_CODECS = [zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"), zarr.codecs.Crc32cCodec()]
"""Scattering coefficients barely compress (CMB caches: x1.11 with zstd level 5, x1.05 with lz4);
lz4 costs 0.1 ms per L0 = 32 map against zstd's 1.6 ms, which at L = 256 was 3.5 % of a map's work."""
_RECORD_CODECS = [zarr.codecs.Crc32cCodec()]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Cache(MapRecords):
    """An open cache group. Create with ``Cache.create`` or open with ``Cache.open``; the records
    of which input each map is: ``MapRecords``."""

    def __init__(self, group: zarr.Group):
        self.group = group
        attrs = group.attrs.asdict()
        if attrs.get("format") != FORMAT:
            raise InputError(f"{group.store} is not a scattering cache (no format attribute {FORMAT!r})")
        if attrs.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
            raise InputError(
                f"cache schema version {attrs.get('schema_version')!r} is not supported: expected one of "
                f"{list(READABLE_SCHEMA_VERSIONS)}"
            )
        missing, damaged = [], []
        for name in ("paths", *DATA_ARRAYS, *(f"maps/{r}" for r in RECORDS if r not in OPTIONAL_RECORDS)):
            try:
                group[name]  # reads the array's zarr.json
            except KeyError:
                missing.append(name)
            except (ValueError, TypeError) as err:  # JSONDecodeError is a ValueError
                damaged.append(f"{name} ({describe(err)})")
        if damaged:
            raise StoreDamage(f"{group.store}: the metadata (zarr.json) of {damaged[0]} is damaged: restore it, or rebuild "
                             f"the cache with --overwrite")
        if missing:
            raise InputError(f"{group.store} lacks {', '.join(missing)} (its creation was interrupted): rerun with --overwrite")
        self._arrays: dict[str, zarr.Array] = {}  # open handles: each lookup costs a metadata read
        self.config = ScatteringConfig.from_dict(attrs["config"])
        self.layout = CacheLayout.from_attributes(attrs)
        self.paths = list(self.layout.paths)
        self.input_options = attrs["input"]
        self.records = [r for r in (*RECORDS, *MASK_RECORDS) if f"maps/{r}" in group]  # OPTIONAL_RECORDS may be absent (older caches)

    # -- creation and opening ------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, mode: str = "r") -> "Cache":
        try:  # consolidated metadata is stale after an interrupted run that appended maps: bypass it
            group = zarr.open_group(open_store(url, mode), mode=mode, zarr_format=3, use_consolidated=False)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError) as err:
            raise InputError(f"no scattering cache at {url}: {err}") from err
        cache = cls(group)
        absent = set(OPTIONAL_RECORDS) - set(cache.records) if mode != "r" else set()
        for name in absent:  # a cache written before an optional record existed gets it, empty for its maps
            dtype, fill = RECORDS[name]
            group["maps"].create_array(name, shape=(cache.n_maps,), chunks=(RECORD_CHUNK_MAPS,), dtype=dtype,
                                       fill_value=fill, compressors=_RECORD_CODECS, dimension_names=("map",))
        return cls(group) if absent else cache

    @classmethod
    def create(
        cls, url: str, config: ScatteringConfig, input_options: dict, overwrite: bool, fields: FieldSet | None = None,
        mask: tuple[dict, np.ndarray | None] | None = None,
    ) -> "Cache":
        """A new, empty cache (0 maps) for the channels of `config`'s plan, for maps of `fields`
        (None: one field), observed through `mask` ((its summary, the shared mask's contamination
        maps or None for per-map masks); docs/masks.md). With overwrite, `url` is replaced."""
        mode = "w" if overwrite else "w-"
        table = channel_table(config, fields)
        layout = CacheLayout(config.L, config.L0, table.paths, table.kinds, table.fields, table.spectra, masked=mask is not None,
                             per_map_mask=bool(mask and mask[0].get("per_map")))
        attributes = {
            "format": FORMAT,
            "schema_version": layout.schema_version,
            "config": config.to_dict(),
            "config_hash": config.hash(),
            **layout.attributes(),
            "input": input_options,
            **({"mask": mask[0]} if mask else {}),
            "provenance": provenance(),
            "created": _now(),
            "updated": _now(),
            "complete": False,
        }
        # in the group's first zarr.json: an interrupted creation leaves a (broken) cache, which
        # --overwrite replaces, never an unmarked group that open_or_create_cache would refuse
        group = zarr.open_group(open_store(url, mode), mode=mode, zarr_format=3, attributes=attributes)
        group.create_array("paths", data=layout.path_table(), compressors=_RECORD_CODECS,
                           dimension_names=DIMENSION_NAMES["paths"])
        for name, labels in (("path_kinds", layout.kinds), ("path_fields", layout.fields)):
            group.create_array(name, shape=(layout.n_paths,), dtype=str, fill_value="", compressors=_RECORD_CODECS,
                               dimension_names=DIMENSION_NAMES[name])[:] = np.array(labels, dtype=object)
        if mask and mask[1] is not None:
            group.create_array("contamination", data=mask[1], compressors=_RECORD_CODECS, dimension_names=DIMENSION_NAMES["contamination"])
        for name, shape in layout.row_shapes.items():
            group.create_array(
                name, shape=(0, *shape), chunks=layout.chunks(name), dtype="float64", fill_value=math.nan,
                compressors=_DATA_CODECS, dimension_names=layout.dimension_names(name),
            )
        maps = group.create_group("maps")
        for name, (dtype, fill) in (RECORDS | (MASK_RECORDS if layout.per_map_mask else {})).items():
            maps.create_array(
                name, shape=(0,), chunks=(RECORD_CHUNK_MAPS,), dtype=dtype, fill_value=fill, compressors=_RECORD_CODECS,
                dimension_names=DIMENSION_NAMES[f"maps/{name}"],
            )
        return cls(group)

    # -- maps ----------------------------------------------------------------------------------

    def array(self, name: str) -> zarr.Array:
        """An open handle of array `name` (e.g. "coefficients", "maps/status"), kept for reuse."""
        if name not in self._arrays:
            self._arrays[name] = self.group[name]
        return self._arrays[name]

    @property
    def n_maps(self) -> int:
        return self.array("maps/status").shape[0]

    def status(self) -> np.ndarray:
        """Status of every map; a map whose status chunk cannot be read (corrupt) counts as pending."""
        out = np.full(self.n_maps, PENDING, dtype=np.uint8)
        for rows, values, _ in chunk_reads(self.array("maps/status")):
            if values is not None:
                out[rows.start : rows.stop] = values
        return out

    def write(self, results: list[MapResult], before_status=None) -> None:
        """Write the data (chunk-aligned for the coefficients) and records of a batch of maps, the
        arrays concurrently; then, alone, their statuses. `before_status` (fault-injection tests)
        is called just before the statuses are written."""
        results = sorted(results, key=lambda r: r.index)
        done = [r for r in results if not r.error]
        writes = []
        assert self.array("coefficients").chunks[0] == 1, "coefficient writes must be whole chunks along axis 0"
        for name in self.layout.row_shapes:
            writes.append(region_write(self.array(name), [r.index for r in done], [getattr(r, name) for r in done]))
        for name in (r for r in RESULT_RECORDS if r in self.records):
            writes.append(region_write(self.array(f"maps/{name}"), [r.index for r in results], [getattr(r, name) for r in results]))
        sync(gather_all(writes))
        if before_status is not None:
            before_status()
        statuses = [FAILED if r.error else DONE for r in results]
        sync(region_write(self.array("maps/status"), [r.index for r in results], statuses))

    def mark_pending(self, indices) -> None:
        indices = sorted(int(i) for i in indices)
        sync(region_write(self.array("maps/status"), indices, [PENDING] * len(indices)))

    def result_arrays(self) -> list[str]:
        """Arrays written with each map's result whose chunks hold several maps."""
        names = [n for n in self.layout.row_shapes if n != "coefficients"]
        return names + [f"maps/{n}" for n in (*RESULT_RECORDS, "status") if n in self.records]

    def drop_unreadable_chunks(self) -> list[int]:
        """Delete every result chunk that fails to decode and mark its maps pending, so that they
        are recomputed; returns their indices. A run starts with this: a read-modify-write of such
        a chunk would fail, and the maps it held cannot be trusted. The maps are marked pending
        (unreadable status chunks deleted first) before any data chunk is deleted, so an
        interruption never leaves a done map without its data."""
        unreadable = []  # (array, maps of the chunk)
        for name in self.result_arrays():
            array = self.array(name)
            unreadable += [(array, rows) for rows, values, _ in chunk_reads(array) if values is None]
        status_path = self.array("maps/status").path
        for array, rows in unreadable:
            if array.path == status_path:
                delete_chunk(array, rows.start)
        indices = sorted({i for _, rows in unreadable for i in rows if i < self.n_maps})
        if indices:
            self.mark_pending(indices)
        for array, rows in unreadable:
            if array.path != status_path:
                delete_chunk(array, rows.start)
        return indices

    def begin_run(self) -> None:
        """Before a run changes anything: mark the cache incomplete, which also drops its consolidated
        metadata (zarr rewrites the group's zarr.json without it), so that a run interrupted
        after appending or recomputing maps never leaves a cache that says complete with a stale
        consolidated view; ``finish`` restores both."""
        self.group.attrs.update({"updated": _now(), "complete": False})

    def finish(self) -> None:
        """Record completion and consolidate metadata (once, at the end of a run)."""
        self.group.attrs.update({"updated": _now(), "complete": bool(np.all(self.status() == DONE))})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # consolidated metadata is not yet in the v3 spec
            zarr.consolidate_metadata(self.group.store)
