import hashlib
import json

import healpy as hp
import numpy as np
import pytest
from astropy.io import fits

from pipeline.errors import InputError
from pipeline.io.checks import UNSEEN
from pipeline.io.readers import MapData, ReaderOptions, read_map
from pipeline.sphere.grids import HealpixGrid, RingGrid
from pipeline.testing import random_alm

HEALPIX_RING = ReaderOptions(grid="healpix", ordering="RING")
FILL = ReaderOptions(bad_pixels="fill-mean")


def healpix_map(rng, nside=8, dtype=np.float64):
    return rng.standard_normal(12 * nside * nside).astype(dtype)


def write_table(path, columns, **header):
    """A FITS file whose HDU 1 is a binary table with the given columns and header keywords."""
    hdu = fits.BinTableHDU.from_columns([fits.Column(name=n, format=f, array=a) for n, f, a in columns])
    for key, value in header.items():
        hdu.header[key] = value
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def save_npy(path, array, sidecar=None):
    np.save(path, array)
    if sidecar is not None:
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def error_of(path, options=ReaderOptions()) -> str:
    with pytest.raises(InputError) as info:
        read_map(path, options)
    return str(info.value)


def assert_pixels(data: MapData, expected: np.ndarray, grid):
    assert data.grid == grid
    assert data.values.dtype == np.dtype(np.float64) and data.values.dtype.isnative
    assert not data.values.flags.writeable
    np.testing.assert_array_equal(data.values, expected)
    assert data.alm is None and data.alm_L is None


# ---------------------------------------------------------------- HEALPix FITS


@pytest.mark.parametrize("nest, ordering", [(False, "RING"), (True, "NESTED")])
def test_fits_round_trip_is_bit_exact_and_keeps_the_ordering(tmp_path, rng, nest, ordering):
    m = healpix_map(rng)
    path = tmp_path / "map.fits"
    hp.write_map(path, m, nest=nest, dtype=np.float64)
    data = read_map(path)
    assert_pixels(data, m, HealpixGrid(8, ordering))  # NESTED values stay in NESTED order
    np.testing.assert_array_equal(data.values, hp.read_map(path, nest=nest, dtype=np.float64))
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.source == str(path)
    assert (data.masked_fraction, data.mask_description) == (0.0, "no masked pixels")


def test_big_endian_float32_fits_is_cast_to_native_float64(tmp_path, rng):
    m = healpix_map(rng, dtype=np.float32)
    path = tmp_path / "map.fits"
    hp.write_map(path, m)
    with fits.open(path) as hdul:
        assert hdul[1].data.field(0).dtype == np.dtype(">f4")
    assert_pixels(read_map(path), m.astype(np.float64), HealpixGrid(8, "RING"))


def test_partial_sky_fits_is_expanded_and_the_unobserved_pixels_follow_the_policy(tmp_path, rng):
    m = healpix_map(rng, nside=16)
    m[:100] = UNSEEN
    path = tmp_path / "partial.fits"
    hp.write_map(path, m, partial=True, dtype=np.float64)
    assert error_of(path) == (
        f"{path}: 100 of 3072 pixels (3.26 %) are NaN, inf or UNSEEN (partial-sky file: 2972 of 3072 "
        "pixels observed, the rest set to UNSEEN); the bad-pixel policy is 'refuse': choose "
        "bad_pixels='fill-mean' to fill them with the mean of the valid pixels, or 'mask' to mask them"
    )
    data = read_map(path, FILL)
    mean = m[100:].mean()
    np.testing.assert_array_equal(data.values[100:], m[100:])
    np.testing.assert_allclose(data.values[:100], mean, rtol=1e-12)
    assert data.masked_fraction == 100 / 3072
    assert data.mask_description == (
        "100 of 3072 pixels (3.26 %) are NaN, inf or UNSEEN (partial-sky file: 2972 of 3072 pixels "
        f"observed, the rest set to UNSEEN), filled with the mean of the valid pixels ({data.values[0]:.6g})"
    )


def test_several_columns_need_a_field(tmp_path, rng):
    t, q, u = (healpix_map(rng) for _ in range(3))
    path = tmp_path / "iqu.fits"
    hp.write_map(path, [t, q, u], dtype=np.float64)
    assert error_of(path) == (
        f"{path}: the table has 3 map columns (TEMPERATURE, Q_POLARISATION, U_POLARISATION): choose one "
        "with field (a name or a 0-based index)"
    )
    np.testing.assert_array_equal(read_map(path, ReaderOptions(field="q_polarisation")).values, q)
    np.testing.assert_array_equal(read_map(path, ReaderOptions(field=2)).values, u)
    assert error_of(path, ReaderOptions(field=3)) == (
        f"{path}: field 3 names no map column: the table has TEMPERATURE, Q_POLARISATION, U_POLARISATION"
    )


def test_fits_declarations_must_agree_with_the_options(tmp_path, rng):
    path = tmp_path / "map.fits"
    hp.write_map(path, healpix_map(rng), nest=True)
    assert error_of(path, ReaderOptions(ordering="RING")) == (
        f"{path}: the header declares ORDERING = NESTED but the options declare RING"
    )
    assert error_of(path, ReaderOptions(grid="gl")) == (
        f"{path}: the file holds a HEALPix map but the options declare grid = 'gl'"
    )
    assert error_of(path, ReaderOptions(grid="alm")) == (
        f"{path}: the file holds a HEALPix map but the options declare grid = 'alm'"
    )
    assert read_map(path, ReaderOptions(grid="healpix", ordering="NESTED")).grid == HealpixGrid(8, "NESTED")


def test_fits_without_ordering_needs_a_declared_one(tmp_path, rng):
    m = healpix_map(rng)
    path = write_table(tmp_path / "map.fits", [("T", "D", m)], NSIDE=8)
    assert error_of(path) == f"{path}: no ORDERING keyword in the header: declare ordering (RING or NESTED)"
    assert_pixels(read_map(path, ReaderOptions(ordering="NESTED")), m, HealpixGrid(8, "NESTED"))


def test_fits_pixel_count_must_match_nside(tmp_path, rng):
    path = write_table(tmp_path / "map.fits", [("T", "D", healpix_map(rng))], NSIDE=4, ORDERING="RING")
    assert error_of(path) == f"{path}: 768 pixels do not match NSIDE = 4: expected 12 * NSIDE**2 = 192"
    path = write_table(tmp_path / "odd.fits", [("T", "D", rng.standard_normal(700))], ORDERING="RING")
    assert error_of(path) == f"{path}: 700 pixels is not a HEALPix map: expected npix = 12 * nside**2"


def test_fits_nested_needs_a_power_of_two(tmp_path, rng):
    path = write_table(tmp_path / "map.fits", [("T", "D", healpix_map(rng, nside=3))], NSIDE=3, ORDERING="NESTED")
    assert error_of(path) == f"{path}: NESTED ordering needs nside a power of two, got nside = 3"


def test_integer_fits_column_is_refused(tmp_path):
    path = write_table(tmp_path / "hits.fits", [("HITS", "J", np.arange(768))], ORDERING="RING")
    assert error_of(path) == f"{path}: >i4 data are not accepted: a map must hold floating-point values"


_VALUES = np.linspace(-1.0, 1.0, 768)


@pytest.mark.parametrize(
    "columns, header, message",
    [
        ([("T", "D", _VALUES)], {"PIXTYPE": "CAR", "ORDERING": "RING"}, "PIXTYPE = 'CAR' in the header: not a HEALPix map"),
        ([("T", "D", _VALUES)], {"ORDERING": "SPIRAL"}, "ORDERING = 'SPIRAL' in the header: expected RING or NESTED"),
        ([("T", "D", _VALUES)], {"ORDERING": "RING", "NSIDE": "8"}, "NSIDE = '8' in the header is not an integer"),
        ([("PIXEL", "J", [0, 1]), ("T", "D", [1.0, 2.0])], {"ORDERING": "RING", "INDXSCHM": "EXPLICIT"},
         "partial-sky (EXPLICIT) table without NSIDE in the header"),
        ([("T", "D", [1.0, 2.0])], {"ORDERING": "RING", "INDXSCHM": "EXPLICIT", "NSIDE": 1},
         "partial-sky (EXPLICIT) table without a PIXEL column"),
        ([("PIXEL", "D", [0, 1]), ("T", "D", [1.0, 2.0])], {"ORDERING": "RING", "INDXSCHM": "EXPLICIT", "NSIDE": 1},
         "the PIXEL column must hold one integer index per value (2 values)"),
        ([("PIXEL", "J", [0, 12]), ("T", "D", [1.0, 2.0])], {"ORDERING": "RING", "INDXSCHM": "EXPLICIT", "NSIDE": 1},
         "PIXEL indices must lie in [0, 12) for NSIDE = 1"),
        ([("PIXEL", "J", [3, 3]), ("T", "D", [1.0, 2.0])], {"ORDERING": "RING", "INDXSCHM": "EXPLICIT", "NSIDE": 1},
         "PIXEL indices repeat: each pixel may appear once"),
        ([("INDEX", "D", [1.0]), ("REAL", "D", [1.0]), ("IMAG", "D", [0.0])], {},
         "an alm table needs an integer INDEX column and floating-point REAL and IMAG columns"),
    ],
)
def test_malformed_fits_tables(tmp_path, columns, header, message):
    path = write_table(tmp_path / "bad.fits", [(n, f, np.asarray(a)) for n, f, a in columns], **header)
    assert error_of(path) == f"{path}: {message}"


# ---------------------------------------------------------------- harmonic coefficients


def test_fits_alm_round_trip_against_healpy(tmp_path, rng):
    alm = random_alm(rng, 12)
    path = tmp_path / "alm.fits"
    hp.write_alm(path, alm)
    data = read_map(path)
    assert data.alm_L == 12 and data.values is None and data.grid is None
    assert data.alm.dtype == np.complex128
    np.testing.assert_array_equal(data.alm, alm)
    np.testing.assert_array_equal(data.alm, hp.read_alm(path))
    assert error_of(path, ReaderOptions(grid="healpix")) == (
        f"{path}: the file holds harmonic coefficients but the options declare grid = 'healpix'"
    )


def test_fits_alm_with_mmax_below_lmax_is_refused(tmp_path, rng):
    path = tmp_path / "alm.fits"
    hp.write_alm(path, random_alm(rng, 12), lmax=11, mmax=5)
    assert error_of(path) == f"{path}: 57 coefficients do not form a full set: expected L*(L+1)/2 (healpy/ducc0 layout, lmax = mmax)"


def test_fits_alm_with_a_repeated_index_is_refused(tmp_path):
    index = np.array([1, 3, 3])  # INDEX = l*l + l + m + 1: (0, 0), then (1, 0) twice and no (1, 1)
    path = write_table(tmp_path / "alm.fits", [("INDEX", "J", index), ("REAL", "D", np.ones(3)), ("IMAG", "D", np.zeros(3))])
    assert error_of(path) == (
        f"{path}: the table must hold each (l, m) with 0 <= m <= l <= lmax = 1 exactly once (INDEX = l*l + l + m + 1)"
    )


def test_npy_alm(tmp_path, rng):
    alm = random_alm(rng, 9).astype(np.complex64)
    path = save_npy(tmp_path / "alm.npy", alm, sidecar={"grid": "alm"})
    data = read_map(path)
    assert data.alm_L == 9
    np.testing.assert_array_equal(data.alm, alm.astype(np.complex128))
    np.save(path, alm[:-1])
    assert error_of(path) == f"{path}: 44 coefficients do not form a full set: expected L*(L+1)/2 (healpy/ducc0 layout, lmax = mmax)"
    np.save(path, alm.real)
    assert error_of(path) == f"{path}: harmonic coefficients must be complex, got float32"
    bad = alm.copy()
    bad[3] = np.nan
    np.save(path, bad)
    assert error_of(path) == f"{path}: 1 of 45 harmonic coefficients are NaN or inf"
    only_mean = np.zeros_like(alm)
    only_mean[0] = 3.0
    np.save(path, only_mean)
    assert error_of(path) == f"{path}: the map is constant (zero variance): nothing to analyse"


# ---------------------------------------------------------------- .npy / .npz declarations


@pytest.mark.parametrize("dtype", ["<f8", ">f8", ">f4", "<f2"])
def test_npy_with_options_or_sidecar(tmp_path, rng, dtype):
    m = healpix_map(rng, nside=4).astype(dtype)
    expected = m.astype(np.float64)
    by_options = save_npy(tmp_path / "a.npy", m)
    assert_pixels(read_map(by_options, HEALPIX_RING), expected, HealpixGrid(4, "RING"))
    by_sidecar = save_npy(tmp_path / "b.npy", m, sidecar={"grid": "healpix", "ordering": "NESTED"})
    assert_pixels(read_map(by_sidecar), expected, HealpixGrid(4, "NESTED"))
    assert_pixels(read_map(by_sidecar, ReaderOptions(ordering="NESTED")), expected, HealpixGrid(4, "NESTED"))


def test_sidecar_and_options_must_agree(tmp_path, rng):
    path = save_npy(tmp_path / "a.npy", healpix_map(rng), sidecar={"grid": "healpix", "ordering": "NESTED"})
    assert error_of(path, HEALPIX_RING) == (
        f"{path}: the sidecar a.json declares ordering = 'NESTED' but the options declare 'RING'"
    )
    path.with_suffix(".json").write_text(json.dumps({"grid": "healpix", "nside": 8}))
    assert error_of(path) == (
        f"{path}: sidecar a.json must be a JSON object with keys grid, ordering, fields, pol_convention only"
    )
    path.with_suffix(".json").write_text(json.dumps({"grid": "hexagons"}))
    assert error_of(path) == (
        f"{path}: sidecar a.json: grid must be one of healpix, gl, mw, cc, dh, f1, alm (or None: from the file), "
        "got 'hexagons'"
    )
    path.with_suffix(".json").write_text("{grid")
    assert error_of(path).startswith(f"{path}: sidecar a.json is not readable JSON (")


def test_npy_needs_a_declared_grid_and_ordering(tmp_path, rng):
    path = save_npy(tmp_path / "a.npy", healpix_map(rng))
    assert error_of(path) == (
        f"{path}: no grid declared: set grid (healpix, gl, mw, cc, dh, f1, alm) in the options or in a sidecar a.json"
    )
    assert error_of(path, ReaderOptions(grid="healpix")) == (
        f"{path}: HEALPix ordering not declared: set ordering (RING or NESTED) in the options or in a sidecar a.json"
    )


def test_npy_healpix_pixel_count_and_nested_nside(tmp_path, rng):
    path = save_npy(tmp_path / "a.npy", rng.standard_normal(100))
    assert error_of(path, HEALPIX_RING) == f"{path}: 100 pixels is not a HEALPix map: expected npix = 12 * nside**2"
    np.save(path, healpix_map(rng, nside=6))
    assert read_map(path, HEALPIX_RING).grid == HealpixGrid(6, "RING")
    assert error_of(path, ReaderOptions(grid="healpix", ordering="NESTED")) == (
        f"{path}: NESTED ordering needs nside a power of two, got nside = 6"
    )
    np.save(path, rng.standard_normal((2, 768)))
    assert error_of(path, HEALPIX_RING) == f"{path}: a HEALPix map must be a 1-D array, got shape (2, 768)"


@pytest.mark.parametrize("scheme", ["f1", "dh"])
def test_equirectangular_image(tmp_path, rng, scheme):
    image = rng.standard_normal((16, 32)).astype(np.float32)
    path = save_npy(tmp_path / "image.npy", np.asfortranarray(image), sidecar={"grid": scheme})
    data = read_map(path)
    assert_pixels(data, image.astype(np.float64), RingGrid(scheme, 16, 32))
    assert data.values.flags.c_contiguous


def test_ring_grid_shape_must_match_the_scheme(tmp_path, rng):
    path = save_npy(tmp_path / "a.npy", rng.standard_normal((8, 5)))
    assert error_of(path, ReaderOptions(grid="gl")) == (
        f"{path}: grid shape (8, 5) matches no 'gl' grid: expected (ntheta, nphi) with ntheta >= 1 and "
        "nphi >= 2*L - 1 for the ring bandlimit L = 8 (e.g. (8, 15))"
    )
    np.save(path, rng.standard_normal(8))
    assert error_of(path, ReaderOptions(grid="gl")) == f"{path}: a 'gl' grid map must be 2-D (ntheta, nphi), got shape (8,)"


def test_npz_key_selection(tmp_path, rng):
    a, b = healpix_map(rng), healpix_map(rng)
    path = tmp_path / "maps.npz"
    np.savez(path, a=a, b=b)
    assert error_of(path, HEALPIX_RING) == f"{path}: the archive holds 2 arrays (a, b): choose one with npz_key"
    assert error_of(path, ReaderOptions(grid="healpix", ordering="RING", npz_key="c")) == (
        f"{path}: npz_key 'c' is not in the archive: it holds a, b"
    )
    data = read_map(path, ReaderOptions(grid="healpix", ordering="RING", npz_key="b"))
    assert_pixels(data, b, HealpixGrid(8, "RING"))
    single = tmp_path / "single.npz"
    np.savez_compressed(single, m=a)
    assert_pixels(read_map(single, HEALPIX_RING), a, HealpixGrid(8, "RING"))
    empty = tmp_path / "empty.npz"
    np.savez(empty)
    assert error_of(empty, HEALPIX_RING) == f"{empty}: the archive holds no arrays"


# ---------------------------------------------------------------- bad pixels, dtypes, constants


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf, UNSEEN, UNSEEN * (1 + 9e-6)])
def test_bad_pixels_are_refused_by_default_and_filled_on_request(tmp_path, rng, bad_value):
    m = healpix_map(rng)
    m[[3, 50, 700]] = bad_value
    path = save_npy(tmp_path / "a.npy", m)
    assert error_of(path, HEALPIX_RING) == (
        f"{path}: 3 of 768 pixels (0.391 %) are NaN, inf or UNSEEN; the bad-pixel policy is 'refuse': "
        "choose bad_pixels='fill-mean' to fill them with the mean of the valid pixels, or 'mask' to mask them"
    )
    data = read_map(path, ReaderOptions(grid="healpix", ordering="RING", bad_pixels="fill-mean"))
    valid = np.ones(768, dtype=bool)
    valid[[3, 50, 700]] = False
    np.testing.assert_array_equal(data.values[valid], m[valid])
    np.testing.assert_allclose(data.values[~valid], m[valid].mean(), rtol=1e-12)
    assert data.masked_fraction == 3 / 768


def test_values_near_but_outside_the_unseen_tolerance_are_kept(tmp_path, rng):
    m = healpix_map(rng)
    m[0] = UNSEEN * (1 + 2e-5)
    np.testing.assert_array_equal(read_map(save_npy(tmp_path / "a.npy", m), HEALPIX_RING).values, m)


def test_all_masked_and_constant_maps_are_refused(tmp_path, rng):
    path = save_npy(tmp_path / "a.npy", np.full(768, np.nan))
    fill = ReaderOptions(grid="healpix", ordering="RING", bad_pixels="fill-mean")
    assert error_of(path, fill) == f"{path}: all 768 pixels are NaN, inf or UNSEEN: nothing to analyse"
    np.save(path, np.full(768, 2.5))
    assert error_of(path, HEALPIX_RING) == f"{path}: the map is constant (zero variance): nothing to analyse"
    m = np.full(768, 2.5)
    m[::2] = UNSEEN
    np.save(path, m)
    assert error_of(path, fill) == f"{path}: the map is constant (zero variance): nothing to analyse"


@pytest.mark.parametrize(
    "array, message",
    [
        (np.arange(768), "int64 data are not accepted: a map must hold floating-point values"),
        (np.ones(768, dtype=bool), "bool data are not accepted: a map must hold floating-point values"),
        (np.ones(768, dtype=np.complex128), "complex data (complex128) are accepted only as harmonic coefficients: declare grid 'alm'"),
        (np.array([1.0, None] * 384, dtype=object), "object arrays are not accepted: their data are pickled, and pickles are never loaded"),
    ],
)
def test_non_float_arrays_are_refused(tmp_path, array, message):
    path = tmp_path / "a.npy"
    np.save(path, array, allow_pickle=True)
    assert error_of(path, HEALPIX_RING) == f"{path}: {message}"


# ---------------------------------------------------------------- broken files


@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_truncated_files(tmp_path, rng):
    npy = save_npy(tmp_path / "a.npy", healpix_map(rng))
    npy.write_bytes(npy.read_bytes()[:-8])
    assert error_of(npy, HEALPIX_RING) == f"{npy}: truncated file: the header declares 6144 bytes of data, only 6136 are present"
    fits_path = tmp_path / "a.fits"
    hp.write_map(fits_path, healpix_map(rng), dtype=np.float64)
    fits_path.write_bytes(fits_path.read_bytes()[:9000])
    assert error_of(fits_path) == f"{fits_path}: truncated file: the header declares 6144 bytes of data, only 3240 are present"
    npz = tmp_path / "a.npz"
    np.savez(npz, m=healpix_map(rng))
    npz.write_bytes(npz.read_bytes()[:3000])
    assert error_of(npz, HEALPIX_RING).startswith(f"{npz}: not a valid .npz file (BadZipFile: ")


@pytest.mark.parametrize("name, kind", [("a.fits", "FITS"), ("a.npy", ".npy"), ("a.npz", ".npz")])
def test_garbage_bytes(tmp_path, name, kind):
    path = tmp_path / name
    path.write_bytes(b"SIMPLE  = nonsense" + bytes(range(256)) * 20)
    assert error_of(path, HEALPIX_RING).startswith(f"{path}: not a valid {kind} file (")


def test_fits_without_a_table(tmp_path):
    path = tmp_path / "image.fits"
    fits.PrimaryHDU(np.ones((4, 8))).writeto(path)
    assert error_of(path) == f"{path}: no binary table in HDU 1: not a HEALPix map or a harmonic-coefficient table"


def test_missing_file_and_unknown_type(tmp_path):
    assert error_of(tmp_path / "nope.fits") == f"{tmp_path / 'nope.fits'}: file not found"
    text = tmp_path / "map.txt"
    text.write_text("1 2 3")
    assert error_of(text) == f"{text}: unknown file type '.txt': expected one of .fits, .fit, .fts, .npy, .npz, .png, .jpg, .jpeg, .tif, .tiff"


# ---------------------------------------------------------------- options


def test_options_serialise_to_json_and_back():
    options = ReaderOptions(grid="healpix", ordering="NESTED", field=1, bad_pixels="fill-mean")
    assert ReaderOptions.from_dict(json.loads(json.dumps(options.to_dict()))) == options
    with pytest.raises(InputError) as info:
        ReaderOptions.from_dict({"grid": "gl", "policy": "x"})
    assert str(info.value) == "unknown reader options: policy"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid": "HEALPix"}, "grid must be one of healpix, gl, mw, cc, dh, f1, alm (or None: from the file), got 'HEALPix'"),
        ({"ordering": "nest"}, "ordering must be RING or NESTED (or None: from the file), got 'nest'"),
        ({"grid": "gl", "ordering": "RING"}, "ordering applies only to HEALPix maps, not to grid 'gl'"),
        ({"field": True}, "field must be a column name or a 0-based column index, got True"),
        ({"field": -1}, "field must be a column name or a 0-based column index, got -1"),
        ({"npz_key": ""}, "npz_key must be a non-empty string, got ''"),
        ({"bad_pixels": "zero"}, "bad_pixels must be one of refuse, fill-mean, mask, got 'zero'"),
    ],
)
def test_invalid_options(kwargs, message):
    with pytest.raises(InputError) as info:
        ReaderOptions(**kwargs)
    assert str(info.value) == message
