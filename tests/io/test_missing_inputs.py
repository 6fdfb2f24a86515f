"""A manifest row whose file does not exist: by default the whole run is refused in one line before
anything is computed (a typo or an unmounted disk is cheaper to fix first); with --missing fail
that map is recorded as failed ("file not found") and the others compute. Before, there was no
choice: one missing file refused a manifest of any size."""

from __future__ import annotations

import pytest
import zarr

from tests.pipeline_helpers import CONFIG_ARGS, run_cli, write_inputs

pytestmark = pytest.mark.cli


def test_a_missing_manifest_file_refuses_or_fails_one_map(tmp_path):
    write_inputs(tmp_path / "maps")
    manifest = tmp_path / "maps" / "manifest.csv"
    manifest.write_text("path,label\ngl.npy,0\ngone.npy,1\nsky_ring.fits,1\n")
    store = tmp_path / "cache.zarr"
    refused = run_cli("scatter-preprocess", str(manifest), "-o", str(store), *CONFIG_ARGS, "--no-progress", "--workers", "1")
    assert refused.returncode == 2 and refused.stdout == "" and not store.exists()
    assert refused.stderr.strip() == (f"error: {manifest}: 1 of 3 listed files do not exist (first: row 3: {tmp_path / 'maps' / 'gone.npy'}); "
                                      "nothing was computed; --missing fail records them as failed maps and computes the rest")
    kept = run_cli("scatter-preprocess", str(manifest), "-o", str(store), *CONFIG_ARGS, "--no-progress", "--workers", "1",
                   "--missing", "fail")
    assert kept.returncode == 1 and "2 computed, 0 already done, 1 failed, of 3 inputs" in kept.stdout
    assert kept.stderr.strip() == f"failed: {tmp_path / 'maps' / 'gone.npy'}: file not found"
    g = zarr.open_group(str(store), mode="r")
    assert list(g["maps/status"][:]) == [1, 2, 1] and list(g["maps/label"][:]) == [0, 1, 1]
    assert run_cli("scatter-cache", "verify", str(store)).returncode == 3  # a recorded bad input, not damage
