import healpy as hp
import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.sphere.alm import (
    complex_to_real,
    power_spectrum,
    real_power_spectrum,
    real_to_complex,
    squared_norm,
    truncate,
)
from pipeline.sphere.grids import RING_SCHEMES, HealpixGrid, RingGrid, check_bandlimit
from pipeline.sphere.harmonic import alm_to_map, map_to_alm, nested_to_ring, ring_to_nested
from pipeline.testing import random_alm, relative_error


@pytest.mark.parametrize("scheme", RING_SCHEMES)
@pytest.mark.parametrize("L", [2, 17, 64])
def test_ring_grid_round_trip_is_exact(rng, scheme, L):
    alm = random_alm(rng, L)
    grid = RingGrid.for_bandlimit(scheme, L)
    assert relative_error(map_to_alm(alm_to_map(alm, grid, L), grid, L).alm, alm) < 1e-12


@pytest.mark.parametrize("scheme, shape, L", [("f1", (64, 128), 64), ("dh", (64, 128), 32)])
def test_equirectangular_images(rng, scheme, shape, L):
    """H x 2H 360-degree images: cell-centred (f1) supports L = H, Driscoll-Healy (dh) L = H/2."""
    grid = RingGrid.from_shape(scheme, shape)
    assert grid.max_bandlimit == L
    alm = random_alm(rng, L)
    assert relative_error(map_to_alm(alm_to_map(alm, grid, L), grid, L).alm, alm) < 1e-12


@pytest.mark.parametrize("ordering", ["RING", "NESTED"])
@pytest.mark.parametrize("nside", [8, 32])
def test_healpix_round_trip_meets_stated_accuracy(rng, nside, ordering):
    L = 2 * nside
    alm = random_alm(rng, L)
    grid = HealpixGrid(nside, ordering)
    result = map_to_alm(alm_to_map(alm, grid, L), grid, L)
    assert relative_error(result.alm, alm) < 1e-6
    assert result.residual < 1e-6 and result.iterations >= 1


def test_healpix_synthesis_matches_healpy(rng):
    nside, L = 16, 32
    alm = random_alm(rng, L)
    ours = alm_to_map(alm, HealpixGrid(nside, "RING"), L)
    assert relative_error(ours, hp.alm2map(alm, nside, lmax=L - 1)) < 1e-12
    nested = alm_to_map(alm, HealpixGrid(nside, "NESTED"), L)
    assert np.array_equal(nested, hp.reorder(ours, r2n=True))


def test_nested_ring_reordering_is_inverse(rng):
    x = rng.standard_normal(12 * 64**2)
    assert np.array_equal(ring_to_nested(nested_to_ring(x, 64), 64), x)
    assert np.array_equal(nested_to_ring(x, 64), hp.reorder(x, n2r=True))


def test_real_layout_round_trip_and_parseval(rng):
    L = 23
    alm = random_alm(rng, L)
    r = complex_to_real(alm, L)
    assert relative_error(real_to_complex(r, L), alm) < 1e-15
    assert np.isclose(np.sum(r**2), squared_norm(alm, L), rtol=1e-14)
    assert np.allclose(real_power_spectrum(r, L), power_spectrum(alm, L), rtol=1e-13)
    assert np.allclose(power_spectrum(alm, L), hp.alm2cl(alm), rtol=1e-13)


def test_real_layout_is_the_real_harmonic_basis(rng):
    """The real coefficients expand the same function in orthonormal real harmonics."""
    L = 6
    alm = random_alm(rng, L)
    grid = RingGrid.for_bandlimit("gl", L)
    f = alm_to_map(alm, grid, L)
    r = complex_to_real(alm, L)
    basis_norms = []
    for c in range(L * L):
        e = np.zeros(L * L)
        e[c] = 1.0
        y = alm_to_map(real_to_complex(e, L), grid, L)
        basis_norms.append(squared_norm(map_to_alm(y, grid, L).alm, L))
        f -= r[c] * y
    assert np.max(np.abs(f)) < 1e-12
    assert np.allclose(basis_norms, 1.0, rtol=1e-13)


def test_truncate_keeps_low_degrees(rng):
    alm = random_alm(rng, 20)
    low = truncate(alm, 20, 7)
    assert np.array_equal(low, hp.resize_alm(alm, 19, 19, 6, 6))


@pytest.mark.parametrize(
    "grid, L, message",
    [
        (HealpixGrid(8, "RING"), 17, "L = 17 is above what the HEALPix nside 8 supports: allowed 2 <= L <= 16"),
        (RingGrid("gl", 10, 19), 11, "L = 11 is above what the 'gl' grid (10, 19) supports: allowed 2 <= L <= 10"),
    ],
)
def test_bandlimit_above_grid_is_refused(grid, L, message):
    with pytest.raises(InputError) as err:
        check_bandlimit(grid, L)
    assert str(err.value) == message


def test_grid_validation_messages():
    with pytest.raises(InputError, match=r"grid shape \(10, 5\) matches no 'gl' grid"):
        RingGrid.from_shape("gl", (10, 5))
    with pytest.raises(InputError, match="unknown grid scheme 'xyz'"):
        RingGrid.from_shape("xyz", (10, 19))
    with pytest.raises(InputError, match="NESTED ordering needs nside a power of two, got nside = 12"):
        HealpixGrid(12, "NESTED")
    with pytest.raises(InputError, match=r"1000 pixels is not a HEALPix map: expected npix = 12 \* nside\*\*2"):
        HealpixGrid.from_npix(1000, "RING")


def test_spin2_round_trip_is_exact_on_ring_grids_and_matches_healpy_on_healpix(rng):
    """Q, U <-> E, B: exact on Gauss-Legendre and Fejer grids; on HEALPix against healpy's
    map2alm(pol=True) with 10 Jacobi iterations as the independent reference (same convention)."""
    from pipeline.sphere.alm import l_of_index
    from pipeline.sphere.harmonic import analyse, synthesise

    L = 24
    eb = np.stack([random_alm(rng, L), random_alm(rng, L)])
    eb[:, l_of_index(L) < 2] = 0  # a spin-2 field has no l = 0, 1
    for grid in (RingGrid.for_bandlimit("gl", L), RingGrid("f1", L, 2 * L)):
        back, residual, _ = analyse(synthesise(eb, grid, L, spin=2), grid, L, spin=2)
        assert residual is None and relative_error(back, eb) < 1e-12
    healpix = HealpixGrid(16, "RING")
    q, u = synthesise(eb, healpix, L, spin=2)
    ours, residual, _ = analyse(np.stack([q, u]), healpix, L, spin=2)
    theirs = hp.map2alm([np.zeros_like(q), q, u], lmax=L - 1, iter=10, pol=True)[1:]
    assert residual < 1e-7 and relative_error(ours, eb) < 1e-6 and relative_error(ours, theirs) < 1e-6
    with pytest.raises(ValueError, match="a spin-2 field has 2 component"):
        analyse(q[None], healpix, L, spin=2)
