"""Caches written before the package was split into subpackages (tests/data/cache-ba31109, made
by commit ba31109) still open, verify, resume, append and train, and today's code computes the
same numbers for their maps."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from pipeline import ScatteringConfig, ScatteringTransform
from pipeline.io.readers import read_map
from pipeline.store.cache import Cache
from pipeline.store.format import coefficients_digest
from pipeline.store.inspection import verify
from tests.pipeline_helpers import CROSS_PROCESS_ROUNDING, run_cli

pytestmark = pytest.mark.cli
OLD = Path(__file__).resolve().parents[1] / "data" / "cache-ba31109"


@pytest.fixture
def old(tmp_path):
    shutil.copytree(OLD, tmp_path / "old")
    return tmp_path / "old"


def test_an_old_cache_opens_and_verifies(old):
    cache = Cache.open(str(old / "cache.zarr"))
    assert cache.n_maps == 3 and cache.config == ScatteringConfig(L=16, J0=2, odd=())
    assert verify(cache) == []
    assert zarr.open_group(str(old / "cache.zarr"), mode="r")["coefficients"].metadata.dimension_names is None


def test_todays_transform_gives_the_old_numbers(old):
    g = zarr.open_group(str(old / "cache.zarr"), mode="r")
    st = ScatteringTransform(ScatteringConfig(L=16, J0=2, odd=()))
    for i, source in enumerate(g["maps/source"][:]):
        data = read_map(old / str(source))
        expected = g["coefficients"][i]
        np.testing.assert_allclose(st.from_map(data.values, data.grid).coefficients, expected, rtol=0,
                                   atol=CROSS_PROCESS_ROUNDING * np.abs(expected).max())


def test_an_old_cache_resumes_and_appends(old):
    args = ["-o", "cache.zarr", "--L", "16", "--J0", "2", "--odd", "none", "--workers", "1", "--no-progress"]
    refused = run_cli("scatter-preprocess", "maps/manifest.csv", *args[:6], *args[8:], cwd=old)  # today's default: sign-aware
    assert refused.returncode == 2 and refused.stderr.strip().endswith(
        "use another output or --overwrite (this cache has no sign-aware channels: --odd none resumes it)")
    resumed = run_cli("scatter-preprocess", "maps/manifest.csv", *args, cwd=old)
    assert resumed.returncode == 0, resumed.stderr
    assert "0 computed, 3 already done" in resumed.stdout
    shutil.copy(old / "maps" / "map0.npy", old / "maps" / "extra.npy")
    shutil.copy(old / "maps" / "map0.json", old / "maps" / "extra.json")
    appended = run_cli("scatter-preprocess", "maps/manifest.csv", "maps/extra.npy", *args, cwd=old)
    assert appended.returncode == 0, appended.stderr
    assert "1 computed, 3 already done" in appended.stdout
    g = zarr.open_group(str(old / "cache.zarr"), mode="r")
    # map0 was scattered by an older version on another machine: equal to rounding, not bit for bit
    # (on an AMD EPYC host the original code itself gives 1.8e-15 off a maximum of 2.5 here)
    expected = g["coefficients"][0]
    np.testing.assert_allclose(g["coefficients"][3], expected, rtol=0, atol=CROSS_PROCESS_ROUNDING * np.abs(expected).max())
    checked = run_cli("scatter-cache", "verify", "cache.zarr", cwd=old)
    assert checked.returncode == 0 and checked.stdout.strip() == "cache.zarr: ok (4 maps verified)"
    digests = g["maps/coefficients_sha256"][:]  # the record added by the run: empty for the old maps
    assert list(digests[:3]) == ["", "", ""] and digests[3] == coefficients_digest(g["coefficients"][3])
