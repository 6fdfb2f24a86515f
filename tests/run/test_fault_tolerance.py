"""Faults injected into real runs: killed processes, killed workers, corrupt chunks, concurrent
runs, full disks. What must hold every time: nothing already computed is lost, nothing wrong is
marked done, and rerunning the same command ends in the same store as a clean run."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from pipeline.errors import InputError
from pipeline.io.inputs import InputSpec, expand_inputs
from pipeline.run.options import InputOptions, RunOptions
from pipeline.scattering.config import ScatteringConfig
from pipeline.store.cache import Cache
from pipeline.store.format import DATA_ARRAYS, RECORDS
from pipeline.store.inspection import verify
from tests.pipeline_helpers import (
    BIN,
    CONFIG_ARGS,
    CROSS_PROCESS_ROUNDING,
    J0,
    HealpixGrid,
    L,
    alm_to_map,
    assert_same_store,
    dask_cluster,
    hp,
    random_alm,
    run_cli,
    store_contents,
    write_inputs,
)

pytestmark = [pytest.mark.cli, pytest.mark.cluster]

ORDER = ["sky_ring.fits", "sky_nest.fits", "sky_nest.npy", "gl.npy", "extra0.fits", "extra1.fits"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    write_inputs(folder)
    return [str(folder / n) for n in ORDER]


@pytest.fixture(scope="module")
def clean_store(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "cache.zarr"
    assert run_cli("scatter-preprocess", *inputs, "-o", str(out), *CONFIG_ARGS, "--no-progress").returncode == 0
    return out


def _chunk_file(store, array: str, index: int):
    path = store / array / "c" / str(index)
    return next(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else path


@pytest.mark.parametrize("damage", [pytest.param("flip", marks=pytest.mark.slow), "truncate", pytest.param("delete", marks=pytest.mark.slow)])
def test_verify_names_a_corrupted_map_and_repair_recomputes_only_it(inputs, clean_store, tmp_path, damage):
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    chunk = _chunk_file(store, "coefficients", 3)
    data = bytearray(chunk.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        chunk.write_bytes(bytes(data))
    elif damage == "truncate":
        chunk.write_bytes(bytes(data[: len(data) // 2]))
    else:
        chunk.unlink()
    before = {i: _chunk_file(store, "coefficients", i).stat().st_mtime_ns for i in (0, 1, 2, 4, 5)}
    found = run_cli("scatter-cache", "verify", str(store))
    assert found.returncode == 1 and "Traceback" not in found.stderr
    problems = [line for line in found.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and problems[0].startswith(f"problem: map 3 ({inputs[3]}): ")
    repaired = run_cli("scatter-cache", "verify", str(store), "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired 1 map(s); 0 problem(s) remain" in repaired.stdout
    assert {i: _chunk_file(store, "coefficients", i).stat().st_mtime_ns for i in (0, 1, 2, 4, 5)} == before
    assert_same_store(store, clean_store)


@pytest.mark.parametrize(("array", "command"), [
    ("maps/status", "repair"), ("means", "resume"),
    *(pytest.param(a, c, marks=pytest.mark.slow) for a, c in (("maps/status", "resume"), ("maps/sha256", "repair"),
                                                             ("maps/sha256", "resume"), ("means", "repair"))),
])
def test_a_corrupt_chunk_shared_by_several_maps_is_dropped_and_its_maps_recomputed(inputs, clean_store, tmp_path, array, command):
    """Records, means and spectra hold many maps per chunk: a chunk that no longer decodes makes all
    its maps suspect; verify names each, and a repair or a plain rerun recomputes exactly them."""
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    chunk = _chunk_file(store, array, 0)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    found = run_cli("scatter-cache", "verify", str(store))
    assert found.returncode == 1 and "Traceback" not in found.stderr
    named = {int(line.split()[2]) for line in found.stdout.splitlines() if line.startswith("problem: map ")}
    assert named == set(range(len(inputs))) and f"{array} chunk unreadable" in found.stdout
    if command == "repair":
        fixed = run_cli("scatter-cache", "verify", str(store), "--repair")
        assert f"repaired {len(inputs)} map(s); 0 problem(s) remain" in fixed.stdout, fixed.stdout + fixed.stderr
    else:
        fixed = run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress")
        assert f"{len(inputs)} computed, 0 already done" in fixed.stdout, fixed.stdout + fixed.stderr
    assert fixed.returncode == 0
    assert verify(Cache.open(str(store))) == []
    assert_same_store(store, clean_store)


def test_resuming_maps_with_done_maps_between_them_loses_nothing(inputs, clean_store, tmp_path):
    """With one worker, pending maps 1, 3, 5 go in tasks [1, 3] and [5]; their records share chunks
    with the done maps 0, 2, 4, and writing both runs of the first batch must keep every update
    (concurrent read-modify-writes of one chunk kept only one, and statuses could claim lost data)."""
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    cache = Cache.open(str(store), mode="r+")
    for name in cache.result_arrays():  # maps 1, 3, 5 as if never computed
        array = cache.group[name]
        for i in (1, 3, 5):
            array[i] = array.fill_value
    resumed = run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress", "--workers", "1")
    assert resumed.returncode == 0 and "3 computed, 3 already done" in resumed.stdout, resumed.stdout + resumed.stderr
    assert verify(Cache.open(str(store))) == []
    assert_same_store(store, clean_store)


def test_a_damaged_record_of_which_input_each_map_is_asks_for_a_rebuild_without_traceback(inputs, clean_store, tmp_path):
    """maps/source cannot be recomputed (it says which file each map is): verify names it (exit 1),
    inspect and a rerun stop with one line (exit 2), and no data is touched."""
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    chunk = _chunk_file(store, "maps/source", 0)
    damaged = bytearray(chunk.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    chunk.write_bytes(bytes(damaged))
    expected = (re.escape("maps/source chunk unreadable (ValueError: Stored and computed checksum do not match. Stored: ")
                + ".*" + re.escape("): the records of which input each map is are damaged; rebuild the cache with --overwrite"))
    found = run_cli("scatter-cache", "verify", str(store))
    assert found.returncode == 1 and "Traceback" not in found.stderr
    assert re.fullmatch(f"problem: {expected}", found.stdout.splitlines()[0])
    for args in (["scatter-cache", "inspect", str(store)], ["scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS]):
        refused = run_cli(*args)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert re.fullmatch(f"error: {expected}", refused.stderr.strip())
    assert chunk.read_bytes() == bytes(damaged)
    assert all(_chunk_file(store, "coefficients", i).read_bytes() == _chunk_file(clean_store, "coefficients", i).read_bytes()
               for i in range(len(inputs)))


def test_repair_works_on_a_cache_that_holds_one_file_under_two_spellings(inputs, clean_store, tmp_path):
    """Caches written before sources were matched by real path can hold one file twice; a repair
    recomputes the maps it names without re-adding inputs (which would refuse the duplicate)."""
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    group = zarr.open_group(str(store), mode="r+", use_consolidated=False)
    group["maps/source"][1] = inputs[0].replace("/inputs", "/./inputs", 1)  # row 0's file, spelled otherwise
    group["means"][3] = np.nan
    repaired = run_cli("scatter-cache", "verify", str(store), "--repair")
    assert repaired.returncode == 0 and "repaired 1 map(s); 0 problem(s) remain" in repaired.stdout, repaired.stdout + repaired.stderr


def test_verify_checks_every_map_after_an_interrupted_append(inputs, clean_store, tmp_path):
    """Arrays longer than maps/status (an append interrupted before its maps existed) are not a
    problem in themselves and must not hide a done map without data."""
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    group = zarr.open_group(str(store), mode="r+", use_consolidated=False)
    for name in ("coefficients", "means", "power_spectra", "input_power_spectra", "maps/source", "maps/sha256"):
        group[name].resize((len(inputs) + 2, *group[name].shape[1:]))
    _chunk_file(store, "coefficients", 1).unlink()
    found = [str(p) for p in verify(Cache.open(str(store)))]
    assert found == [f"map 1 ({inputs[1]}): coefficients missing or not finite although the map is marked done"]


def test_a_refused_run_leaves_a_complete_cache_untouched(inputs, clean_store, tmp_path):
    from pipeline.run import runner as run

    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    twice = [InputSpec(inputs[0]), InputSpec(inputs[0].replace("/inputs", "/./inputs", 1))]
    with pytest.raises(InputError, match="duplicate input"):
        run.preprocess(twice, str(store), ScatteringConfig(L=L, J0=J0), InputOptions(), RunOptions(progress=False))
    assert (store / "zarr.json").read_bytes() == (clean_store / "zarr.json").read_bytes()


def test_a_cache_whose_creation_was_interrupted_is_named_and_replaced_with_overwrite(inputs, clean_store, tmp_path):
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    shutil.rmtree(store / "maps" / "status")
    refused = run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"error: file://{store} lacks maps/status (its creation was interrupted): rerun with --overwrite")
    replaced = run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert_same_store(store, clean_store)


@pytest.mark.parametrize("made", [pytest.param(0, marks=pytest.mark.slow), 3, pytest.param(9, marks=pytest.mark.slow)])
def test_a_cache_killed_while_being_created_is_created_again_by_the_same_command(inputs, clean_store, tmp_path, made):
    """The arrays are made one after another (``maps/status`` last): a kill in between leaves a
    store with some of them, all empty. Before, the same command refused it (use --overwrite)."""
    store = tmp_path / "cache.zarr"
    config = ScatteringConfig(L=L, J0=J0)
    Cache.create(str(store), config, InputOptions().to_dict(), overwrite=False)
    for name in [*DATA_ARRAYS, *(f"maps/{r}" for r in RECORDS)][made:]:
        shutil.rmtree(store / name)
    again = run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert again.returncode == 0, again.stderr
    assert_same_store(store, clean_store)


def test_verify_inputs_finds_an_input_changed_after_scattering_and_repair_recomputes_it(inputs, clean_store, tmp_path):
    folder = tmp_path / "inputs"
    shutil.copytree(os.path.dirname(inputs[0]), folder)
    copies = [str(folder / os.path.basename(p)) for p in inputs]
    store = tmp_path / "cache.zarr"
    assert run_cli("scatter-preprocess", *copies, "-o", str(store), *CONFIG_ARGS, "--no-progress").returncode == 0
    shutil.copyfile(inputs[4], copies[5])  # extra1.fits now holds extra0's map
    assert run_cli("scatter-cache", "verify", str(store)).returncode == 0  # the store itself is sound
    found = run_cli("scatter-cache", "verify", str(store), "--inputs")
    assert found.returncode == 1 and "Traceback" not in found.stderr
    assert re.fullmatch(rf"problem: map 5 \({re.escape(copies[5])}\): input changed since it was scattered "
                        r"\(sha256 [0-9a-f]{12}\.\.\., recorded [0-9a-f]{12}\.\.\.\)", found.stdout.strip())
    repaired = run_cli("scatter-cache", "verify", str(store), "--inputs", "--repair")
    assert repaired.returncode == 0 and "repaired 1 map(s); 0 problem(s) remain" in repaired.stdout, repaired.stdout
    coefficients = zarr.open_group(str(store), mode="r")["coefficients"]
    np.testing.assert_allclose(coefficients[5], coefficients[4], rtol=0, atol=CROSS_PROCESS_ROUNDING * np.abs(coefficients[4]).max())


def test_a_second_concurrent_run_is_refused_and_a_killed_owner_does_not_block(inputs, clean_store, tmp_path):
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    lock = tmp_path / "cache.zarr.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pipeline.store.lock import StoreLock; StoreLock(sys.argv[1]).__enter__(); "
         "print('held', flush=True); time.sleep(120)", str(store)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        refused = run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip() == (
            f"error: {store} is being written by another run (pid {holder.pid} on {socket.gethostname()}): wait for it to finish"
        )
    finally:
        holder.kill()
        holder.wait()
    assert lock.exists()  # left by the killed owner, no longer locked
    resumed = run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert resumed.returncode == 0 and not lock.exists()
    assert_same_store(store, clean_store)


def test_full_disk_is_a_clear_error_and_keeps_the_cache(inputs, clean_store, tmp_path, monkeypatch):
    """ENOSPC while writing a map: one-line error, exit 2, every earlier map intact, resumable."""
    from click.testing import CliRunner

    import cli
    from pipeline.store import cache as cache_module

    store = tmp_path / "cache.zarr"
    first = run_cli("scatter-preprocess", *inputs[:3], "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert first.returncode == 0
    original_write = cache_module.Cache.write
    calls = {"n": 0}

    def failing_write(self, result, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(store))
        original_write(self, result, **kwargs)

    monkeypatch.setattr(cache_module.Cache, "write", failing_write)
    result = CliRunner().invoke(cli.preprocess_main, [*inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress", "--workers", "1"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == f"error: No space left on device ({store}); nothing already stored was lost"
    monkeypatch.undo()
    assert verify(Cache.open(str(store))) != []  # incomplete, but every done map is sound:
    assert [p for p in verify(Cache.open(str(store))) if "pending" not in p.message] == []
    resumed = run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert resumed.returncode == 0
    assert_same_store(store, clean_store)


def test_a_writer_that_falls_behind_stores_the_tasks_finished_meanwhile_in_one_write(inputs, clean_store, tmp_path, monkeypatch):
    """One map per task, the first write slowed down by 3 s: the tasks that finish meanwhile are
    stored by the next write together, and the store is the clean one."""
    from click.testing import CliRunner

    import cli
    from pipeline.store import cache as cache_module

    original_write = cache_module.Cache.write
    sizes = []

    def slow_first_write(self, results, **kwargs):
        sizes.append(len(results))
        if len(sizes) == 1:
            time.sleep(3.0)
        original_write(self, results, **kwargs)

    monkeypatch.setattr(cache_module.Cache, "write", slow_first_write)
    store = tmp_path / "cache.zarr"
    result = CliRunner().invoke(cli.preprocess_main, [*inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress", "--maps-per-task", "1"])
    assert result.exit_code == 0, result.output
    assert sum(sizes) == len(inputs) and max(sizes[1:]) >= 2, sizes
    monkeypatch.undo()
    assert_same_store(store, clean_store)


def test_an_unexpected_error_in_one_map_fails_that_map_only(inputs, monkeypatch):
    from pipeline.run import tasks

    def out_of_memory(source, options, masked_by=None):
        raise MemoryError("cannot allocate 12.0 GiB")

    monkeypatch.setattr(tasks, "read_map", out_of_memory)
    result = tasks.scatter_file(3, inputs[0], ScatteringConfig(L=L, J0=J0), InputOptions())
    assert result.index == 3 and result.coefficients is None
    assert result.error == f"{inputs[0]}: unexpected MemoryError: cannot allocate 12.0 GiB"


def test_a_task_that_fails_as_a_whole_fails_its_maps_and_the_run_goes_on(inputs, clean_store, tmp_path, monkeypatch):
    """A task error outside any one map (as when its worker dies repeatedly): each of its maps is
    recorded failed with one line, every other map is stored, the summary lists them."""
    from dask.distributed import LocalCluster

    from pipeline.run import runner as run

    scatter_files = run.scatter_files

    def fails_on_map_2(items, *args):
        if any(index == 2 for index, _ in items):
            raise RuntimeError("worker lost\nsecond line")
        return scatter_files(items, *args)

    monkeypatch.setattr(run, "scatter_files", fails_on_map_2)
    store = tmp_path / "cache.zarr"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        summary = run.preprocess(expand_inputs(inputs), str(store), ScatteringConfig(L=L, J0=J0), InputOptions(),
                                 RunOptions(scheduler=cluster.scheduler_address, progress=False, maps_per_task=1))
    assert summary.failures == [f"{inputs[2]}: the task computing it failed (RuntimeError: worker lost)"]
    status = Cache.open(str(store)).status()
    assert list(status) == [1, 1, 2, 1, 1, 1]
    contents, clean = store_contents(store), store_contents(clean_store)
    np.testing.assert_allclose(np.delete(contents["coefficients"], 2, axis=0), np.delete(clean["coefficients"], 2, axis=0),
                               rtol=0, atol=CROSS_PROCESS_ROUNDING * np.abs(clean["coefficients"]).max())


def test_an_interrupted_run_never_leaves_a_cache_that_says_complete(inputs, clean_store, tmp_path, monkeypatch):
    """A complete, consolidated cache gets new maps and the run is interrupted: the root no longer
    claims completeness nor carries the consolidated view of the old arrays; a rerun restores both."""
    from pipeline.run import runner as run

    store = tmp_path / "cache.zarr"
    shutil.copytree(clean_store, store)
    root = json.loads((store / "zarr.json").read_text())
    assert root["attributes"]["complete"] is True and root.get("consolidated_metadata")

    def interrupted(self, shape):
        raise KeyboardInterrupt

    monkeypatch.setattr(zarr.Array, "resize", interrupted)  # the append's first change to the arrays
    with pytest.raises(KeyboardInterrupt):
        run.preprocess([*expand_inputs(inputs), InputSpec(str(tmp_path / "new.npy"))], str(store), ScatteringConfig(L=L, J0=J0),
                       InputOptions(), RunOptions(progress=False))
    monkeypatch.undo()
    root = json.loads((store / "zarr.json").read_text())
    assert root["attributes"]["complete"] is False and not root.get("consolidated_metadata")
    assert run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress").returncode == 0
    root = json.loads((store / "zarr.json").read_text())
    assert root["attributes"]["complete"] is True and root.get("consolidated_metadata")


def test_unwritable_output_is_a_clear_error(inputs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("scatter-preprocess", inputs[0], "-o", str(blocker / "cache.zarr"), *CONFIG_ARGS, "--no-progress")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def _only_unfinished(store) -> bool:
    """No map is marked done without its data: every problem verify finds is a pending map."""
    return all("pending" in p.message for p in verify(Cache.open(str(store))))


def test_sigkill_between_data_and_status_and_at_random_times(inputs, clean_store, tmp_path):
    store = tmp_path / "cache.zarr"
    args = ["scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress", "--workers", "1",
            "--maps-per-task", "2"]
    kills = 0
    torn = run_cli(*args, env={"SCATTER_TEST_KILL_AFTER": "3:data"})  # the write holding map 3 (batch [2, 3]) is torn
    assert torn.returncode == -9
    kills += 1
    g = zarr.open_group(str(store), mode="r", use_consolidated=False)
    status = g["maps/status"][:].tolist()
    done = status.count(1)  # 2, or 0 when batches [0, 1] and [2, 3] finished before the first write (written together)
    assert done in (0, 2) and status == [1] * done + [0] * (6 - done) and np.all(np.isfinite(g["coefficients"][done:4]))
    assert _only_unfinished(store)
    rng = np.random.default_rng(11)
    for _ in range(4):  # SIGKILL from outside after random delays: any point of a run, writes included
        proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 4.0))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
        assert _only_unfinished(store)
    final = run_cli(*args)
    assert final.returncode == 0, final.stderr
    assert kills >= 2
    assert verify(Cache.open(str(store))) == []
    assert_same_store(store, clean_store)


def test_a_worker_killed_mid_run_does_not_change_the_store(tmp_path):
    """A distributed cluster on 127.0.0.1 loses a worker process mid-run (SIGKILL); its tasks are
    recomputed elsewhere and the store equals a clean local run's."""
    from dask.distributed import Client

    folder = tmp_path / "maps"
    folder.mkdir()
    rng = np.random.default_rng(5)
    L, nside = 128, 64
    for k in range(16):
        values = alm_to_map(random_alm(rng, L), HealpixGrid(nside, "RING"), L)
        hp.write_map(folder / f"m{k:02d}.fits", values, dtype=np.float64)
    config = ["--L", str(L), "--J0", "4", "--no-progress"]
    clean = tmp_path / "clean.zarr"
    assert run_cli("scatter-preprocess", str(folder), "-o", str(clean), *config).returncode == 0
    store = tmp_path / "cache.zarr"
    with dask_cluster(2) as address:
        with Client(address) as client:
            victim = next(iter(client.run(os.getpid).values()))
        run = subprocess.Popen([str(BIN / "scatter-preprocess"), str(folder), "-o", str(store), *config, "--scheduler", address],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:  # kill once the run has written something and is still going
            try:
                done = np.sum(zarr.open_group(str(store), mode="r", use_consolidated=False)["maps/status"][:] == 1)
            except Exception:
                done = 0
            if done >= 2 or run.poll() is not None:
                break
            time.sleep(0.05)
        killed_mid_run = run.poll() is None
        os.kill(victim, 9)
        _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert killed_mid_run
    assert_same_store(store, clean)
