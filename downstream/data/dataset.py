"""A torch Dataset over the done, labelled maps of one split of a scattering cache.

The Zarr store is opened lazily, in the process that reads (each DataLoader worker opens its own
handle on first use; a handle is never pickled or inherited across a fork: a zarr handle
inherited by forked DataLoader workers shares the parent's event loop and file state). Items are read per map (one Zarr chunk
each) or, through ``__getitems__``, one batch of chunks per call, so memory does not grow with the
cache. ``in_memory=True`` instead reads the split once into RAM (for small caches). On a cache with
per-map masks, each item can carry its own valid region (docs/masks.md section 4).
"""

from __future__ import annotations

import os
import random
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from downstream.data.index import CacheIndex, open_cache, read_cache_index, select_maps, valid_region
from pipeline.errors import InputError

Transform = Callable[[torch.Tensor], torch.Tensor]


class CacheDataset(Dataset):
    """Items (coefficients (P, L0**2) tensor of `dtype`, label int) for the given map indices.

    input_paths: indices into the cache's path list to use as channels (default all), e.g. [0]
    for the zeroth-order path S[()]f = f * Phi alone, the input map low-passed to bandlimit L0.
    region_grid: on a cache with per-map masks, items are ((coefficients, region), label), the
    region where every input channel of that map is valid sampled on the Gauss-Legendre grid of
    bandlimit region_grid ((ntheta, nphi) tensor of 0 / 1; ``downstream.data.index.valid_region``);
    a map without such sky is refused (InputError). None: no regions. region_per_channel: instead
    each channel's own valid region ((P, ntheta, nphi)); a channel without any is refused.
    """

    def __init__(
        self,
        index: CacheIndex,
        maps: np.ndarray,
        *,
        dtype: torch.dtype = torch.float32,
        transform: Transform | None = None,
        in_memory: bool = False,
        input_paths: Sequence[int] | None = None,
        region_grid: int | None = None,
        region_per_channel: bool = False,
    ):
        if region_grid is not None and not index.layout.per_map_mask:
            raise InputError(f"cache {index.path!r} has no per-map masks: its items carry no valid region of their own")
        self.path, self.L0, self.tolerance, self.region_grid = index.path, index.L0, index.tolerance, region_grid
        self.region_per_channel = region_per_channel
        self.input_paths = np.arange(index.n_paths) if input_paths is None else np.asarray(input_paths, dtype=np.int64)
        if self.input_paths.size == 0 or self.input_paths.min() < 0 or self.input_paths.max() >= index.n_paths:
            raise InputError(f"input paths must be indices in [0, {index.n_paths}) of the cache's paths, got {self.input_paths.tolist()}")
        self.n_paths = len(self.input_paths)
        self.maps = np.asarray(maps, dtype=np.int64)
        self.labels = index.labels[self.maps]
        self.dtype, self.transform = dtype, transform
        self._arrays, self._pid = {}, None
        self._memory = self._read(self.maps) if in_memory else None

    def _selection(self, name: str, maps: np.ndarray) -> np.ndarray:
        """The input paths of `maps` in array `name` (N, P, L0**2), one concurrent read of their chunks."""
        if self._pid != os.getpid():
            self._arrays, self._pid = {}, os.getpid()
        if name not in self._arrays:
            self._arrays[name] = open_cache(self.path)[name]
        return self._arrays[name].get_orthogonal_selection((maps, self.input_paths, slice(None)))

    def _read(self, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Coefficients (len(maps), P, L0**2) float64, and with region_grid the maps' valid regions."""
        if self.region_grid is None:
            return self._selection("coefficients", maps), None
        contamination = self._selection("contamination", maps)
        if self.region_per_channel:
            regions = valid_region(contamination[:, :, None], self.tolerance, self.region_grid) > 0  # (n, P, ntheta, nphi)
            empty = np.argwhere(~regions.any(axis=(2, 3)))
            if empty.size:
                raise InputError(f"cache {self.path!r}: map {maps[empty[0, 0]]} has no valid sky in channel "
                                 f"{self.input_paths[empty[0, 1]]}; select other channels (--kinds, --max-depth, --fields), "
                                 "leave the map out, or make the cache with a larger validity tolerance or J0")
            return self._selection("coefficients", maps), regions
        regions = valid_region(contamination, self.tolerance, self.region_grid) > 0
        empty = np.flatnonzero(~regions.any(axis=(1, 2)))
        if empty.size:
            raise InputError(f"cache {self.path!r}: map {maps[empty[0]]} has no sky where every selected channel is valid; select "
                             "fewer channels (--kinds, --max-depth, --fields), leave the map out, or make the cache with a larger "
                             "validity tolerance or J0")
        return self._selection("coefficients", maps), regions

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arrays": {}, "_pid": None}

    def __len__(self) -> int:
        return len(self.maps)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([i])[0]

    def __getitems__(self, items: list[int]) -> list[tuple]:
        """A batch read in one call (the DataLoader's batched fetch)."""
        items = list(items)
        if self._memory is not None:
            block, regions = (None if a is None else a[items] for a in self._memory)
        else:
            block, regions = self._read(self.maps[items])
        xs = [self.transform(x) if self.transform else x for x in torch.from_numpy(block).to(self.dtype)]
        if regions is not None:
            xs = list(zip(xs, torch.from_numpy(regions).to(self.dtype)))
        return [(x, int(self.labels[i])) for x, i in zip(xs, items)]

    def __repr__(self) -> str:
        return f"CacheDataset(path={self.path!r}, maps={len(self)}, P={self.n_paths}, L0={self.L0}, dtype={self.dtype})"


def open_split(
    path: str,
    split: str,
    *,
    fractions=(0.7, 0.15, 0.15),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    transform: Transform | None = None,
    in_memory: bool = False,
    input_paths: Sequence[int] | None = None,
) -> CacheDataset:
    """The :class:`CacheDataset` of one split ("train", "val", "test" or "all") of a cache."""
    index = read_cache_index(path)
    maps = select_maps(index, split, fractions, seed)
    return CacheDataset(index, maps, dtype=dtype, transform=transform, in_memory=in_memory, input_paths=input_paths)


def seed_worker(worker_id: int) -> None:
    """worker_init_fn: seed numpy and random from the worker's torch seed (set by the loader)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, seed: int = 0, num_workers: int = 0, drop_last: bool = False
) -> DataLoader:
    """A reproducible DataLoader: seeded shuffling generator, seeded workers, persistent workers."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=generator,
        worker_init_fn=seed_worker,
        persistent_workers=num_workers > 0,
        drop_last=drop_last,
    )
