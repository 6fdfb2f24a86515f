"""Security and robustness of the load path: no pickle anywhere, inputs never become outputs,
plain-JSON attributes, and the per-map task never raises on any bytes (so the CLI shows no
traceback for a bad file)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.io.readers import ReaderOptions
from pipeline.run.tasks import scatter_file
from pipeline.scattering.config import ScatteringConfig
from tests.pipeline_helpers import CONFIG_ARGS, NSIDE, run_cli, write_inputs

pytestmark = pytest.mark.cli

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("pipeline", "downstream") for p in (ROOT / d).rglob("*.py")] + [ROOT / "cli.py"]


def test_no_pickle_on_any_load_path():
    for path in SOURCES:
        text = path.read_text()
        assert "allow_pickle=True" not in text, path
        assert not re.search(r"^\s*import pickle|^\s*from pickle", text, re.M), path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)


def test_manifest_paths_are_only_read_never_written(tmp_path):
    """A manifest naming files elsewhere (../, absolute) reads them; nothing is written but the store."""
    elsewhere = tmp_path / "elsewhere"
    write_inputs(elsewhere)
    work = tmp_path / "work"
    work.mkdir()
    (work / "manifest.csv").write_text(
        "path,label\n../elsewhere/sky_ring.fits,0\n" + f"{elsewhere / 'extra0.fits'},1\n"
    )

    def snapshot(folder):
        return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}

    before_elsewhere, before_work = snapshot(elsewhere), snapshot(work)
    result = run_cli("scatter-preprocess", str(work / "manifest.csv"), "-o", str(work / "out" / "cache.zarr"),
                     *CONFIG_ARGS, "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert snapshot(elsewhere) == before_elsewhere
    created = set(snapshot(work)) - set(before_work)
    assert all(p.is_relative_to(work / "out" / "cache.zarr") or p == work / "out" for p in created)
    g = zarr.open_group(str(work / "out" / "cache.zarr"), mode="r")
    assert list(g["maps/label"][:]) == [0, 1]
    assert json.loads(json.dumps(g.attrs.asdict())) == g.attrs.asdict()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["bytes", "array"]),
    payload=st.binary(max_size=2000),
    dtype=st.sampled_from(["<f8", ">f4", "<i4", "<c16", "|u1"]),
    npix=st.sampled_from([12 * NSIDE**2, 12 * 4**2, 100, 0]),
    seed=st.integers(0, 2**16),
)
def test_the_task_never_raises(tmp_path, kind, payload, dtype, npix, seed):
    path = tmp_path / f"m{seed}.npy"
    if kind == "bytes":
        path.write_bytes(payload)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            np.save(path, np.random.default_rng(seed).standard_normal(npix).astype(dtype))
    config = ScatteringConfig(L=8, J0=2)
    result = scatter_file(0, str(path), config, ReaderOptions(grid="healpix", ordering="RING"))
    if result.error:
        assert result.error.startswith(f"{path}: ") and "\n" not in result.error
        assert result.coefficients is None
    else:
        assert np.all(np.isfinite(result.coefficients))


def test_output_store_is_exactly_where_asked(tmp_path):
    """The store path is the user's -o argument; no input can redirect writes (nothing here reads
    output locations from inputs). Guarded by this test: metadata columns are carried as text."""
    bad = "../x"
    write_inputs(tmp_path / "in")
    (tmp_path / "in" / "m.csv").write_text(f"path,output\nsky_ring.fits,{bad}\n")
    out = tmp_path / "cache.zarr"
    result = run_cli("scatter-preprocess", str(tmp_path / "in" / "m.csv"), "-o", str(out), *CONFIG_ARGS, "--no-progress")
    assert result.returncode == 0, result.stderr
    g = zarr.open_group(str(out), mode="r")
    assert json.loads(str(g["maps/metadata"][0])) == {"output": bad}
    assert not (tmp_path / "x").exists()
