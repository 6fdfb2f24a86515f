"""Caches in training code: the index and splits of a cache (cache_format.md), a torch Dataset
over one split, and rotation augmentation."""

from downstream.data.augment import RandomRotation
from downstream.data.dataset import CacheDataset, make_loader, open_split
from downstream.data.index import CacheIndex, read_cache_index, select_maps

__all__ = ["CacheDataset", "CacheIndex", "RandomRotation", "make_loader", "open_split", "read_cache_index", "select_maps"]
