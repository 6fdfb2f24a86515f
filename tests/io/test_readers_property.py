"""Property: whatever the bytes, read_map returns a correct MapData or raises one InputError."""

import math

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import InputError
from pipeline.io.checks import UNSEEN
from pipeline.io.readers import ReaderOptions, read_map
from pipeline.sphere.grids import HealpixGrid

NUMPY_DTYPES = ["<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "<i4", ">i8", "|u1", "|b1", "<c8", ">c16"]
FITS_FORMATS = {">f4": "E", ">f8": "D", ">i2": "I", ">i4": "J", ">c8": "C", ">c16": "M", "|b1": "L"}
BAD_VALUES = [np.nan, np.inf, -np.inf, UNSEEN]

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # astropy's notes on broken files


@st.composite
def map_files(draw):
    fmt = draw(st.sampled_from(["npy", "npz", "fits"]))
    dtype = np.dtype(draw(st.sampled_from(NUMPY_DTYPES if fmt != "fits" else list(FITS_FORMATS))))
    nside = draw(st.integers(1, 6))
    npix = draw(st.one_of(st.just(12 * nside * nside), st.integers(0, 500)))
    values = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(npix)
    bad = draw(st.lists(st.tuples(st.integers(0, max(npix - 1, 0)), st.sampled_from(BAD_VALUES)), max_size=8))
    if npix and draw(st.booleans()):
        bad += [(i, UNSEEN) for i in range(npix)] if draw(st.integers(0, 9)) == 0 else []
    for i, v in bad if npix else []:
        values[i] = v
    policy = draw(st.sampled_from(["refuse", "fill-mean"]))
    damage = draw(st.sampled_from(["none", "none", "truncate", "mutate", "garbage"]))
    return fmt, dtype, values, policy, damage, draw(st.data())


def write(path, fmt, array):
    if fmt == "npy":
        np.save(path, array)
    elif fmt == "npz":
        np.savez(path, m=array)
    else:
        column = fits.Column(name="T", format=FITS_FORMATS[array.dtype.str], array=array)
        hdu = fits.BinTableHDU.from_columns([column])
        hdu.header["ORDERING"] = "RING"
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def expected_outcome(dtype, values, policy):
    """The reader's contract, restated: the float64 map it must return, or None for an InputError."""
    nside = math.isqrt(values.size // 12)
    if dtype.kind != "f" or nside < 1 or 12 * nside * nside != values.size:
        return None
    with np.errstate(over="ignore"):
        cast = values.astype(dtype).astype(np.float64)
    bad = ~np.isfinite(cast) | (np.abs(cast - UNSEEN) <= 1e-5 * abs(UNSEEN))
    if bad.all() or (bad.any() and policy == "refuse"):
        return None
    cast[bad] = cast[~bad].mean()
    return None if cast.min() == cast.max() else cast


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=map_files())
def test_read_map_returns_the_map_or_one_input_error(tmp_path_factory, case):
    fmt, dtype, values, policy, damage, data = case
    path = tmp_path_factory.mktemp("prop") / f"map.{fmt}"
    with np.errstate(invalid="ignore", over="ignore"):
        write(path, fmt, values.astype(dtype))
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    elif damage == "mutate":
        mutated = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            mutated[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        path.write_bytes(bytes(mutated))
    elif damage == "garbage":
        path.write_bytes(data.draw(st.binary(max_size=3000)))
    options = ReaderOptions(grid="healpix", ordering="RING", bad_pixels=policy)
    try:
        result = read_map(path, options)
    except InputError as err:
        assert str(err).startswith(f"{path}: ")
        result = None
    expected = expected_outcome(dtype, values, policy) if damage == "none" else None
    if result is None:
        assert expected is None or damage != "none"
        return
    assert result.values.dtype == np.dtype(np.float64) and result.values.dtype.isnative
    assert result.grid == HealpixGrid.from_npix(result.values.size, "RING")
    assert np.isfinite(result.values).all()
    if damage == "none":
        assert expected is not None
        np.testing.assert_allclose(result.values, expected, rtol=1e-12, atol=1e-14)
