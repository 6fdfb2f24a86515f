"""SIGTERM (a batch system's time limit, ``kill``) ends scatter-preprocess like Ctrl-C: one line,
exit 143, the local cluster shut down, and the same command resumes. Before, it ended with no
message and a leaked-semaphore warning from the multiprocessing resource tracker."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.pipeline_helpers import BIN, CONFIG_ARGS, run_cli, write_inputs

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
