"""SIGTERM (a batch system's time limit, ``kill``) ends scatter-preprocess like Ctrl-C: one line,
exit 143, the local cluster shut down, and the same command resumes. Before, it ended with no
message and a leaked-semaphore warning from the multiprocessing resource tracker. Ctrl-C sent to
the whole process group (as a terminal does) is one line too; before, every local worker printed
a KeyboardInterrupt traceback first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import alm_to_map
from pipeline.testing import random_alm
from tests.pipeline_helpers import BIN, CONFIG_ARGS, done_maps, run_cli, write_inputs

pytestmark = [pytest.mark.cli, pytest.mark.cluster]


def test_sigterm_is_one_line_and_the_run_resumes(tmp_path):
    write_inputs(tmp_path / "inputs")
    store = tmp_path / "cache.zarr"
    command = [str(BIN / "scatter-preprocess"), str(tmp_path / "inputs"), "-o", str(store), *CONFIG_ARGS, "--no-progress"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (store / "maps" / "status" / "zarr.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # the store is made (the handler is in place), the local cluster starts next
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert (run.returncode, err.strip(), out) == (143, "terminated (SIGTERM): rerun the same command to resume", "")
    resumed = run_cli("scatter-preprocess", *command[1:])
    assert resumed.returncode == 0 and "0 failed, of 6 inputs" in resumed.stdout, resumed.stderr


def _sigint_as_in_a_terminal() -> None:
    """A shell that starts pytest in the background (``cmd &`` without job control) leaves SIGINT
    ignored, and children inherit that (Python then installs no KeyboardInterrupt handler): the
    command under test gets the default disposition, as when run from a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_to_the_process_group_is_one_line_and_the_run_resumes(tmp_path):
    """A terminal's Ctrl-C reaches every process of the group, the local cluster's workers too;
    they ignore it, so the user sees one line (exit 130), not a KeyboardInterrupt traceback per worker."""
    rng = np.random.default_rng(5)
    grid = RingGrid.for_bandlimit("gl", 256)  # ~0.1 s per map: the run is still going when Ctrl-C comes
    sources = []
    for i in range(24):
        path = tmp_path / f"map{i:02d}.npy"
        np.save(path, alm_to_map(random_alm(rng, 256), grid, 256))
        path.with_suffix(".json").write_text(json.dumps({"grid": "gl"}))
        sources.append(str(path))
    store = tmp_path / "cache.zarr"
    args = [*sources, "-o", str(store), "--L", "256", "--J0", "4", "--maps-per-task", "1", "--no-progress"]
    run = subprocess.Popen([str(BIN / "scatter-preprocess"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True, preexec_fn=_sigint_as_in_a_terminal)
    deadline = time.monotonic() + 120
    while done_maps(store) < 2 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert 2 <= done_maps(store) < 24, "the run finished before Ctrl-C"
    assert (run.returncode, err.strip()) == (130, "interrupted: rerun the same command to resume"), err
    resumed = run_cli("scatter-preprocess", *args, "--workers", "1")
    assert resumed.returncode == 0 and "0 failed, of 24 inputs" in resumed.stdout, resumed.stderr

