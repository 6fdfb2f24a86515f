"""A damaged array zarr.json (not JSON any more) is one line in every command: a problem for
verify (exit 1, storage damage), an error for inspect and a run (exit 2); the cache is left as it
was. Before, each ended in a JSONDecodeError traceback."""

from __future__ import annotations

import shutil

import pytest

from tests.pipeline_helpers import CONFIG_ARGS, run_cli, write_inputs

pytestmark = pytest.mark.cli


@pytest.mark.parametrize("array", ["means", "maps/status"])
def test_a_damaged_array_metadata_is_one_line_everywhere(tmp_path, array):
    write_inputs(tmp_path / "inputs")
    source = str(tmp_path / "inputs" / "gl.npy")
    store = tmp_path / "cache.zarr"
    assert run_cli("scatter-preprocess", source, "-o", str(store), *CONFIG_ARGS, "--no-progress", "--workers", "1").returncode == 0
    (store / array / "zarr.json").write_text("{broken")
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    message = (f"file://{store}: the metadata (zarr.json) of {array} (JSONDecodeError: Expecting property name enclosed in "
               "double quotes: line 1 column 2 (char 1)) is damaged: restore it, or rebuild the cache with --overwrite")
    verified = run_cli("scatter-cache", "verify", str(store))
    assert (verified.returncode, verified.stdout.strip(), verified.stderr) == (1, f"problem: {message}", "")
    for command in (["scatter-cache", "inspect", str(store)], ["scatter-preprocess", source, "-o", str(store), *CONFIG_ARGS]):
        refused = run_cli(*command)
        assert (refused.returncode, refused.stderr.strip()) == (2, f"error: {message}")
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == before
    shutil.rmtree(store)
