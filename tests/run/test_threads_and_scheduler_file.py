"""Threads inside one map and the scheduler file of HPC launchers (README "Running on a
cluster"): the local layout rule, results equal across thread counts, a real scheduler found
through the file it wrote, and one-line errors for a bad file or a scheduler named twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.run.planning import local_layout
from tests.pipeline_helpers import CONFIG_ARGS, dask_cluster, run_cli, store_contents, write_inputs


@pytest.mark.parametrize(
    ("L", "cores", "workers", "threads", "expected"),
    [(1024, 2, None, None, (2, 1)), (2048, 2, None, None, (1, 2)), (8192, 16, None, None, (1, 16)), (256, 16, None, None, (16, 1)),
     (4096, 2, 1, None, (1, 2)), (4096, 16, 4, None, (4, 4)), (256, 16, None, 4, (4, 4)), (32, 2, 1, None, (1, 1)),
     (32, 2, 2, 3, (2, 3))],
)
def test_local_layout_runs_large_maps_on_all_cores_and_small_ones_one_per_core(L, cores, workers, threads, expected):
    assert local_layout(L, cores, workers, threads) == expected


def test_a_worker_started_with_one_openmp_thread_gets_the_threads_it_is_asked_for():
    """Dask's nanny gives workers OMP_NUM_THREADS=1, from which ducc0 sizes its pool: before
    ``use_threads``, --threads-per-worker 2 ran on one core."""
    code = ("import ducc0; from pipeline.run.tasks import use_threads; before = ducc0.misc.thread_pool_size(); "
            "use_threads(2); print(before, ducc0.misc.thread_pool_size())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            cwd=Path(__file__).resolve().parents[2], check=True)
    assert result.stdout.split() == ["1", "2"]


@pytest.mark.cli
def test_two_threads_per_map_give_the_coefficients_of_one(tmp_path):
    write_inputs(tmp_path / "inputs")
    source = str(tmp_path / "inputs" / "gl.npy")
    stores = {}
    for threads in (1, 2):
        stores[threads] = tmp_path / f"t{threads}.zarr"
        result = run_cli("scatter-preprocess", source, "-o", str(stores[threads]), *CONFIG_ARGS, "--no-progress",
                         "--workers", "1", "--threads-per-worker", str(threads))
        assert result.returncode == 0, result.stderr
    one, two = (store_contents(stores[t]) for t in (1, 2))
    np.testing.assert_allclose(two["coefficients"], one["coefficients"], rtol=1e-12, atol=1e-12 * np.abs(one["coefficients"]).max())


@pytest.mark.cli
@pytest.mark.cluster
def test_a_scheduler_file_finds_a_running_scheduler(tmp_path):
    write_inputs(tmp_path / "inputs")
    sources = [str(tmp_path / "inputs" / n) for n in ("gl.npy", "sky_ring.fits")]
    local = tmp_path / "local.zarr"
    assert run_cli("scatter-preprocess", *sources, "-o", str(local), *CONFIG_ARGS, "--no-progress", "--workers", "1").returncode == 0
    scheduler_file = tmp_path / "scheduler.json"
    with dask_cluster(2, scheduler_file):
        result = run_cli("scatter-preprocess", *sources, "-o", str(tmp_path / "remote.zarr"), *CONFIG_ARGS, "--no-progress",
                         "--scheduler-file", str(scheduler_file))
    assert result.returncode == 0, result.stderr
    remote, expected = store_contents(tmp_path / "remote.zarr"), store_contents(local)
    np.testing.assert_allclose(remote["coefficients"], expected["coefficients"], rtol=1e-12, atol=1e-12)
    assert list(remote["maps/status"]) == [1, 1]


@pytest.mark.cli
def test_a_bad_scheduler_file_or_a_scheduler_named_twice_is_one_line(tmp_path):
    write_inputs(tmp_path / "inputs")
    source = str(tmp_path / "inputs" / "gl.npy")
    missing = tmp_path / "nowhere.json"
    result = run_cli("scatter-preprocess", source, "-o", str(tmp_path / "c.zarr"), *CONFIG_ARGS, "--scheduler-file", str(missing))
    assert result.returncode == 2 and result.stderr.strip() == (
        f"error: cannot read the scheduler file {str(missing)!r} (FileNotFoundError: [Errno 2] No such file or directory: "
        f"{str(missing)!r}): expected the JSON file that 'dask scheduler --scheduler-file' writes; nothing was computed")
    twice = run_cli("scatter-preprocess", source, "-o", str(tmp_path / "d.zarr"), *CONFIG_ARGS, "--scheduler", "tcp://127.0.0.1:9",
                    "--scheduler-file", str(missing))
    assert twice.returncode == 2 and twice.stderr.strip() == "error: --scheduler and --scheduler-file name the scheduler twice: give one of them"
    assert not (tmp_path / "d.zarr").exists()
