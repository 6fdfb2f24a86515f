"""Maps of several fields through the command (docs/inputs.md section 8): IQU HEALPix FITS against
healpy, the COSMO / IAU sign of U on a map whose E/B content is known, colour images channel by
channel bit for bit, and every bad multi-field input refused with its exact one-line message while
nothing cached is damaged."""

from __future__ import annotations

import json

import healpy as hp
import numpy as np
import pytest
import zarr
from astropy.io import fits
from PIL import Image

from pipeline.sphere.alm import l_of_index, power_spectrum
from pipeline.sphere.grids import HealpixGrid, RingGrid
from pipeline.sphere.harmonic import synthesise
from pipeline.testing import random_alm, relative_error
from tests.pipeline_helpers import run_cli, store_contents

pytestmark = pytest.mark.cli
L, NSIDE = 32, 16
SCATTER = ("--L", str(L), "--J0", "3", "--workers", "1", "--no-progress")


def _eb(rng, pure_e=False):
    eb = np.stack([random_alm(rng, L), random_alm(rng, L)])
    eb[:, l_of_index(L) < 2] = 0
    if pure_e:
        eb[1] = 0
    return eb


def _write_iqu(path, t, q, u, polcconv):
    columns = [fits.Column(name=n, format="D", array=a) for n, a in (("TEMPERATURE", t), ("Q_POLARISATION", q), ("U_POLARISATION", u))]
    header = fits.Header([("PIXTYPE", "HEALPIX"), ("ORDERING", "RING"), ("NSIDE", NSIDE)] + ([("POLCCONV", polcconv)] if polcconv else []))
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, header=header)]).writeto(path)


def _spectra(store):
    group = zarr.open_group(str(store), mode="r", use_consolidated=False)
    return dict(zip(group.attrs["input_spectra"], group["input_power_spectra"][0]))


def test_iqu_fits_matches_healpy_and_an_iau_file_reads_as_its_cosmo_twin(tmp_path, rng):
    eb, grid = _eb(rng), HealpixGrid(NSIDE, "RING")
    t = synthesise(random_alm(rng, L)[None], grid, L)[0]
    q, u = synthesise(eb, grid, L, spin=2)
    _write_iqu(tmp_path / "cosmo.fits", t, q, u, "COSMO")
    _write_iqu(tmp_path / "iau.fits", t, q, -u, "IAU")
    for name in ("cosmo", "iau"):
        result = run_cli("scatter-preprocess", str(tmp_path / f"{name}.fits"), "-o", str(tmp_path / f"{name}.zarr"), "--fields", "T,Q,U", *SCATTER)
        assert result.returncode == 0, result.stderr
    cosmo, iau = store_contents(tmp_path / "cosmo.zarr"), store_contents(tmp_path / "iau.zarr")
    assert np.array_equal(cosmo["coefficients"], iau["coefficients"])  # U -> -U on read: the same numbers
    assert 0 < cosmo["maps/analysis_residual"][0] < 1e-7  # the largest residual of the iterative analyses (T; Q, U)
    ours = _spectra(tmp_path / "cosmo.zarr")
    reference = hp.anafast([t, q, u], lmax=L - 1, iter=10, pol=True)  # TT, EE, BB, ...
    for label, cl in zip(("T", "E", "B"), reference[:3]):
        assert relative_error(ours[label][2:], cl[2:]) < 1e-5
    assert relative_error(ours["E"], power_spectrum(eb[0], L)) < 1e-5
    labels = zarr.open_group(str(tmp_path / "cosmo.zarr"), mode="r")["path_fields"][:].tolist()
    assert labels == ["T"] * 13 + ["E"] * 13 + ["B"] * 13  # the default spin-2 route: E and B scattered as scalar maps


def test_the_sign_of_u_decides_e_against_b_on_a_pure_e_map(tmp_path, rng):
    """A pure-E field written in the IAU convention (U negated): read as IAU, B vanishes to
    rounding; read as COSMO (the wrong convention), E and B mix."""
    grid = RingGrid.for_bandlimit("gl", L)
    q, u = synthesise(_eb(rng, pure_e=True), grid, L, spin=2)
    np.save(tmp_path / "p.npy", np.stack([q, -u]))
    (tmp_path / "p.json").write_text(json.dumps({"grid": "gl", "fields": ["Q", "U"], "pol_convention": "IAU"}))
    assert run_cli("scatter-preprocess", str(tmp_path / "p.npy"), "-o", str(tmp_path / "right.zarr"), "--fields", "Q,U", *SCATTER).returncode == 0
    right = _spectra(tmp_path / "right.zarr")
    assert right["B"].sum() < 1e-24 * right["E"].sum()
    (tmp_path / "p.json").write_text(json.dumps({"grid": "gl", "fields": ["Q", "U"]}))
    result = run_cli("scatter-preprocess", str(tmp_path / "p.npy"), "-o", str(tmp_path / "wrong.zarr"), "--fields", "Q,U",
                     "--pol-convention", "COSMO", *SCATTER)
    assert result.returncode == 0
    wrong = _spectra(tmp_path / "wrong.zarr")
    assert wrong["B"].sum() > 0.1 * wrong["E"].sum()


@pytest.mark.slow
def test_colour_channels_are_the_single_channel_caches_bit_for_bit(tmp_path, rng):
    pixels = rng.integers(0, 256, size=(L, 2 * L, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(tmp_path / "pano.png")
    assert run_cli("scatter-preprocess", str(tmp_path / "pano.png"), "-o", str(tmp_path / "rgb.zarr"), "--fields", "R,G,B", *SCATTER).returncode == 0
    together = store_contents(tmp_path / "rgb.zarr")
    n = together["coefficients"].shape[1] // 3
    for k, channel in enumerate("RGB"):
        store = tmp_path / f"{channel}.zarr"
        assert run_cli("scatter-preprocess", str(tmp_path / "pano.png"), "-o", str(store), "--color", channel, *SCATTER).returncode == 0
        alone = store_contents(store)
        assert np.array_equal(together["coefficients"][:, k * n : (k + 1) * n], alone["coefficients"])
        assert np.array_equal(together["input_power_spectra"][:, k], alone["input_power_spectra"])


def test_bad_multi_field_inputs_are_refused_and_nothing_cached_is_damaged(tmp_path, rng):
    grid = HealpixGrid(NSIDE, "RING")
    t = synthesise(random_alm(rng, L)[None], grid, L)[0]
    q, u = synthesise(_eb(rng), grid, L, spin=2)
    _write_iqu(tmp_path / "bare.fits", t, q, u, None)
    store = tmp_path / "c.zarr"
    good = run_cli("scatter-preprocess", str(tmp_path / "bare.fits"), "-o", str(store), "--fields", "T,Q,U", "--pol-convention", "COSMO", *SCATTER)
    assert good.returncode == 0, good.stderr
    before = store_contents(store)
    source = str(tmp_path / "bare.fits")
    refusals = [
        (("--fields", "T,Q"), "error: field 'Q' is one component of the spin-2 pair Q, U: name both (e.g. --fields T,Q,U)"),
        (("--fields", "T,Q,U", "--field", "T"), "error: fields reads several fields: it excludes field"),
        (("--fields", "T,Q", "--spin2", "T,Q", "--pol-convention", "IAU"), None),
        (("--pol-convention", "COSMO"), "error: spin2 and pol_convention apply to maps read with several fields (fields)"),
        (("--fields", "R,G", "--pol-convention", "COSMO"), "error: pol_convention applies to a spin-2 pair, and fields R, G hold none"),
    ]
    for options, message in refusals:
        result = run_cli("scatter-preprocess", source, "-o", str(store), *options, *SCATTER)
        assert result.returncode == 2
        if message:
            assert result.stderr.strip() == message
    failures = [
        (("--fields", "T,Q,U"), f"failed: {source}: a spin-2 pair without a polarisation convention: no POLCCONV keyword in the file; "
                                "declare pol_convention (--pol-convention COSMO or IAU)"),
        (("--fields", "T,P,Q,U", "--pol-convention", "COSMO"), f"failed: {source}: field 'P' names no map column: the table has "
                                                               "TEMPERATURE, Q_POLARISATION, U_POLARISATION"),
    ]
    for options, message in failures:
        result = run_cli("scatter-preprocess", source, "-o", str(tmp_path / "new.zarr"), "--overwrite", *options, *SCATTER)
        assert result.returncode == 1 and result.stderr.strip() == message
    _write_iqu(tmp_path / "iau.fits", t, q, u, "IAU")
    result = run_cli("scatter-preprocess", str(tmp_path / "iau.fits"), "-o", str(tmp_path / "x.zarr"), "--fields", "T,Q,U",
                     "--pol-convention", "COSMO", *SCATTER)
    assert result.stderr.strip() == f"failed: {tmp_path / 'iau.fits'}: POLCCONV keyword = IAU but the options declare pol_convention COSMO"
    Image.fromarray(np.zeros((L, 2 * L + 2, 3), np.uint8), "RGB").save(tmp_path / "wide.png")
    result = run_cli("scatter-preprocess", str(tmp_path / "wide.png"), "-o", str(tmp_path / "img.zarr"), "--fields", "R,G,B", *SCATTER)
    assert result.stderr.strip() == f"failed: {tmp_path / 'wide.png'}: a 360-degree image must be H x 2H pixels (equirectangular), got 32 x 66 (H x W)"
    after = store_contents(store)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k], equal_nan=True) for k in before)
    assert run_cli("scatter-cache", "verify", str(store)).returncode == 0


def test_a_cache_whose_channels_differ_from_what_the_configuration_computes_is_not_resumed(tmp_path, rng):
    """A cache whose stored configuration and input options match but whose channels do not (as
    one written when a default that is not hashed, like the spin-2 route, was another) is refused
    rather than extended with maps of another layout."""
    grid = RingGrid.for_bandlimit("gl", L)
    np.save(tmp_path / "s.npy", np.stack(synthesise(_eb(rng), grid, L, spin=2)))
    (tmp_path / "s.json").write_text(json.dumps({"grid": "gl", "fields": ["G1", "G2"], "pol_convention": "COSMO"}))
    store = tmp_path / "c.zarr"
    assert run_cli("scatter-preprocess", str(tmp_path / "s.npy"), "-o", str(store), "--fields", "G1,G2", *SCATTER).returncode == 0
    group = zarr.open_group(str(store), mode="r+")
    group.attrs["path_fields"] = ["G1+iG2"] * len(group.attrs["path_fields"])
    before = store_contents(store)
    np.save(tmp_path / "t.npy", np.stack(synthesise(_eb(rng), grid, L, spin=2)))
    (tmp_path / "t.json").write_text((tmp_path / "s.json").read_text())
    result = run_cli("scatter-preprocess", str(tmp_path / "s.npy"), str(tmp_path / "t.npy"), "-o", str(store), "--fields", "G1,G2", *SCATTER)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {store} holds other channels than this configuration computes (paths, kinds or fields differ; "
                                     "e.g. written by another version with other defaults): use another output or --overwrite")
    after = store_contents(store)
    assert all(np.array_equal(before[k], after[k], equal_nan=True) for k in before)


def test_training_selects_channels_by_field():
    from types import SimpleNamespace

    from downstream.train.config import TrainConfig
    from pipeline.errors import InputError
    from pipeline.scattering.config import ScatteringConfig
    from pipeline.scattering.fields import channel_table
    from pipeline.sphere.fields import FieldSet
    from pipeline.store.format import CacheLayout

    table = channel_table(ScatteringConfig(L=L, J0=3), FieldSet.declare(["T", "Q", "U"]))
    layout = CacheLayout(L, 8, table.paths, table.kinds, table.fields, table.spectra)
    index = SimpleNamespace(path="c.zarr", fields=layout.fields, select=layout.select)
    chosen = TrainConfig(fields=("E", "B"), kinds=("modulus",)).input_channels(index)
    assert [layout.fields[i] for i in chosen] == ["E"] * 7 + ["B"] * 7 and {layout.kinds[i] for i in chosen} == {"modulus"}
    with pytest.raises(InputError, match=r"^cache 'c.zarr' has no channels of field\(s\) \['Q\+iU'\]: its fields are \['B', 'E', 'T'\]$"):
        TrainConfig(fields=("Q+iU",)).input_channels(index)
