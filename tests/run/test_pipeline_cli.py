"""End-to-end tests of scatter-preprocess / scatter-cache through the installed console scripts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import zarr

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.transform import ScatteringTransform
from pipeline.sphere.alm import power_spectrum
from pipeline.sphere.harmonic import map_to_alm
from tests.pipeline_helpers import CONFIG_ARGS, J0, L, assert_same_store, dask_cluster, run_cli, write_inputs

pytestmark = [pytest.mark.cli, pytest.mark.cluster]

ORDER = ["sky_ring.fits", "sky_nest.fits", "sky_nest.npy", "gl.npy", "extra0.fits", "extra1.fits"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    return folder, write_inputs(folder)


@pytest.fixture(scope="module")
def reference_store(inputs, tmp_path_factory):
    """One uninterrupted run with the default local cluster."""
    folder, _ = inputs
    out = tmp_path_factory.mktemp("ref") / "cache.zarr"
    result = run_cli("scatter-preprocess", *[str(folder / n) for n in ORDER], "-o", str(out), *CONFIG_ARGS, "--no-progress")
    assert result.returncode == 0, result.stderr
    return out


def test_store_matches_python_api_bit_for_bit(inputs, reference_store):
    folder, maps = inputs
    g = zarr.open_group(str(reference_store), mode="r")
    assert list(g["maps/source"][:]) == [str(folder / n) for n in ORDER]
    assert np.all(g["maps/status"][:] == 1)
    st = ScatteringTransform(ScatteringConfig(L=L, J0=J0))
    assert g.attrs["paths"] == [list(p) for p in st.paths]
    for i, name in enumerate(ORDER):
        expected = st.from_map(maps[name]["values"], maps[name]["grid"])
        assert np.array_equal(g["coefficients"][i], expected.coefficients), name
        assert np.array_equal(g["means"][i], expected.means), name
        assert np.array_equal(g["power_spectra"][i], expected.power_spectra), name
        alm = map_to_alm(maps[name]["values"], maps[name]["grid"], L).alm
        assert np.array_equal(g["input_power_spectra"][i], power_spectrum(alm, L)), name
    # RING and NESTED copies of one map (FITS and .npy) give identical coefficients.
    assert np.array_equal(g["coefficients"][0], g["coefficients"][1])
    assert np.array_equal(g["coefficients"][0], g["coefficients"][2])
    # The exact-grid input agrees with scattering its harmonic coefficients directly.
    direct = st.from_alm(maps["gl.npy"]["alm"]).coefficients
    assert np.max(np.abs(g["coefficients"][3] - direct)) < 1e-12 * np.max(np.abs(direct))
    residuals = g["maps/analysis_residual"][:]
    assert np.all(residuals[[0, 1, 2, 4, 5]] < 1e-6) and np.isnan(residuals[3])


def test_provenance_and_attributes_are_plain_json(reference_store):
    attrs = zarr.open_group(str(reference_store), mode="r").attrs.asdict()
    assert attrs["config"] == ScatteringConfig(L=L, J0=J0).to_dict()
    assert attrs["config_hash"] == ScatteringConfig(L=L, J0=J0).hash()
    assert attrs["complete"] is True
    assert {"numpy", "ducc0", "zarr", "dask", "python"} <= attrs["provenance"]["versions"].keys()
    import json

    assert json.loads(json.dumps(attrs)) == attrs


def test_rerun_computes_nothing_and_inspect_verify_report(inputs, reference_store, tmp_path):
    folder, _ = inputs
    store = tmp_path / "cache.zarr"
    shutil.copytree(reference_store, store)
    rerun = run_cli("scatter-preprocess", *[str(folder / n) for n in ORDER], "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert rerun.returncode == 0 and "0 computed, 6 already done" in rerun.stdout
    assert_same_store(store, reference_store)
    inspect = run_cli("scatter-cache", "inspect", str(store))
    assert "maps: 6 (6 done, 0 failed, 0 pending)" in inspect.stdout
    assert "odd=signed_square,cross" in inspect.stdout and "13 channels (7 modulus, 3 signed_square, 3 cross) at L0=8" in inspect.stdout
    verify = run_cli("scatter-cache", "verify", str(store))
    assert verify.returncode == 0 and "ok (6 maps verified)" in verify.stdout


def test_resume_after_kill_gives_the_same_store(inputs, reference_store, tmp_path):
    folder, _ = inputs
    store = tmp_path / "cache.zarr"
    args = ["scatter-preprocess", *[str(folder / n) for n in ORDER], "-o", str(store), *CONFIG_ARGS, "--no-progress",
            "--maps-per-task", "1"]  # killed after the write that stores the second map
    killed = run_cli(*args, env={"SCATTER_TEST_KILL_AFTER": "2"})
    assert killed.returncode == -9
    done = int(np.sum(zarr.open_group(str(store), mode="r")["maps/status"][:] == 1))
    assert done >= 2  # more when tasks finished together were written together
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{6 - done} computed, {done} already done" in resumed.stdout
    assert_same_store(store, reference_store)


def test_appending_maps_to_an_existing_cache(inputs, reference_store, tmp_path):
    folder, _ = inputs
    store = tmp_path / "cache.zarr"
    first = run_cli("scatter-preprocess", *[str(folder / n) for n in ORDER[:3]], "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert first.returncode == 0
    second = run_cli("scatter-preprocess", *[str(folder / n) for n in ORDER], "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert second.returncode == 0 and "3 computed, 3 already done" in second.stdout
    assert_same_store(store, reference_store)


def test_a_cache_with_the_earlier_one_map_chunks_is_resumed_and_appended(inputs, reference_store, tmp_path, monkeypatch):
    """Caches written before the small arrays shared chunks (one map per chunk everywhere, zstd)
    keep their layout and end equal to a fresh cache."""
    from pipeline.run.options import InputOptions
    from pipeline.store import cache as cache_module
    from pipeline.store import format as format_module
    from pipeline.store.cache import Cache

    folder, _ = inputs
    store = tmp_path / "cache.zarr"
    config = ScatteringConfig(L=L, J0=J0)
    with monkeypatch.context() as m:
        m.setattr(cache_module, "RECORD_CHUNK_MAPS", 1)
        m.setattr(format_module, "RECORD_CHUNK_MAPS", 1)
        m.setattr(format_module, "SMALL_CHUNK_BYTES", 1)
        m.setattr(cache_module, "_DATA_CODECS", [zarr.codecs.BloscCodec(cname="zstd", clevel=5), zarr.codecs.Crc32cCodec()])
        Cache.create(str(store), config,
                     InputOptions().to_dict(), overwrite=False)
    for names in (ORDER[:3], ORDER):
        assert run_cli("scatter-preprocess", *[str(folder / n) for n in names], "-o", str(store), *CONFIG_ARGS, "--no-progress").returncode == 0
    g = zarr.open_group(str(store), mode="r")
    assert g["maps/status"].chunks == (1,) and g["means"].chunks[0] == 1
    assert_same_store(store, reference_store)


def test_other_configuration_is_refused_without_overwrite(inputs, reference_store, tmp_path):
    folder, _ = inputs
    store = tmp_path / "cache.zarr"
    shutil.copytree(reference_store, store)
    other = run_cli("scatter-preprocess", str(folder / ORDER[0]), "-o", str(store), "--L", str(L), "--J0", "2", "--no-progress")
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert other.stderr.startswith(f"error: {store} was written with another configuration")
    assert other.stderr.rstrip().endswith("use another output or --overwrite")
    assert_same_store(store, reference_store)
    replaced = run_cli("scatter-preprocess", str(folder / ORDER[0]), "-o", str(store), "--L", str(L), "--J0", "2", "--overwrite", "--no-progress")
    assert replaced.returncode == 0
    assert zarr.open_group(str(store), mode="r").attrs["config"]["J0"] == 2


def test_distributed_scheduler_gives_the_same_store(inputs, reference_store, tmp_path):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    folder, _ = inputs
    with dask_cluster(2) as address:
        store = tmp_path / "cache.zarr"
        result = run_cli("scatter-preprocess", *[str(folder / n) for n in ORDER], "-o", str(store), *CONFIG_ARGS,
                         "--scheduler", address, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert_same_store(store, reference_store)
