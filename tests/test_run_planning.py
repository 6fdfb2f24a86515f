"""The executor's plan: how pending maps are grouped into Dask tasks, and how the cache is chunked."""

from __future__ import annotations

import math

import pytest

from pipeline.cache import RECORD_CHUNK_MAPS, SMALL_CHUNK_BYTES, Cache, data_shapes
from pipeline.config import ScatteringConfig
from pipeline.run import batches, maps_per_task
from pipeline.scattering import scattering_plan


@pytest.mark.parametrize(
    ("L", "n_maps", "n_workers", "expected"),
    [
        (1024, 1600, 2, 1),  # ~1 s per map already: one map per task
        (4096, 10, 2, 1),
        (512, 1600, 2, 8),  # 1/8 of the L = 1024 cost
        (256, 1600, 2, 64),  # 1/64
        (128, 100000, 2, 64),  # capped at MAX_MAPS_PER_TASK
        (256, 40, 2, 5),  # at least 4 tasks per worker
        (256, 40, 1, 10),
        (256, 3, 2, 1),
    ],
)
def test_maps_per_task_aims_at_a_second_of_work_and_four_tasks_per_worker(L, n_maps, n_workers, expected):
    assert maps_per_task(L, n_maps, n_workers) == expected


def test_batches_cover_every_pending_index_once_in_order():
    pending = [0, 1, 2, 5, 6, 9, 10, 11, 12]
    assert batches(pending, 4) == [[0, 1, 2, 5], [6, 9, 10, 11], [12]]
    assert sum(batches(pending, 1), []) == pending


@pytest.mark.parametrize("L", [32, 1024])
def test_coefficients_are_one_map_per_chunk_and_small_arrays_share_chunks(tmp_path, L):
    config = ScatteringConfig(L=L, J0=3)
    paths = [node.path for node in scattering_plan(config)]
    cache = Cache.create(str(tmp_path / "c.zarr"), config, paths, {}, overwrite=False)
    shapes = data_shapes(config, len(paths))
    assert cache.array("coefficients").chunks == (1, *shapes["coefficients"])
    for name in ("means", "power_spectra", "input_power_spectra"):
        n = cache.array(name).chunks[0]
        assert 1 <= n <= RECORD_CHUNK_MAPS and n * 8 * math.prod(shapes[name]) <= SMALL_CHUNK_BYTES
        assert n == RECORD_CHUNK_MAPS or (n + 1) * 8 * math.prod(shapes[name]) > SMALL_CHUNK_BYTES
    assert {cache.array(f"maps/{r}").chunks for r in ("status", "source", "sha256", "seconds")} == {(RECORD_CHUNK_MAPS,)}
