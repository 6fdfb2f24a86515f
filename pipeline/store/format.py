"""The cache contract (cache_format.md), in one place and numpy only: the writer
(``pipeline.store.cache``), the training reader (``downstream.data.index``), the CMB report and
the tests' plain-zarr writer all take their names, statuses, shapes and chunks from here.

A cache is a Zarr v3 group. Per map ``n`` (the sample axis, dimension ``map``) it holds the
scattering coefficients of every path as real harmonic coefficients of bandlimit L0
(``coefficients[n, p, l*l + l + m]``, docs/harmonic-conventions.md section 2), the rotation
invariants of each path signal (``means``, ``power_spectra``), the input's power spectrum, and one
record per map under ``maps/``; ``paths`` is the path table (scale indices, -1 padded),
``path_kinds`` the kind of each channel ("modulus", "signed_square", "cross"; schema version 2) and
``path_fields`` the field each channel comes from ("" for single-field inputs; "T", "E", "B",
"Q+iU", "R", ... for maps of several fields, whose ``input_power_spectra`` then hold one spectrum
per ``input_spectra`` label; schema version 3). A cache whose maps have masks of their own
(docs/masks.md section 1) holds each map's validity beside its coefficients (schema version 4).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

FORMAT = "sphere-scatter-cache"
SCHEMA_VERSION = 3
"""Written by this version. 2 added the sign-aware channels and ``path_kinds``; 3 the field of each
channel (``path_fields``) and the input spectra of several fields (``input_spectra``)."""
PER_MAP_MASK_SCHEMA_VERSION = 4
"""Written instead for caches with per-map masks: their ``contamination`` has a map axis, which a
reader of version 3 would take for the shared (P, L0**2) one; every other cache stays version 3."""
READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4)
"""Version 1 caches hold modulus channels only, versions 1 and 2 one field; they are read (and resumed) as such."""
MODULUS = "modulus"
COEFFICIENT_LAYOUT = "real-sh-degree-major"
PENDING, DONE, FAILED = 0, 1, 2
"""Values of ``maps/status``; a map's data are valid exactly when its status is DONE."""
SPLITS = ("train", "val", "test")
"""Values of ``maps/split`` (or "" for none)."""

DATA_ARRAYS = ("coefficients", "means", "power_spectra", "input_power_spectra")
"""Float64 arrays with one row per map, NaN where not computed."""
MASKED_ARRAYS = ("masked_means", "masked_power_spectra")
"""Float64 arrays of masked caches only: each channel's invariants over its valid region (docs/masks.md)."""
PER_MAP_MASK_ARRAYS = ("contamination", "valid_fractions", "observed_fraction")
"""Float64 arrays of caches with per-map masks only: each map's contamination maps, valid fractions
and observed sky fraction (docs/masks.md section 3), written with its coefficients."""
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
    "coefficients_sha256": (str, ""),
    "status": ("uint8", PENDING),
}
"""Per-map records under ``maps/``: name -> (dtype, fill value); ``maps/status`` is written last."""
MASK_RECORDS = {"mask": (str, ""), "mask_sha256": (str, "")}
"""Records of caches with per-map masks only: the map's own mask file ("" none), written when the
map is added, and that file's sha256 as it was read, written with the result."""
PLANNER_RECORDS = ("source", "label", "split", "metadata")
"""Written when maps are added: which input each map is. A damaged chunk of these cannot be recomputed."""
RESULT_RECORDS = ("sha256", "analysis_residual", "masked_fraction", "seconds", "peak_rss_mb", "error", "coefficients_sha256",
                  "mask_sha256")
"""Written with each map's result, before its status (those the cache holds)."""
OPTIONAL_RECORDS = ("coefficients_sha256",)
"""Records that caches written before they existed lack; a run adds them (empty for the old maps)."""

RECORD_CHUNK_MAPS = 256
"""Maps per chunk of the per-map records, and the most for the small data arrays."""
SMALL_CHUNK_BYTES = 2**18
"""Largest uncompressed chunk of the small data arrays (means and spectra): a read-modify-write
of one chunk stays cheap next to the work of a task."""

DIMENSION_NAMES = {
    "coefficients": ("map", "path", "coefficient"),
    "means": ("map", "path"),
    "power_spectra": ("map", "path", "l"),
    "input_power_spectra": ("map", "l_input"),
    "input_power_spectra/fields": ("map", "input_spectrum", "l_input"),
    "masked_means": ("map", "path"),
    "masked_power_spectra": ("map", "path", "l"),
    "contamination": ("path", "coefficient"),
    "contamination/maps": ("map", "path", "coefficient"),
    "valid_fractions": ("map", "path"),
    "observed_fraction": ("map",),
    "paths": ("path", "depth"),
    "path_kinds": ("path",),
    "path_fields": ("path",),
    **{f"maps/{name}": ("map",) for name in (*RECORDS, *MASK_RECORDS)},
}
"""Zarr v3 ``dimension_names`` of every array, so that xarray opens a cache with named dimensions."""


def maps_per_chunk(name: str, row_shape: tuple[int, ...]) -> int:
    """Chunk length along the map axis: one map for the coefficients (the bulk of a cache, read
    map by map), otherwise as many maps as fit SMALL_CHUNK_BYTES, at most RECORD_CHUNK_MAPS."""
    if name == "coefficients":
        return 1
    return max(1, min(RECORD_CHUNK_MAPS, SMALL_CHUNK_BYTES // (8 * math.prod(row_shape))))


@dataclass(frozen=True)
class CacheLayout:
    """Shapes and chunks of a cache, derived once from its bandlimits and path table.

    >>> layout = CacheLayout(L=64, L0=8, paths=((), (0,), (1,), (1, 0), (1, 0)), kinds=("modulus",) * 4 + ("cross",))
    >>> layout.row_shapes["coefficients"], layout.row_shapes["power_spectra"]
    ((5, 64), (5, 8))
    >>> layout.path_table().tolist()
    [[-1, -1], [0, -1], [1, -1], [1, 0], [1, 0]]
    >>> layout.select(max_depth=1).tolist(), layout.select(kinds=("modulus",)).tolist()
    ([0, 1, 2], [0, 1, 2, 3])
    >>> CacheLayout.from_attributes({**layout.attributes(), "config": {"L": 64}, "schema_version": 3}) == layout
    True
    """

    L: int
    L0: int
    paths: tuple[tuple[int, ...], ...]
    kinds: tuple[str, ...] = ()
    """The kind of each channel; () means all "modulus" (schema version 1)."""
    fields: tuple[str, ...] = ()
    """The field label of each channel; () means one unnamed field, "" for every channel (schema versions 1-2)."""
    spectra: tuple[str, ...] = ()
    """The labels of the input power spectra of a multi-field map; () for one field (one spectrum)."""
    masked: bool = False
    """Maps observed through a mask: the masked invariants are stored too."""
    per_map_mask: bool = False
    """Masks differ between maps: each map's validity is stored with it (PER_MAP_MASK_ARRAYS)."""

    def __post_init__(self) -> None:
        if not self.kinds:
            object.__setattr__(self, "kinds", (MODULUS,) * len(self.paths))
        if not self.fields:
            object.__setattr__(self, "fields", ("",) * len(self.paths))
        if not len(self.kinds) == len(self.fields) == len(self.paths):
            raise ValueError(f"{len(self.kinds)} channel kinds and {len(self.fields)} field labels for {len(self.paths)} paths")

    @property
    def n_paths(self) -> int:
        return len(self.paths)

    @property
    def max_depth(self) -> int:
        return max(len(p) for p in self.paths)

    @property
    def row_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-map shape of each data array (DATA_ARRAYS)."""
        return {
            "coefficients": (self.n_paths, self.L0**2),
            "means": (self.n_paths,),
            "power_spectra": (self.n_paths, self.L0),
            "input_power_spectra": (len(self.spectra), self.L) if self.spectra else (self.L,),
            **({"masked_means": (self.n_paths,), "masked_power_spectra": (self.n_paths, self.L0)} if self.masked else {}),
            **(dict(zip(PER_MAP_MASK_ARRAYS, ((self.n_paths, self.L0**2), (self.n_paths,), ()))) if self.per_map_mask else {}),
        }

    @property
    def schema_version(self) -> int:
        """The schema version a cache of this layout is written with."""
        return PER_MAP_MASK_SCHEMA_VERSION if self.per_map_mask else SCHEMA_VERSION

    def dimension_names(self, name: str) -> tuple[str, ...]:
        """The Zarr ``dimension_names`` of data array `name` in this layout."""
        variant = {"input_power_spectra": "fields" if self.spectra else "", "contamination": "maps"}.get(name)
        return DIMENSION_NAMES[f"{name}/{variant}" if variant else name]

    def chunks(self, name: str) -> tuple[int, ...]:
        """Chunk shape of data array `name`: whole rows, maps_per_chunk maps."""
        shape = self.row_shapes[name]
        return (maps_per_chunk(name, shape), *shape)

    def path_table(self) -> np.ndarray:
        """The ``paths`` array: int32 (n_paths, max(1, max_depth)), scale indices, -1 padded."""
        table = np.full((self.n_paths, max(1, self.max_depth)), -1, dtype=np.int32)
        for i, p in enumerate(self.paths):
            table[i, : len(p)] = p
        return table

    def select(self, max_depth: int | None = None, kinds: tuple[str, ...] | None = None,
               fields: tuple[str, ...] | None = None) -> np.ndarray:
        """Indices of the channels of depth (number of scales) <= max_depth, of one of `kinds` and
        from one of `fields` (None: no restriction)."""
        return np.array([i for i, (p, k, f) in enumerate(zip(self.paths, self.kinds, self.fields))
                         if (max_depth is None or len(p) <= max_depth) and (kinds is None or k in kinds)
                         and (fields is None or f in fields)], dtype=np.int64)

    def attributes(self) -> dict:
        """The group attributes that describe this layout (plain JSON)."""
        return {"L0": self.L0, "n_paths": self.n_paths, "paths": [list(p) for p in self.paths],
                "path_kinds": list(self.kinds), "path_fields": list(self.fields), "input_spectra": list(self.spectra),
                "coefficient_layout": COEFFICIENT_LAYOUT}

    @classmethod
    def from_attributes(cls, attrs: dict) -> "CacheLayout":
        """The layout of a cache from its group attributes (L is the configuration's); a version 1
        cache has no path_kinds (all modulus), versions 1 and 2 no path_fields (one field)."""
        version = attrs.get("schema_version", 1)
        kinds = attrs["path_kinds"] if version >= 2 else ()
        fields, spectra = (attrs["path_fields"], attrs["input_spectra"]) if version >= 3 else ((), ())
        return cls(L=int(attrs["config"]["L"]), L0=int(attrs["L0"]), paths=tuple(tuple(int(j) for j in p) for p in attrs["paths"]),
                   kinds=tuple(str(k) for k in kinds), fields=tuple(str(f) for f in fields), spectra=tuple(str(s) for s in spectra),
                   masked=attrs.get("mask") is not None, per_map_mask=bool((attrs.get("mask") or {}).get("per_map")))


def coefficients_digest(row: np.ndarray) -> str:
    """sha256 of one map's coefficients (n_paths, L0**2) as little-endian float64 in C order: the
    ``maps/coefficients_sha256`` record, which binds a coefficient chunk to its map."""
    return hashlib.sha256(np.ascontiguousarray(row, dtype="<f8").tobytes()).hexdigest()


@dataclass(frozen=True)
class MapResult:
    """One cache row, as a task returns it: data (None when the map failed) and its records."""

    index: int
    coefficients: np.ndarray | None = None
    means: np.ndarray | None = None
    power_spectra: np.ndarray | None = None
    input_power_spectra: np.ndarray | None = None
    masked_means: np.ndarray | None = None
    masked_power_spectra: np.ndarray | None = None
    contamination: np.ndarray | None = None
    valid_fractions: np.ndarray | None = None
    observed_fraction: float = math.nan
    sha256: str = ""
    analysis_residual: float = math.nan
    masked_fraction: float = math.nan
    seconds: float = math.nan
    peak_rss_mb: float = math.nan
    error: str = ""
    coefficients_sha256: str = ""
    mask_sha256: str = ""
