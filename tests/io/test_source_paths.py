"""Sources are recorded as absolute paths, so a cache means the same from any working directory:
the same files named from another directory (relatively, absolutely, or through a manifest) are
the maps already there, and verify --inputs --repair works from anywhere. Before, relative paths
were recorded as given: a rerun from another directory appended every map again, and a repair
from there turned done maps into failed ("file not found")."""

from __future__ import annotations

import shutil

import pytest
import zarr

from tests.pipeline_helpers import CONFIG_ARGS, run_cli, write_inputs

pytestmark = pytest.mark.cli


def test_a_cache_means_the_same_from_any_working_directory(tmp_path):
    project = tmp_path / "project"
    write_inputs(project / "maps")
    names = ["gl.npy", "sky_ring.fits"]
    (tmp_path / "elsewhere").mkdir()
    first = run_cli("scatter-preprocess", *[f"maps/{n}" for n in names], "-o", "cache.zarr", *CONFIG_ARGS,
                    "--no-progress", "--workers", "1", cwd=project)
    assert first.returncode == 0, first.stderr
    sources = list(zarr.open_group(str(project / "cache.zarr"), mode="r")["maps/source"][:])
    assert sources == [str(project / "maps" / n) for n in names]
    for spelling, cwd in ((f"../project/maps/{names[0]}", tmp_path / "elsewhere"), (str(project / "maps" / names[1]), tmp_path)):
        again = run_cli("scatter-preprocess", spelling, "-o", str(project / "cache.zarr"), *CONFIG_ARGS, "--no-progress", cwd=cwd)
        assert again.returncode == 0 and "0 computed, 1 already done" in again.stdout, again.stdout + again.stderr
    shutil.copyfile(project / "maps" / "sky_nest.fits", project / "maps" / names[1])  # an input changes
    repaired = run_cli("scatter-cache", "verify", str(project / "cache.zarr"), "--inputs", "--repair", "--workers", "1",
                       cwd=tmp_path / "elsewhere")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired 1 map(s); 0 problem(s) remain" in repaired.stdout
    assert list(zarr.open_group(str(project / "cache.zarr"), mode="r")["maps/status"][:]) == [1, 1]
