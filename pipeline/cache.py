"""The Zarr v3 scattering cache: creation, resume, per-map writes, inspection, verification.

Layout and meaning: cache_format.md (schema version 1). Rules from pitfalls.md (Dask + Zarr):
one map per chunk along the sample axis and writes by chunk-aligned regions (asserted); a map's
status is set to done only after its data are written; NaN fill values, so a missing chunk never
reads as data; crc32c on every chunk; attributes are plain JSON; the store is created once and
filled in place, never silently overwritten; metadata consolidated when a run completes.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import math
import warnings
from dataclasses import dataclass

import numpy as np
import zarr
import zarr.codecs
from zarr.core.sync import sync

from pipeline.config import ScatteringConfig
from pipeline.errors import InputError
from pipeline.inputs import InputSpec
from pipeline.provenance import provenance

FORMAT = "sphere-scatter-cache"
SCHEMA_VERSION = 1
PENDING, DONE, FAILED = 0, 1, 2
COEFFICIENT_LAYOUT = "real-sh-degree-major"

_DATA_CODECS = [zarr.codecs.BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"), zarr.codecs.Crc32cCodec()]
_RECORD_CODECS = [zarr.codecs.Crc32cCodec()]

# Per-map record arrays: name -> (dtype, fill value). Written by the planner (source, label,
# split, metadata) or with the map's result (the rest); `maps/status` is always written last.
RECORDS = {
    "source": (str, ""),
    "label": ("int64", -1),
    "split": (str, ""),
    "metadata": (str, "{}"),
    "sha256": (str, ""),
    "error": (str, ""),
    "analysis_residual": ("float64", math.nan),
    "masked_fraction": ("float64", math.nan),
    "seconds": ("float64", math.nan),
    "peak_rss_mb": ("float64", math.nan),
    "status": ("uint8", PENDING),
}


async def _all(coroutines) -> None:
    await asyncio.gather(*coroutines)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def data_shapes(config: ScatteringConfig, n_paths: int) -> dict[str, tuple[int, ...]]:
    """Per-map shape of each data array."""
    return {
        "coefficients": (n_paths, config.L0**2),
        "means": (n_paths,),
        "power_spectra": (n_paths, config.L0),
        "input_power_spectra": (config.L,),
    }


@dataclass(frozen=True)
class MapResult:
    """What one task returns for one map: data (None when it failed) and its record."""

    index: int
    coefficients: np.ndarray | None = None
    means: np.ndarray | None = None
    power_spectra: np.ndarray | None = None
    input_power_spectra: np.ndarray | None = None
    sha256: str = ""
    analysis_residual: float = math.nan
    masked_fraction: float = math.nan
    seconds: float = math.nan
    peak_rss_mb: float = math.nan
    error: str = ""


class Cache:
    """An open cache group. Create with ``Cache.create`` or open with ``Cache.open``."""

    def __init__(self, group: zarr.Group):
        self.group = group
        attrs = group.attrs.asdict()
        if attrs.get("format") != FORMAT:
            raise InputError(f"{group.store} is not a scattering cache (no format attribute {FORMAT!r})")
        if attrs.get("schema_version") != SCHEMA_VERSION:
            raise InputError(
                f"cache schema version {attrs.get('schema_version')!r} is not supported: expected {SCHEMA_VERSION}"
            )
        self._arrays: dict[str, zarr.Array] = {}  # open handles: each lookup costs a metadata read
        self.config = ScatteringConfig.from_dict(attrs["config"])
        self.paths = [tuple(p) for p in attrs["paths"]]
        self.input_options = attrs["input"]

    # -- creation and opening ------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, mode: str = "r") -> "Cache":
        try:  # consolidated metadata is stale after an interrupted run that appended maps: bypass it
            group = zarr.open_group(url, mode=mode, zarr_format=3, use_consolidated=False)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError) as err:
            raise InputError(f"no scattering cache at {url}: {err}") from err
        return cls(group)

    @classmethod
    def exists(cls, url: str) -> bool:
        try:
            zarr.open_group(url, mode="r", zarr_format=3)
            return True
        except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
            return False

    @classmethod
    def create(
        cls, url: str, config: ScatteringConfig, paths: list[tuple[int, ...]], input_options: dict, overwrite: bool
    ) -> "Cache":
        """A new, empty cache (0 maps). With overwrite, an existing store at `url` is replaced."""
        group = zarr.open_group(url, mode="w" if overwrite else "w-", zarr_format=3)
        depth = max(len(p) for p in paths)
        group.attrs.update(
            {
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "config": config.to_dict(),
                "config_hash": config.hash(),
                "L0": config.L0,
                "n_paths": len(paths),
                "paths": [list(p) for p in paths],
                "coefficient_layout": COEFFICIENT_LAYOUT,
                "input": input_options,
                "provenance": provenance(),
                "created": _now(),
                "updated": _now(),
                "complete": False,
            }
        )
        table = np.full((len(paths), depth), -1, dtype=np.int32)
        for i, p in enumerate(paths):
            table[i, : len(p)] = p
        group.create_array("paths", data=table, compressors=_RECORD_CODECS)
        for name, shape in data_shapes(config, len(paths)).items():
            group.create_array(
                name, shape=(0, *shape), chunks=(1, *shape), dtype="float64", fill_value=math.nan, compressors=_DATA_CODECS
            )
        maps = group.create_group("maps")
        for name, (dtype, fill) in RECORDS.items():
            maps.create_array(name, shape=(0,), chunks=(1,), dtype=dtype, fill_value=fill, compressors=_RECORD_CODECS)
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

    def sources(self) -> list[str]:
        return [str(s) for s in self.group["maps/source"][:]] if self.n_maps else []

    def status(self) -> np.ndarray:
        """Status of every map; a record that cannot be read (corrupt chunk) counts as pending."""
        array = self.array("maps/status")
        try:
            return np.asarray(array[:], dtype=np.uint8)
        except ValueError:
            out = np.zeros(self.n_maps, dtype=np.uint8)
            for i in range(self.n_maps):
                try:
                    out[i] = array[i]
                except ValueError:
                    out[i] = PENDING
            return out

    def add_maps(self, specs: list[InputSpec]) -> list[int]:
        """Indices of `specs` in the cache: known sources keep theirs (their label and split must
        agree), new ones are appended with their planner-written records."""
        known = {s: i for i, s in enumerate(self.sources())}
        labels = self.group["maps/label"][:] if known else np.empty(0)
        splits = self.group["maps/split"][:] if known else np.empty(0)
        new = [s for s in specs if s.source not in known]
        for s in specs:
            if s.source in known:
                i = known[s.source]
                if (s.label if s.label is not None else -1) != labels[i] or (s.split or "") != splits[i]:
                    raise InputError(
                        f"{s.source} is in the cache with label {labels[i]} and split {splits[i]!r}; the inputs now "
                        f"say label {s.label} and split {s.split!r}: use a new output store or --overwrite"
                    )
        start = self.n_maps
        self._arrays.clear()  # handles are about to change shape
        if new:
            n = start + len(new)
            for name in data_shapes(self.config, len(self.paths)):
                self.group[name].resize((n, *self.group[name].shape[1:]))
            for name in RECORDS:
                self.group[f"maps/{name}"].resize((n,))
            region = slice(start, n)
            self.group["maps/source"][region] = np.array([s.source for s in new], dtype=object)
            self.group["maps/label"][region] = np.array([-1 if s.label is None else s.label for s in new])
            self.group["maps/split"][region] = np.array([s.split or "" for s in new], dtype=object)
            self.group["maps/metadata"][region] = np.array([json.dumps(s.metadata, sort_keys=True) for s in new], dtype=object)
            known.update({s.source: start + k for k, s in enumerate(new)})
            self._arrays.clear()
        return [known[s.source] for s in specs]

    def write(self, result: MapResult, before_status=None) -> None:
        """Write one map's data (chunk-aligned region) and records; the status goes last.
        `before_status` (fault-injection tests) is called just before the status is written."""
        i = result.index
        if result.error:
            self.array("maps/error")[i] = result.error
            self.array("maps/status")[i] = FAILED
            return
        writes = []
        for name in data_shapes(self.config, len(self.paths)):
            array = self.array(name)
            assert array.chunks[0] == 1 and 0 <= i < array.shape[0], "writes must be one whole chunk along axis 0"
            writes.append(array.async_array.setitem(slice(i, i + 1), getattr(result, name)[None]))
        for name in ("sha256", "analysis_residual", "masked_fraction", "seconds", "peak_rss_mb", "error"):
            writes.append(self.array(f"maps/{name}").async_array.setitem(i, getattr(result, name)))
        sync(_all(writes))  # data and records concurrently, then (below) the status alone
        if before_status is not None:
            before_status()
        self.array("maps/status")[i] = DONE

    def mark_pending(self, indices) -> None:
        for i in indices:
            self.array("maps/status")[int(i)] = PENDING

    def finish(self) -> None:
        """Record completion and consolidate metadata (once, at the end of a run)."""
        self.group.attrs.update({"updated": _now(), "complete": bool(np.all(self.status() == DONE))})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # consolidated metadata is not yet in the v3 spec
            zarr.consolidate_metadata(self.group.store)

    # -- reading -------------------------------------------------------------------------------

    def records(self) -> dict[str, np.ndarray]:
        return {name: self.group[f"maps/{name}"][:] for name in RECORDS if name != "status"} | {"status": self.status()}
