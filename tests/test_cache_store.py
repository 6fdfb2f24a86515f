"""InlineLocalStore: the cache writer's LocalStore without thread hops must store exactly what
zarr's own LocalStore stores, stay atomic, and read back with plain zarr."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import zarr
import zarr.codecs
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from pipeline.cache import InlineLocalStore


def _files(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write_array(store, values: np.ndarray) -> None:
    array = zarr.create_array(store, shape=values.shape, chunks=(1, values.shape[1]), dtype="float64",
                              fill_value=np.nan, compressors=[zarr.codecs.Crc32cCodec()], zarr_format=3)
    array[:] = values
    array[2] = values[2] + 1  # an overwrite goes through the same path


def test_inline_store_writes_the_same_files_as_zarrs_local_store(tmp_path):
    values = np.random.default_rng(0).standard_normal((5, 7))
    _write_array(InlineLocalStore(tmp_path / "inline"), values)
    _write_array(LocalStore(tmp_path / "zarr"), values)
    inline, reference = _files(tmp_path / "inline"), _files(tmp_path / "zarr")
    assert inline == reference and len(inline) == 6  # metadata and five chunks, no partial files left
    expected = values.copy()
    expected[2] += 1
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "inline"), mode="r")[:], expected)


def test_inline_store_reads_whole_and_partial_values_and_misses(tmp_path):
    store = InlineLocalStore(tmp_path / "s")
    prototype = default_buffer_prototype()
    sync(store.set("a/b", prototype.buffer.from_bytes(b"0123456789")))
    assert sync(store.get("a/b", prototype)).to_bytes() == b"0123456789"
    assert sync(store.get("a/b", prototype, RangeByteRequest(2, 5))).to_bytes() == b"234"
    assert sync(store.get("a/missing", prototype)) is None
    assert sync(store.get("a", prototype)) is None  # a directory is not a value


def test_a_failed_inline_write_keeps_the_old_value_and_leaves_no_partial_file(tmp_path, monkeypatch):
    store = InlineLocalStore(tmp_path / "s")
    prototype = default_buffer_prototype()
    sync(store.set("k", prototype.buffer.from_bytes(b"old")))

    def no_rename(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "replace", no_rename)
    with pytest.raises(OSError, match="No space left"):
        sync(store.set("k", prototype.buffer.from_bytes(b"new")))
    monkeypatch.undo()
    assert _files(tmp_path / "s") == {"k": b"old"}


def test_a_read_only_inline_store_refuses_writes(tmp_path):
    sync(InlineLocalStore(tmp_path / "s").set("k", default_buffer_prototype().buffer.from_bytes(b"v")))
    with pytest.raises(ValueError, match="read-only"):
        sync(InlineLocalStore(tmp_path / "s", read_only=True).set("k", default_buffer_prototype().buffer.from_bytes(b"w")))
