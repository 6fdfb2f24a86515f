"""What an output URL holds, asked before a run writes to it: nothing, a scattering cache (in
whatever state), or a cache whose creation was interrupted before it held any map.
"""

from __future__ import annotations

import json

import zarr
import zarr.errors

from pipeline.store.format import DATA_ARRAYS, FORMAT, RECORDS
from pipeline.store.lock import local_store_path
from pipeline.store.zarr_io import open_store

_UNREADABLE = (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError, KeyError, json.JSONDecodeError)


def holds_nothing(url: str) -> bool:
    """An absent path, an empty folder, or an fsspec prefix with no object under it."""
    path = local_store_path(url)
    if path is None:  # an fsspec URL: any object under its prefix counts
        from zarr.core.sync import sync
        from zarr.storage import FsspecStore

        return sync(FsspecStore.from_url(url, read_only=True).is_empty(""))
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def is_cache(url: str) -> bool:
    """Whether `url` holds a group with this format's attribute (a cache, whatever its state)."""
    try:
        return zarr.open_group(open_store(url, "r"), mode="r", zarr_format=3).attrs.get("format") == FORMAT
    except _UNREADABLE:
        return False


def interrupted_creation(url: str) -> dict | None:
    """The attributes of a cache whose creation was interrupted (killed while its arrays were
    being made: ``maps/status``, made last, is missing) and that holds no map at all; None for
    anything else. Such a store can be created again without losing anything."""
    try:
        group = zarr.open_group(open_store(url, "r"), mode="r", zarr_format=3, use_consolidated=False)
        attrs = group.attrs.asdict()
        if attrs.get("format") != FORMAT or "maps/status" in group:
            return None
        names = [*DATA_ARRAYS, *(f"maps/{r}" for r in RECORDS)]
        return attrs if all(group[name].shape[0] == 0 for name in names if name in group) else None
    except _UNREADABLE:
        return None
