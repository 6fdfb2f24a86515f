"""The executor's plan: how pending maps are grouped into Dask tasks, and how the cache is chunked."""

from __future__ import annotations

import math

import pytest

from pipeline.run.planning import batches, largest_batch
from pipeline.scattering.config import ScatteringConfig
from pipeline.store.cache import Cache
from pipeline.store.format import RECORD_CHUNK_MAPS, SMALL_CHUNK_BYTES


@pytest.mark.parametrize(("L", "expected"), [(4096, 1), (1024, 1), (512, 8), (256, 64), (128, 64)])
def test_largest_batch_is_about_a_second_of_work(L, expected):
    assert largest_batch(L) == expected  # cost ~ L**3, 1 s per map at L = 1024, at most 64 maps


@pytest.mark.parametrize(("n_maps", "n_workers", "largest"), [(200, 2, 64), (200, 2, 8), (1600, 2, 1), (37, 3, 64), (5, 1, 2)])
def test_batches_cover_every_pending_index_once_in_order_and_shrink(n_maps, n_workers, largest):
    pending = [i for i in range(2 * n_maps) if i % 2 == 0 or i % 7 == 0][:n_maps]  # gaps, as after a resume
    out = batches(pending, n_workers, largest)
    sizes = [len(b) for b in out]
    assert sum(out, []) == pending
    assert max(sizes) <= largest and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1
    assert all(size <= -(-(n_maps - sum(sizes[:k])) // (2 * n_workers)) for k, size in enumerate(sizes))


def test_guided_batches_for_the_benchmark_case():
    assert [len(b) for b in batches(list(range(200)), 2, 64)] == [50, 38, 28, 21, 16, 12, 9, 7, 5, 4, 3, 2, 2, 1, 1, 1]


@pytest.mark.parametrize("L", [32, 1024])
def test_coefficients_are_one_map_per_chunk_and_small_arrays_share_chunks(tmp_path, L):
    config = ScatteringConfig(L=L, J0=3)
    cache = Cache.create(str(tmp_path / "c.zarr"), config, {}, overwrite=False)
    shapes = cache.layout.row_shapes
    assert cache.array("coefficients").chunks == (1, *shapes["coefficients"])
    for name in ("means", "power_spectra", "input_power_spectra"):
        n = cache.array(name).chunks[0]
        assert 1 <= n <= RECORD_CHUNK_MAPS and n * 8 * math.prod(shapes[name]) <= SMALL_CHUNK_BYTES
        assert n == RECORD_CHUNK_MAPS or (n + 1) * 8 * math.prod(shapes[name]) > SMALL_CHUNK_BYTES
    assert {cache.array(f"maps/{r}").chunks for r in ("status", "source", "sha256", "seconds")} == {(RECORD_CHUNK_MAPS,)}
