"""The cache's writes: InlineLocalStore (the writer's LocalStore without thread hops) must store
exactly what zarr's own LocalStore stores, stay atomic and read back with plain zarr; a batch's
writes into shared chunks must keep every map."""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np
import pytest
import zarr
import zarr.codecs
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from pipeline.errors import InputError
from pipeline.io.inputs import InputSpec
from pipeline.scattering.config import ScatteringConfig
from pipeline.store import cache as cache_module
from pipeline.store.cache import Cache
from pipeline.store.format import DONE, PENDING, MapResult
from pipeline.store.zarr_io import InlineLocalStore


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


def test_a_batch_of_maps_apart_in_one_shared_chunk_keeps_every_map(tmp_path):
    """Cache.write of maps 1, 3, 5, 8 (four runs, one chunk of every small array): each map's
    data, records and status are stored."""
    config = ScatteringConfig(L=32, J0=2)
    cache = Cache.create(str(tmp_path / "cache.zarr"), config, {}, overwrite=False)
    cache.add_maps([InputSpec(source=f"map{i}") for i in range(10)])
    rng = np.random.default_rng(1)
    indices = [1, 3, 5, 8]
    results = [MapResult(index=i, sha256=f"hash{i}", seconds=float(i),
                         **{name: rng.standard_normal(shape) for name, shape in cache.layout.row_shapes.items()})
               for i in indices]
    cache.write(results)
    group = zarr.open_group(str(tmp_path / "cache.zarr"), mode="r")
    assert list(group["maps/status"][:]) == [DONE if i in indices else PENDING for i in range(10)]
    assert list(group["maps/sha256"][:]) == [f"hash{i}" if i in indices else "" for i in range(10)]
    for result in results:
        for name in cache.layout.row_shapes:
            np.testing.assert_array_equal(group[name][result.index], getattr(result, name), err_msg=name)


def _written_cache(tmp_path, n_maps: int) -> Cache:
    config = ScatteringConfig(L=32, J0=2)
    cache = Cache.create(str(tmp_path / "cache.zarr"), config, {}, overwrite=False)
    cache.add_maps([InputSpec(source=f"map{i}") for i in range(n_maps)])
    rng = np.random.default_rng(2)
    cache.write([MapResult(index=i, sha256=f"hash{i}", **{name: rng.standard_normal(shape) for name, shape in
                                                          cache.layout.row_shapes.items()}) for i in range(n_maps)])
    return cache


@pytest.mark.parametrize("interrupted_in", ["mark_pending", "delete_chunk"])
def test_dropping_an_unreadable_chunk_interrupted_anywhere_leaves_no_done_map_without_data(tmp_path, monkeypatch, interrupted_in):
    _written_cache(tmp_path, 3)
    chunk = tmp_path / "cache.zarr" / "means" / "c" / "0" / "0"
    damaged = bytearray(chunk.read_bytes())
    damaged[-1] ^= 0xFF
    chunk.write_bytes(bytes(damaged))

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(*((Cache, "mark_pending") if interrupted_in == "mark_pending" else (cache_module, "delete_chunk")),
                        interrupt)
    with pytest.raises(KeyboardInterrupt):
        Cache.open(str(tmp_path / "cache.zarr"), mode="r+").drop_unreadable_chunks()
    monkeypatch.undo()
    reopened = Cache.open(str(tmp_path / "cache.zarr"), mode="r+")
    assert chunk.exists()  # nothing deleted before its maps were marked pending
    assert list(reopened.status()) == [DONE if interrupted_in == "mark_pending" else PENDING] * 3
    assert reopened.drop_unreadable_chunks() == [0, 1, 2]
    assert list(reopened.status()) == [PENDING] * 3 and not chunk.exists()


@pytest.mark.parametrize("interrupted_before", ["maps/source", "maps/label", "maps/split", "maps/metadata", "maps/status"])
def test_an_append_interrupted_anywhere_is_completed_by_the_next_run(tmp_path, monkeypatch, interrupted_before):
    """The maps exist only once maps/status is extended, after their records: a rerun appends them
    again in full (labels, splits, metadata), and a rerun with fewer inputs trims the extra rows."""
    cache = _written_cache(tmp_path, 2)
    old = [InputSpec(source=f"map{i}") for i in range(2)]
    new = [InputSpec(source=f"new{i}", label=i, split="train", metadata={"snr": str(i)}) for i in range(3)]
    write, resize = zarr.Array.__setitem__, zarr.Array.resize

    def interrupt_writes(self, selection, value):
        if self.path == interrupted_before:
            raise KeyboardInterrupt
        write(self, selection, value)

    def interrupt_resizes(self, shape):
        if self.path == interrupted_before:
            raise KeyboardInterrupt
        resize(self, shape)

    monkeypatch.setattr(zarr.Array, "__setitem__", interrupt_writes)
    monkeypatch.setattr(zarr.Array, "resize", interrupt_resizes)
    with pytest.raises(KeyboardInterrupt):
        cache.add_maps(old + new)
    monkeypatch.undo()
    reopened = Cache.open(str(tmp_path / "cache.zarr"), mode="r+")
    assert reopened.n_maps == 2 and list(reopened.status()) == [DONE, DONE]
    assert reopened.add_maps(old + new[:2]) == [0, 1, 2, 3]
    assert reopened.input_specs() == old + new[:2]
    assert all(reopened.group[name].shape[0] == 4 for name in reopened.layout.row_shapes)
    assert all(reopened.group[f"maps/{name}"].shape[0] == 4 for name in ("source", "label", "split", "metadata", "status"))


def test_the_same_source_twice_is_refused(tmp_path):
    cache = _written_cache(tmp_path, 1)
    with pytest.raises(InputError, match=f"^{re.escape(os.path.abspath('map0'))}: duplicate input \\(each map may be given once\\)$"):
        cache.add_maps([InputSpec(source="map0"), InputSpec(source="new"), InputSpec(source="map0")])
    assert cache.n_maps == 1


def test_another_spelling_of_a_known_source_is_the_same_map(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "a.npy").write_bytes(b"")
    (tmp_path / "link.npy").symlink_to(tmp_path / "maps" / "a.npy")
    cache = _written_cache(tmp_path, 0)
    assert cache.add_maps([InputSpec(source="maps/a.npy")]) == [0]
    assert cache.add_maps([InputSpec(source="./maps/a.npy"), InputSpec(source="maps/b.npy")]) == [0, 1]
    assert cache.add_maps([InputSpec(source=str(tmp_path / "link.npy"))]) == [0]
    assert cache.sources() == [str(tmp_path / "maps" / "a.npy"), str(tmp_path / "maps" / "b.npy")]  # recorded absolute
    with pytest.raises(InputError, match="duplicate input"):
        cache.add_maps([InputSpec(source="maps/a.npy"), InputSpec(source="./maps/a.npy")])
