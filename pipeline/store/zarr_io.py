"""Zarr plumbing of the cache writer: a local store without thread hops, region writes of sorted
map indices, and chunk-by-chunk reads that report (not raise) chunks that no longer decode.
"""

from __future__ import annotations

import asyncio
import math
import os
import uuid

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from pipeline.errors import describe


class InlineLocalStore(LocalStore):
    """zarr's LocalStore, but whole-chunk reads and writes run in the calling coroutine instead of
    each being handed to a worker thread (``asyncio.to_thread``). The cache has one writing process,
    which only waits on its writes; there, the two thread hops per chunk cost more CPU than the
    file operations (at L = 256, ~1 of the writer's ~3 ms per map, taken from the workers on a
    2-core machine). Writes stay atomic: a uniquely named partial file, then a rename, as zarr's."""

    async def get(self, key, prototype=None, byte_range=None):
        if byte_range is not None:
            return await super().get(key, prototype, byte_range)
        if not self._is_open:
            await self._open()
        try:
            data = (self.root / key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return (prototype or default_buffer_prototype()).buffer.from_bytes(data)

    async def set(self, key, value) -> None:
        if not self._is_open:
            await self._open()
        self._check_writable()
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
        try:
            with partial.open("wb") as f:
                f.write(value.as_buffer_like())
            partial.replace(path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


def open_store(url: str, mode: str):
    """What zarr opens for `url`: an InlineLocalStore for a local path (resolved, so that a symlink
    to a store not made yet is created at its target, not refused as an existing file), the URL
    itself otherwise (zarr resolves it with fsspec)."""
    return url if "://" in url else InlineLocalStore(os.path.realpath(url), read_only=mode == "r")


async def gather_all(coroutines) -> None:
    await asyncio.gather(*coroutines)


async def region_write(array: zarr.Array, indices: list[int], values: list) -> None:
    """Write values[k] at map index indices[k] (sorted): one region write per contiguous run, the
    runs one after another. Runs of one batch can share a chunk (pending maps with done maps
    between them), and concurrent read-modify-writes of one chunk lose all but one update."""
    k = 0
    while k < len(indices):
        end = k + 1
        while end < len(indices) and indices[end] == indices[end - 1] + 1:
            end += 1
        block = np.array(values[k:end], dtype=object if array.dtype.kind in "OTU" else array.dtype)
        await array.async_array.setitem(slice(indices[k], indices[end - 1] + 1), block)
        k = end


def chunk_reads(array: zarr.Array, block_bytes: int = 2**26):
    """(map range, values or None, why not) for each chunk of `array` along the map axis; a chunk
    that fails to decode (bad checksum, truncated) is reported, not raised. Chunks are read in
    blocks of about `block_bytes` (one chunk at a time only within a block that fails)."""
    step = array.chunks[0]
    per_block = step * max(1, block_bytes // (array.dtype.itemsize * math.prod(array.chunks)))
    for block in range(0, array.shape[0], per_block):
        end = min(block + per_block, array.shape[0])
        try:
            values = np.asarray(array[block:end])
        except Exception:  # a chunk of this block fails: find which, below
            values = None
        if values is not None:
            for start in range(block, end, step):
                yield range(start, min(start + step, end)), values[start - block : start - block + step], ""
            continue
        for start in range(block, end, step):
            rows = range(start, min(start + step, end))
            try:
                yield rows, np.asarray(array[rows.start : rows.stop]), ""
            except Exception as err:  # noqa: PERF203 - any decode failure of this chunk is a finding
                yield rows, None, f"{array.path} chunk unreadable ({describe(err)})"


def delete_chunk(array: zarr.Array, first_map: int) -> None:
    """Delete the chunk of `array` that holds map `first_map` (its whole row of chunks is one chunk)."""
    key = array.metadata.encode_chunk_key((first_map // array.chunks[0], *([0] * (array.ndim - 1))))
    sync(array.store_path.store.delete(f"{array.store_path.path}/{key}"))
