"""Maps of extreme magnitude, through the installed CLI: computed correctly (the transform is
homogeneous, so a map far from 1 is scaled by a power of two before and unscaled after) or, when
their power spectra cannot be held in float64, refused with one line; never stored as zeros marked
done. Before this, a map scaled by 1e300, one holding a pixel of 1e200 or 1.797e308 (float64's
largest, a common no-data sentinel) and one of values ~1e-200 were all recorded done with every
coefficient exactly 0.0 and a NaN analysis residual."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from pipeline.sphere.grids import HealpixGrid
from pipeline.sphere.harmonic import alm_to_map
from pipeline.testing import random_alm
from tests.pipeline_helpers import CONFIG_ARGS, NSIDE, L, run_cli

pytestmark = pytest.mark.cli
HEALPIX_RING = '{"grid": "healpix", "ordering": "RING"}'
FLOAT64_MAX = np.finfo(np.float64).max


def _write(folder, name, values):
    np.save(folder / f"{name}.npy", values)
    (folder / f"{name}.json").write_text(HEALPIX_RING)
    return str(folder / f"{name}.npy")


def test_extreme_maps_are_computed_exactly_or_refused_with_one_line(tmp_path):
    sky = alm_to_map(random_alm(np.random.default_rng(8), L), HealpixGrid(NSIDE, "RING"), L)
    spike, sentinel = sky.copy(), sky.copy()
    spike[100] = 1e200
    sentinel[100] = FLOAT64_MAX
    cases = [("plain", sky), ("large", sky * 1e140), ("small", sky * 1e-140),
             ("huge", sky * 1e300), ("tiny", sky * 1e-200), ("spike", spike), ("sentinel", sentinel)]
    sources = [_write(tmp_path, name, values) for name, values in cases]
    store = tmp_path / "cache.zarr"
    result = run_cli("scatter-preprocess", *sources, "-o", str(store), *CONFIG_ARGS, "--no-progress", "--workers", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    g = zarr.open_group(str(store), mode="r")
    index = {str(s): i for i, s in enumerate(g["maps/source"][:])}
    status, errors = g["maps/status"][:], g["maps/error"][:]
    plain = g["coefficients"][index[sources[0]]]
    for source, factor in ((sources[1], 1e140), (sources[2], 1e-140)):
        i = index[source]
        assert status[i] == 1 and np.isfinite(g["maps/analysis_residual"][i])
        np.testing.assert_allclose(g["coefficients"][i] / factor, plain, rtol=0, atol=1e-12 * np.abs(plain).max())
        np.testing.assert_allclose(g["means"][i] / factor, g["means"][index[sources[0]]], rtol=1e-12)
    for (_, values), source in zip(cases[3:], sources[3:]):
        i = index[source]
        assert status[i] == 2
        assert errors[i] == (f"{source}: values up to {np.abs(values).max():.4g} in magnitude are outside [1e-150, 1e+150]: "
                             "their power spectra (sums of squares) do not fit in float64; rescale the map")
    verified = run_cli("scatter-cache", "verify", str(store))
    assert verified.returncode == 3  # the store is sound: the failed maps are named, and they are not damage
    assert all(line.startswith("problem: ") and "failed" in line for line in verified.stdout.splitlines())


def test_healpix_epsilon_outside_its_range_is_refused_in_one_line(tmp_path):
    source = _write(tmp_path, "plain", alm_to_map(random_alm(np.random.default_rng(8), L), HealpixGrid(NSIDE, "RING"), L))
    for value in ("-1", "0", "nan", "10"):
        result = run_cli("scatter-preprocess", source, "-o", str(tmp_path / "c.zarr"), *CONFIG_ARGS, "--healpix-epsilon", value)
        assert result.returncode == 2 and result.stdout == ""
        shown = {"-1": "-1.0", "0": "0.0", "nan": "nan", "10": "10.0"}[value]
        assert result.stderr.strip() == f"error: healpix_epsilon must be a number in (0, 0.001], got {shown}"
        assert not (tmp_path / "c.zarr").exists()
