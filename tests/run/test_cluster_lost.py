"""A scheduler killed mid-run: the maps it had not returned stay pending (not FAILED as if their
inputs were bad), the command ends with one line and exit 75, and the same command resumes them.
Before, every unfinished map was recorded as failed ("the task computing it failed (cancelled)")."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import numpy as np
import pytest
import zarr

from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import alm_to_map
from pipeline.testing import random_alm
from tests.pipeline_helpers import BIN, done_maps, run_cli

pytestmark = [pytest.mark.cli, pytest.mark.cluster]
L_SLOW = 256  # ~0.1 s per map: slow enough to kill the scheduler while maps are still running


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_lost_scheduler_leaves_unfinished_maps_pending(tmp_path):
    rng = np.random.default_rng(5)
    grid = RingGrid.for_bandlimit("gl", L_SLOW)
    sources = []
    for i in range(40):
        path = tmp_path / f"map{i:02d}.npy"
        np.save(path, alm_to_map(random_alm(rng, L_SLOW), grid, L_SLOW))
        path.with_suffix(".json").write_text(json.dumps({"grid": "gl"}))
        sources.append(str(path))
    address = f"tcp://127.0.0.1:{_free_port()}"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--no-dashboard"], **quiet)
    worker = subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                               "--host", "127.0.0.1"], **quiet)
    store = tmp_path / "cache.zarr"
    args = [*sources, "-o", str(store), "--L", str(L_SLOW), "--J0", "4", "--maps-per-task", "1", "--no-progress"]
    try:
        run = subprocess.Popen([str(BIN / "scatter-preprocess"), *args, "--scheduler", address], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=os.environ)
        deadline = time.monotonic() + 120
        while done_maps(store) < 3 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        scheduler.kill()
        out, err = run.communicate(timeout=120)
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait()
    status = zarr.open_group(str(store), mode="r")["maps/status"][:]
    assert 3 <= (status == 1).sum() < 40, "the run finished before the scheduler was killed"
    assert run.returncode == 75 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: the Dask cluster was lost")
    assert lines[0].endswith("rerun the same command to compute the rest")
    assert (status == 2).sum() == 0  # nothing recorded as failed: the inputs are fine
    resumed = run_cli("scatter-preprocess", *args, "--workers", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{40 - (status == 1).sum()} computed, {(status == 1).sum()} already done" in resumed.stdout
