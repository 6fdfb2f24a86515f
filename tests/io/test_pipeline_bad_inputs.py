"""Every bad input of docs/inputs.md section 6, through the real CLI, in one batch with good maps:
each is recorded as failed with its exact one-line message; the good maps are computed; the run
exits 1 with a summary and no traceback; what the cache held before is untouched."""

from __future__ import annotations

import json
import shutil

import healpy as hp
import numpy as np
import pytest
import zarr
from astropy.io import fits

from tests.pipeline_helpers import CONFIG_ARGS, NSIDE, run_cli, store_contents, write_inputs

pytestmark = pytest.mark.cli

GOOD = ["sky_ring.fits", "gl.npy"]


def _npy(folder, name, array, sidecar=None):
    np.save(folder / name, array, allow_pickle=True)
    if sidecar is not None:
        (folder / name).with_suffix(".json").write_text(json.dumps(sidecar))


def write_bad_inputs(folder):
    """name -> exact expected message (after the file path)."""
    npix = 12 * NSIDE**2
    rng = np.random.default_rng(3)
    healpix_ring = {"grid": "healpix", "ordering": "RING"}
    expected = {}
    _npy(folder, "npix.npy", rng.standard_normal(1000), healpix_ring)
    expected["npix.npy"] = "1000 pixels is not a HEALPix map: expected npix = 12 * nside**2"
    _npy(folder, "nested12.npy", rng.standard_normal(12 * 12**2), {"grid": "healpix", "ordering": "NESTED"})
    expected["nested12.npy"] = "NESTED ordering needs nside a power of two, got nside = 12"
    _npy(folder, "no_ordering.npy", rng.standard_normal(npix), {"grid": "healpix"})
    expected["no_ordering.npy"] = "HEALPix ordering not declared: set ordering (RING or NESTED) in the options or in a sidecar no_ordering.json"
    for name, bad in (("nan", np.nan), ("inf", np.inf), ("unseen", hp.UNSEEN)):
        values = rng.standard_normal(npix)
        values[[5, 17]] = bad
        _npy(folder, f"{name}.npy", values, healpix_ring)
        expected[f"{name}.npy"] = (
            f"2 of {npix} pixels (0.0651 %) are NaN, inf or UNSEEN; the bad-pixel policy is 'refuse': "
            "choose bad_pixels='fill-mean' to fill them with the mean of the valid pixels, or 'mask' to mask them"
        )
    _npy(folder, "integers.npy", np.arange(npix), healpix_ring)
    expected["integers.npy"] = "int64 data are not accepted: a map must hold floating-point values"
    _npy(folder, "complex.npy", rng.standard_normal(npix) + 0j, healpix_ring)
    expected["complex.npy"] = "complex data (complex128) are accepted only as harmonic coefficients: declare grid 'alm'"
    _npy(folder, "pickled.npy", np.array([{"a": 1}] * npix, dtype=object), healpix_ring)
    expected["pickled.npy"] = "object arrays are not accepted: their data are pickled, and pickles are never loaded"
    columns = [fits.Column(name=n, format="D", array=rng.standard_normal(npix)) for n in ("I", "Q", "U")]
    table = fits.BinTableHDU.from_columns(columns)
    table.header.update({"PIXTYPE": "HEALPIX", "ORDERING": "RING", "NSIDE": NSIDE, "INDXSCHM": "IMPLICIT"})
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(folder / "iqu.fits")
    expected["iqu.fits"] = "the table has 3 map columns (I, Q, U): choose one with field (a name or a 0-based index)"
    _npy(folder, "shape.npy", rng.standard_normal((10, 5)), {"grid": "gl"})
    expected["shape.npy"] = "grid shape (10, 5) matches no 'gl' grid: expected (ntheta, nphi) with ntheta >= 1 and nphi >= 2*L - 1 for the ring bandlimit L = 10 (e.g. (10, 19))"
    _npy(folder, "small_gl.npy", rng.standard_normal((16, 31)), {"grid": "gl"})
    expected["small_gl.npy"] = "L = 32 is above what the 'gl' grid (16, 31) supports: allowed 2 <= L <= 16"
    _npy(folder, "constant.npy", np.full(npix, 2.7), healpix_ring)
    expected["constant.npy"] = "the map is constant (zero variance): nothing to analyse"
    _npy(folder, "masked.npy", np.full(npix, hp.UNSEEN), healpix_ring)
    expected["masked.npy"] = f"all {npix} pixels are NaN, inf or UNSEEN: nothing to analyse"
    good = (folder / "sky_ring.fits").read_bytes()
    (folder / "truncated.fits").write_bytes(good[: len(good) // 2])
    truncated = fits.open(folder / "sky_ring.fits")[1]
    expected["truncated.fits"] = f"truncated file: the header declares {truncated.size} bytes of data, only "
    (folder / "garbage.npy").write_bytes(b"not numpy at all " * 10)
    expected["garbage.npy"] = "not a valid .npy file ("
    return expected


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    write_inputs(folder)
    expected = write_bad_inputs(folder)
    store = tmp_path_factory.mktemp("store") / "cache.zarr"
    first = run_cli("scatter-preprocess", *[str(folder / n) for n in GOOD], "-o", str(store), *CONFIG_ARGS, "--no-progress")
    assert first.returncode == 0
    before = store_contents(store)
    snapshot = store.parent / "before.zarr"
    shutil.copytree(store, snapshot)
    names = GOOD + ["extra0.fits"] + sorted(expected)
    result = run_cli("scatter-preprocess", *[str(folder / n) for n in names], "-o", str(store), *CONFIG_ARGS, "--no-progress")
    return folder, store, expected, before, result


def test_batch_summary_exit_code_and_no_traceback(batch):
    folder, store, expected, before, result = batch
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout.strip() == f"{store}: 1 computed, 2 already done, {len(expected)} failed, of {len(expected) + 3} inputs"
    g = zarr.open_group(str(store), mode="r")
    status = dict(zip(g["maps/source"][:], g["maps/status"][:]))
    assert status[str(folder / "extra0.fits")] == 1
    for name in GOOD:
        i = list(g["maps/source"][:]).index(str(folder / name))
        assert np.array_equal(g["coefficients"][i], before["coefficients"][i])
        assert g["maps/sha256"][i] == before["maps/sha256"][i]


@pytest.mark.parametrize(
    "name",
    ["npix.npy", "nested12.npy", "no_ordering.npy", "nan.npy", "inf.npy", "unseen.npy", "integers.npy", "complex.npy",
     "pickled.npy", "iqu.fits", "shape.npy", "small_gl.npy", "constant.npy", "masked.npy", "truncated.fits", "garbage.npy"],
)
def test_each_bad_input_fails_with_its_exact_message(batch, name):
    folder, store, expected, _, result = batch
    source = str(folder / name)
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"failed: {source}: ")]
    assert len(lines) == 1
    message = lines[0][len(f"failed: {source}: "):]
    if expected[name].endswith((" only ", "(")):
        assert message.startswith(expected[name])
    else:
        assert message == expected[name]
    g = zarr.open_group(str(store), mode="r")
    i = list(g["maps/source"][:]).index(source)
    assert g["maps/status"][i] == 2 and g["maps/error"][i] == f"{source}: {message}"
    assert np.all(np.isnan(g["coefficients"][i]))


def test_fail_fast_stops_at_the_first_failure(batch, tmp_path):
    folder, _, _, _, _ = batch
    names = ["npix.npy", "sky_ring.fits", "gl.npy", "extra0.fits", "extra1.fits"]
    result = run_cli("scatter-preprocess", *[str(folder / n) for n in names], "-o", str(tmp_path / "c.zarr"), *CONFIG_ARGS,
                     "--no-progress", "--fail-fast", "--workers", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"failed: {folder / 'npix.npy'}: 1000 pixels is not a HEALPix map" in result.stderr
    status = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")["maps/status"][:]
    assert status[0] == 2 and np.sum(status == 1) < 4


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--workers", "0"], "--workers must be >= 1, got 0"), (["--maps-per-task", "0"], "--maps-per-task must be >= 1, got 0")],
)
def test_bad_run_options_are_one_line_errors(batch, tmp_path, option, message):
    folder, _, _, _, _ = batch
    store = tmp_path / "c.zarr"
    result = run_cli("scatter-preprocess", str(folder / "extra0.fits"), "-o", str(store), *CONFIG_ARGS, *option)
    assert result.returncode == 2 and result.stderr.strip() == f"error: {message}" and not store.exists()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_an_output_that_is_not_a_cache_is_refused_and_left_as_it_was(batch, tmp_path, overwrite):
    """-o pointing at a folder of maps (or any other content) must not be filled or wiped."""
    folder, _, _, _, _ = batch
    target = tmp_path / "maps"
    shutil.copytree(folder, target)
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    result = run_cli("scatter-preprocess", str(folder / "extra0.fits"), "-o", str(target), *CONFIG_ARGS, "--no-progress", *overwrite)
    assert result.returncode == 2 and result.stderr.strip() == (
        f"error: {target} exists and is not a scattering cache: choose a new output path (--overwrite replaces only a cache)"
    )
    assert {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in folder.iterdir())


def test_a_bucket_prefix_holding_other_objects_is_refused_and_kept():
    """The same rule for fsspec URLs (here the in-memory file system): --overwrite would clear the prefix."""
    import fsspec

    from pipeline.errors import InputError
    from pipeline.run.options import InputOptions
    from pipeline.run.runner import open_or_create_cache
    from pipeline.scattering.config import ScatteringConfig

    fs = fsspec.filesystem("memory")
    fs.pipe("/survey/notes.txt", b"precious")
    with pytest.raises(InputError, match=r"^memory://survey exists and is not a scattering cache: choose a new output path"):
        open_or_create_cache("memory://survey", ScatteringConfig(L=32, J0=3), InputOptions(), overwrite=True)
    assert fs.cat("/survey/notes.txt") == b"precious"
    open_or_create_cache("memory://empty-prefix", ScatteringConfig(L=32, J0=3), InputOptions(), overwrite=False)
    assert open_or_create_cache("memory://empty-prefix", ScatteringConfig(L=32, J0=3), InputOptions(), overwrite=True).n_maps == 0  # a cache may be replaced
