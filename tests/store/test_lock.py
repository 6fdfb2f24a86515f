"""The store lock (pipeline.store.lock): never two holders, even when holders come and go quickly and
each removes the lock file as it leaves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.store.lock import StoreLock

ROOT = Path(__file__).resolve().parents[2]

CONTENDER = """
import os, sys
from pipeline.errors import InputError
from pipeline.store.lock import StoreLock
store, inside, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
held = overlaps = 0
for _ in range(rounds):
    try:
        with StoreLock(store):
            held += 1
            try:
                fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # only the holder may be inside
            except FileExistsError:
                overlaps += 1
                continue
            os.close(fd)
            os.unlink(inside)
    except InputError:
        pass
print(held, overlaps)
"""


def test_contending_processes_never_hold_the_lock_together(tmp_path):
    """Two of the four contenders name the store through a symlink, one through a relative
    spelling: the lock is taken on the resolved store, so all four exclude each other."""
    store, inside = tmp_path / "cache.zarr", str(tmp_path / "inside")
    store.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "link.zarr").symlink_to(store)
    spellings = [str(store), str(tmp_path / "elsewhere" / "link.zarr"), "./cache.zarr", str(tmp_path / "elsewhere" / "link.zarr")]
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, spelling, inside, "300"], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
             for spelling in spellings]
    counts = [tuple(map(int, p.communicate(timeout=120)[0].split())) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(overlaps for _, overlaps in counts) == 0
    assert sum(held for held, _ in counts) >= 100  # handed over many times, under contention
    assert not (tmp_path / "cache.zarr.lock").exists()
    assert not (tmp_path / "elsewhere" / "link.zarr.lock").exists()


def test_a_symlink_to_a_locked_store_is_refused(tmp_path):
    store = tmp_path / "cache.zarr"
    store.mkdir()
    (tmp_path / "link.zarr").symlink_to(store)
    with StoreLock(str(store)):
        with pytest.raises(InputError) as refused:
            with StoreLock(str(tmp_path / "link.zarr")):
                pass
    assert str(refused.value).startswith(f"{tmp_path / 'link.zarr'} is being written by another run (pid {os.getpid()} on ")


@pytest.mark.slow
def test_two_runs_racing_on_a_store_and_its_symlink_never_lose_anything(tmp_path):
    """20 trials: two scatter-preprocess runs started together, one naming the store through a
    symlink (made before the store exists). Each ends with exit 0 or with the one-line lock
    refusal (exit 2), never a traceback; the store is sound, complete and the same every time.
    Before, the run naming the symlink failed with "File exists" when it came first."""
    from tests.pipeline_helpers import BIN, CONFIG_ARGS, assert_same_store, run_cli, write_inputs

    write_inputs(tmp_path / "inputs")
    reference = None
    for trial in range(20):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        store = folder / "cache.zarr"
        (folder / "link.zarr").symlink_to(store)
        runs = [subprocess.Popen([str(BIN / "scatter-preprocess"), str(tmp_path / "inputs"), "-o", str(target), *CONFIG_ARGS,
                                  "--no-progress", "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for target in (store, folder / "link.zarr")]
        outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in runs]
        for code, err in outcomes:
            assert "Traceback" not in err, err
            assert code == 0 or (code == 2 and "is being written by another run" in err), (code, err)
        assert any(code == 0 for code, _ in outcomes)
        assert run_cli("scatter-cache", "verify", str(store)).returncode == 0
        reference = reference or store
        assert_same_store(store, reference)  # the same records; the numbers to cross-process rounding


@pytest.mark.cli
def test_an_output_symlink_to_a_store_not_made_yet_creates_it_at_its_target(tmp_path):
    """Before, zarr refused the dangling symlink as an existing file ("File exists")."""
    from tests.pipeline_helpers import CONFIG_ARGS, run_cli, write_inputs

    write_inputs(tmp_path / "inputs")
    (tmp_path / "link.zarr").symlink_to(tmp_path / "cache.zarr")
    result = run_cli("scatter-preprocess", str(tmp_path / "inputs" / "gl.npy"), "-o", str(tmp_path / "link.zarr"), *CONFIG_ARGS,
                     "--no-progress", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "link.zarr").is_symlink() and (tmp_path / "cache.zarr" / "zarr.json").is_file()
    assert run_cli("scatter-cache", "verify", str(tmp_path / "link.zarr")).stdout.strip().endswith("ok (1 maps verified)")
