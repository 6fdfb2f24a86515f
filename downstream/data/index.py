"""Reading the index of a scattering cache (cache_format.md, schema versions 1 to 4) and choosing splits.

Only the small per-map arrays (status, label, split) are read here, through a short-lived handle;
the coefficients are read per item by :class:`downstream.data.dataset.CacheDataset`. Every user mistake
(missing store, other format or schema version, no done maps, no labels) raises
:class:`pipeline.errors.InputError` with a one-line message saying what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import zarr
import zarr.errors

from pipeline.errors import InputError
from pipeline.store.format import COEFFICIENT_LAYOUT, DONE, FORMAT, READABLE_SCHEMA_VERSIONS, SPLITS, CacheLayout


@dataclass(frozen=True)
class CacheIndex:
    """What training needs to know about a cache, without its coefficients.

    done: maps with status DONE; labels: class label per map (-1 none); splits: stored split
    per map ("" none); n_classes: 1 + the largest label of a done map.
    """

    path: str
    layout: CacheLayout
    config_hash: str
    done: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    contamination: np.ndarray | None = None
    """Caches with a shared mask: each channel's contamination map (P, L0**2) (per-map masks: each
    map's are read with its coefficients, ``CacheDataset``); masked caches: the tolerance of the validity."""
    tolerance: float = math.nan

    def valid_region(self, channels: np.ndarray, L_grid: int) -> np.ndarray:
        """Where every one of `channels` is valid under the shared mask, sampled on the
        Gauss-Legendre grid of bandlimit L_grid (float64 0 / 1); docs/masks.md section 3."""
        return valid_region(self.contamination[np.asarray(channels)], self.tolerance, L_grid)

    @property
    def L0(self) -> int:
        return self.layout.L0

    @property
    def n_paths(self) -> int:
        return self.layout.n_paths

    @property
    def paths(self) -> tuple[tuple[int, ...], ...]:
        return self.layout.paths

    @property
    def n_maps(self) -> int:
        return len(self.done)

    @property
    def n_classes(self) -> int:
        return int(self.labels[self.done].max()) + 1

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.layout.kinds

    @property
    def fields(self) -> tuple[str, ...]:
        """The field label of each channel ("" for single-field caches)."""
        return self.layout.fields

    def select(self, max_depth: int | None = None, kinds: tuple[str, ...] | None = None,
               fields: tuple[str, ...] | None = None) -> np.ndarray:
        """Indices of the channels of depth <= max_depth, of one of `kinds` and from one of `fields` (None: all)."""
        return self.layout.select(max_depth, kinds, fields)


@lru_cache(maxsize=8)
def _to_grid(L0: int, L_grid: int):
    from downstream.nn.s2_grid import ToS2Grid

    return ToS2Grid(L0, L_grid)


def valid_region(contamination: np.ndarray, tolerance: float, L_grid: int) -> np.ndarray:
    """Where every channel of `contamination` ((..., P, L0**2), real layout) is valid
    (sqrt(contamination) < tolerance), sampled on the Gauss-Legendre grid of bandlimit L_grid:
    float64 0 / 1, shape (..., ntheta, nphi); docs/masks.md section 3."""
    import torch

    L0 = math.isqrt(contamination.shape[-1])
    maps = _to_grid(L0, L_grid)(torch.from_numpy(contamination)).numpy()
    return (maps.max(axis=-3) < tolerance**2).astype(np.float64)


def open_cache(path: str) -> zarr.Group:
    """Open a cache read-only and check its format, schema version and layout."""
    try:
        group = zarr.open_group(str(path), mode="r", zarr_format=3, use_consolidated=False)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError) as err:
        raise InputError(f"no scattering cache at {path!r}: expected a Zarr v3 group written by scatter-preprocess ({type(err).__name__})") from None
    attrs = group.attrs
    if attrs.get("format") != FORMAT:
        raise InputError(f"{path!r} is not a scattering cache: expected attribute format = {FORMAT!r}, got {attrs.get('format')!r}")
    if attrs.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        raise InputError(f"cache {path!r} has schema_version {attrs.get('schema_version')!r}; this reader needs one of "
                         f"{list(READABLE_SCHEMA_VERSIONS)}")
    if attrs.get("coefficient_layout") != COEFFICIENT_LAYOUT:
        raise InputError(f"cache {path!r} has coefficient_layout {attrs.get('coefficient_layout')!r}; expected {COEFFICIENT_LAYOUT!r}")
    return group


def read_cache_index(path: str) -> CacheIndex:
    """Validate a cache and read its per-map status, labels and splits."""
    group = open_cache(path)
    attrs = group.attrs
    layout = CacheLayout.from_attributes(attrs.asdict())
    L0, n_paths = layout.L0, layout.n_paths
    try:
        shape = group["coefficients"].shape
        status = group["maps/status"][:]  # its length is the number of maps (cache_format.md)
        labels, splits = (group[f"maps/{name}"][: status.size] for name in ("label", "split"))
    except KeyError as err:
        raise InputError(f"cache {path!r} lacks the array {err}; expected the arrays of cache_format.md") from None
    if shape[1:] != (n_paths, L0 * L0):
        raise InputError(f"cache {path!r}: coefficients have shape {shape}; expected (N, {n_paths}, {L0 * L0}) from its attributes")
    done = status == DONE
    if not done.any():
        raise InputError(f"cache {path!r} has no done maps (maps/status == 1); run scatter-preprocess to completion first")
    labels = labels.astype(np.int64)
    if (labels[done] < 0).all():
        raise InputError(f"cache {path!r} has no labels (maps/label = -1 for every done map); a 'label' column is expected in the manifest")
    mask = attrs.get("mask")
    return CacheIndex(str(path), layout, str(attrs.get("config_hash", "")), done, labels, np.array(splits.tolist(), dtype=str),
                      group["contamination"][:] if mask and not layout.per_map_mask else None,
                      float(mask["tolerance"]) if mask else math.nan)


def select_maps(index: CacheIndex, split: str, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> np.ndarray:
    """Sorted indices of the done, labelled maps of `split` ("train", "val", "test" or "all").

    The stored `maps/split` column is used when it is set for the done, labelled maps; when it is
    empty for all of them, a seeded split stratified by label with the given fractions is drawn.
    """
    if split not in SPLITS + ("all",):
        raise InputError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
    usable = np.flatnonzero(index.done & (index.labels >= 0))
    if split == "all":
        return usable
    stored = index.splits[usable]
    if (stored != "").all():
        unknown = sorted(str(s) for s in set(stored) - set(SPLITS))
        if unknown:
            raise InputError(f"cache {index.path!r}: maps/split holds {unknown}; expected only {SPLITS} or empty")
        return usable[stored == split]
    if (stored != "").any():
        raise InputError(f"cache {index.path!r}: maps/split is set for some done maps and empty for others; expected all or none")
    return usable[_seeded_split(index.labels[usable], fractions, seed) == SPLITS.index(split)]


def _seeded_split(labels: np.ndarray, fractions, seed: int) -> np.ndarray:
    """Split number (0 train, 1 val, 2 test) per map, stratified by label, reproducible by seed."""
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise InputError(f"split fractions must be three non-negative numbers summing to 1, got {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.round(np.cumsum(fractions)[:2] * len(members)).astype(int)
        out[members] = np.searchsorted(bounds, np.arange(len(members)), side="right")
    return out
