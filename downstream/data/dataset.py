"""A torch Dataset over the done, labelled maps of one split of a scattering cache.

The Zarr store is opened lazily, in the process that reads (each DataLoader worker opens its own
handle on first use; a handle is never pickled or inherited across a fork: a zarr handle
inherited by forked DataLoader workers shares the parent's event loop and file state). Items are read per map (one Zarr chunk
each) or, through ``__getitems__``, one batch of chunks per call, so memory does not grow with the
cache. ``in_memory=True`` instead reads the split once into RAM (for small caches).
"""

from __future__ import annotations

import os
import random
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from downstream.data.index import CacheIndex, open_cache, read_cache_index, select_maps
from pipeline.errors import InputError

Transform = Callable[[torch.Tensor], torch.Tensor]


class CacheDataset(Dataset):
    """Items (coefficients (P, L0**2) tensor of `dtype`, label int) for the given map indices.

    input_paths: indices into the cache's path list to use as channels (default all), e.g. [0]
    for the zeroth-order path S[()]f = f * Phi alone, the input map low-passed to bandlimit L0.
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
    ):
        self.path, self.L0 = index.path, index.L0
        self.input_paths = np.arange(index.n_paths) if input_paths is None else np.asarray(input_paths, dtype=np.int64)
        if self.input_paths.size == 0 or self.input_paths.min() < 0 or self.input_paths.max() >= index.n_paths:
            raise InputError(f"input paths must be indices in [0, {index.n_paths}) of the cache's paths, got {self.input_paths.tolist()}")
        self.n_paths = len(self.input_paths)
        self.maps = np.asarray(maps, dtype=np.int64)
        self.labels = index.labels[self.maps]
        self.dtype, self.transform = dtype, transform
        self._array, self._pid = None, None
        self._memory = self._read(self.maps) if in_memory else None

    def _coefficients(self):
        if self._array is None or self._pid != os.getpid():
            self._array, self._pid = open_cache(self.path)["coefficients"], os.getpid()
        return self._array

    def _read(self, maps: np.ndarray) -> np.ndarray:
        """Coefficients (len(maps), P, L0**2) float64, one concurrent read of their chunks."""
        return self._coefficients().get_orthogonal_selection((maps, self.input_paths, slice(None)))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None, "_pid": None}

    def __len__(self) -> int:
        return len(self.maps)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([i])[0]

    def __getitems__(self, items: list[int]) -> list[tuple[torch.Tensor, int]]:
        """A batch read in one call (the DataLoader's batched fetch)."""
        items = list(items)
        block = self._memory[items] if self._memory is not None else self._read(self.maps[items])
        xs = torch.from_numpy(block).to(self.dtype)
        return [(self.transform(x) if self.transform else x, int(self.labels[i])) for x, i in zip(xs, items)]

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
