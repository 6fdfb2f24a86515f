import math

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.plan import cost_in_sht_pairs, scattering_plan
from pipeline.scattering.transform import ScatteringTransform
from pipeline.scattering.wavelets import wavelet_analysis, wavelet_synthesis
from pipeline.sphere.alm import complex_to_real, squared_norm
from pipeline.sphere.grids import HealpixGrid, RingGrid
from pipeline.sphere.harmonic import alm_to_map
from pipeline.sphere.rotations import random_rotation
from pipeline.testing import random_alm, relative_error, relative_error_by_channel, scattering_equivariance_error
from tests.reference import reference_channels, reference_paths, reference_scattering


def _as_dict(alm, L):
    return {(l, m): alm[m * (2 * L - 1 - m) // 2 + l] for m in range(L) for l in range(m, L)}


def _reference_real(ref, channels, L0):
    out = np.empty((len(channels), L0 * L0))
    for i, key in enumerate(channels):
        c = np.array([ref[key][(l, m)] for m in range(L0) for l in range(m, L0)])
        out[i] = complex_to_real(c, L0)
    return out


@pytest.mark.parametrize(
    "config",
    [
        ScatteringConfig(L=12, lam=2.0, J0=1, depth=2, oversampling=2.0),
        ScatteringConfig(L=10, lam=1.6, J0=2, depth=3, oversampling=1.5),
    ],
)
def test_fast_equals_loop_reference(rng, config):
    """Every channel kind, each against the loop reference in float64."""
    alm = random_alm(rng, config.L)
    fast = ScatteringTransform(config).from_alm(alm)
    channels = reference_channels(config)
    assert list(zip(fast.kinds, fast.paths)) == channels
    assert [p for k, p in channels if k == "modulus"] == reference_paths(config)
    ref = _reference_real(reference_scattering(_as_dict(alm, config.L), config), channels, config.L0)
    for kind in ("modulus", "signed_square", "cross"):
        rows = [i for i, (k, _) in enumerate(channels) if k == kind]
        assert relative_error(fast.coefficients[rows], ref[rows]) < 1e-10, kind


@pytest.mark.parametrize("L, lam, J0", [(32, 2.0, 2), (50, 1.5, 3)])
def test_wavelet_analysis_then_synthesis_reconstructs(rng, L, lam, J0):
    """In pixel space: every coefficient sampled on an exact grid at its own bandlimit and read back."""
    config = ScatteringConfig(L=L, lam=lam, J0=J0)
    alm = random_alm(rng, L)
    scaling, wavelets = wavelet_analysis(alm, config)
    bandlimits = [config.L0] + [config.wavelet_bandlimit(j) for j in range(config.J0, config.J + 1)]
    from pipeline.sphere.harmonic import map_to_alm

    def through_grid(c, Lc):
        grid = RingGrid.for_bandlimit("gl", Lc)
        return map_to_alm(alm_to_map(c, grid, Lc), grid, Lc).alm

    scaling = through_grid(scaling, bandlimits[0])
    wavelets = [through_grid(w, b) for w, b in zip(wavelets, bandlimits[1:])]
    assert relative_error(wavelet_synthesis(scaling, wavelets, config), alm) < 1e-12


def test_depth_one_invariants_and_zeroth_order_are_exact(rng):
    """Depth 0 is a linear filter: exactly equivariant; the energy of S[()] is eta-filtered power."""
    config = ScatteringConfig(L=64, J0=3)
    st = ScatteringTransform(config)
    alm = random_alm(rng, 64)
    errors = scattering_equivariance_error(st, alm, random_rotation(rng))
    assert errors["modulus", 0] < 1e-13


# Median equivariance errors measured with this seed (rng fixture), L = 64, J0 = 3, white input,
# 3 maps x 2 rotations: oversampling 2 -> depth 1 ~5.0e-3, depth 2 ~2.0e-2; oversampling 3 ->
# ~1.74e-3, ~6.9e-3. Thresholds sit ~20 % above the measured medians.
# Sign-aware channels, same maps and rotations: oversampling 2 -> signed square ~3.1e-2, cross
# ~5.9e-2; oversampling 3 -> ~6.6e-3, ~2.1e-2. They are larger than the modulus paths' because
# these channels have no large mean to measure the error against (docs/equivariance.md section 4).
@pytest.mark.parametrize("oversampling, bound1, bound2, bound_signed, bound_cross",
                         [(2.0, 6.0e-3, 2.4e-2, 3.7e-2, 7.1e-2), (3.0, 2.1e-3, 8.3e-3, 7.9e-3, 2.5e-2)])
def test_equivariance_under_random_rotations(rng, oversampling, bound1, bound2, bound_signed, bound_cross):
    st = ScatteringTransform(ScatteringConfig(L=64, J0=3, depth=2, oversampling=oversampling))
    errors = [
        scattering_equivariance_error(st, random_alm(rng, 64), random_rotation(rng)) for _ in range(3) for _ in range(2)
    ]
    median = {key: float(np.median([e[key] for e in errors])) for key in errors[0]}
    assert median["modulus", 0] < 1e-13
    assert median["modulus", 1] < bound1
    assert median["modulus", 2] < bound2
    assert median["modulus", 1] < median["modulus", 2]
    assert median["signed_square", 1] < bound_signed
    assert median["cross", 2] < bound_cross


def test_more_oversampling_is_more_equivariant(rng):
    alm, angles = random_alm(rng, 64), random_rotation(rng)
    errs = [
        scattering_equivariance_error(ScatteringTransform(ScatteringConfig(L=64, J0=3, oversampling=o)), alm, angles)
        for o in (1.0, 2.0, 4.0)
    ]
    for key in (("modulus", 1), ("modulus", 2), ("signed_square", 1), ("cross", 2)):
        assert errs[0][key] > errs[1][key] > errs[2][key], key


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_non_expansive(rng, depth):
    config = ScatteringConfig(L=64, J0=2, depth=depth, odd=())
    alm = random_alm(rng, 64)
    S = ScatteringTransform(config).from_alm(alm).coefficients
    assert np.sum(S**2) <= squared_norm(alm, 64)


def test_inputs_on_any_grid_give_the_same_coefficients(rng):
    config = ScatteringConfig(L=32, J0=3)
    st = ScatteringTransform(config)
    alm = random_alm(rng, 32)
    expected = st.from_alm(alm).coefficients
    for grid in (RingGrid.for_bandlimit("gl", 32), RingGrid.for_bandlimit("mw", 32), RingGrid("f1", 40, 80)):
        assert relative_error(st.from_map(alm_to_map(alm, grid, 32), grid).coefficients, expected) < 1e-12
    healpix = st.from_map(alm_to_map(alm, HealpixGrid(16, "NESTED"), 32), HealpixGrid(16, "NESTED"))
    assert relative_error(healpix.coefficients, expected) < 1e-6
    assert healpix.analysis[0].residual < 1e-6


def test_batches_keep_their_shape(rng):
    st = ScatteringTransform(ScatteringConfig(L=16, J0=2))
    alm = np.stack([[random_alm(rng, 16) for _ in range(3)] for _ in range(2)])
    batch = st.from_alm(alm).coefficients
    assert batch.shape == (2, 3, len(st.paths), st.config.L0**2)
    assert np.array_equal(batch[1, 2], st.from_alm(alm[1, 2]).coefficients)


def test_larger_input_bandlimit_is_truncated(rng):
    st = ScatteringTransform(ScatteringConfig(L=16, J0=2))
    alm = random_alm(rng, 24)
    from pipeline.sphere.alm import truncate

    assert np.array_equal(st.from_alm(alm, L=24).coefficients, st.from_alm(truncate(alm, 24, 16)).coefficients)


def test_invariants(rng):
    """Means and power spectra of the outputs are rotation invariant (to the transform's error)."""
    st = ScatteringTransform(ScatteringConfig(L=64, J0=3, oversampling=3.0))
    alm = random_alm(rng, 64)
    from pipeline.sphere.rotations import rotate_alm

    angles = random_rotation(rng)
    a, b = st.from_alm(alm), st.from_alm(rotate_alm(alm, 64, angles))
    assert relative_error(b.means, a.means) < 1e-3
    assert relative_error(b.power_spectra, a.power_spectra) < 1e-2
    assert np.allclose(a.means, a.coefficients[:, 0] / math.sqrt(4 * math.pi))


def test_plan_bandlimits_are_sufficient():
    """Each U[p] is kept up to the largest bandlimit its children need, never more."""
    config = ScatteringConfig(L=1024, J0=5, depth=2)
    plan = scattering_plan(config).nodes
    assert len(plan) == 1 + 6 + 15
    for node in plan:
        if node.parent >= 0:
            parent = plan[node.parent]
            assert node.L_wavelet == config.wavelet_bandlimit(node.path[-1]) <= parent.L_out
        children = [n for n in plan if n.parent == plan.index(node)]
        assert node.L_out == max([config.L0] + [c.L_wavelet for c in children])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(L=1), "L must be an integer >= 2, got 1"),
        (dict(L=64, lam=1.0), "lam must be a finite number > 1, got 1.0"),
        (dict(L=64, J0=7), "J0 must be an integer in [0, 6] for L = 64, lam = 2; got 7"),
        (dict(L=64, J0=-1), "J0 must be an integer in [0, 6] for L = 64, lam = 2; got -1"),
        (dict(L=64, J0=2, depth=0), "depth must be an integer in [1, 3], got 0"),
        (dict(L=64, J0=2, depth=4), "depth must be an integer in [1, 3], got 4"),
        (dict(L=64, J0=2, oversampling=0.5), "oversampling must be a number in [1, 8], got 0.5"),
        (dict(L=64, J0=2, odd=("signed",)), "unknown odd channel kind(s) ['signed']: expected a subset of ['signed_square', 'cross']"),
        (dict(L=64, J0=2, odd="cross"), "odd must be a list of channel kinds from ['signed_square', 'cross'], got 'cross'"),
        (dict(L=64, J0=2, precision="float16"), "precision must be one of float64, float32, got 'float16'"),
    ],
)
def test_invalid_configurations(kwargs, message):
    with pytest.raises(InputError) as err:
        ScatteringConfig(**kwargs)
    assert str(err.value) == message


def test_config_hash_is_stable_and_sensitive():
    a = ScatteringConfig(L=64, J0=2)
    assert a.hash() == ScatteringConfig.from_dict(a.to_dict()).hash()
    assert a.hash() != ScatteringConfig(L=64, J0=2, oversampling=2.5).hash()
    assert ScatteringConfig(L=1024).hash() == ScatteringConfig(L=1024, lam=2, J0=5, depth=2, oversampling=2).hash()
    # Pinned to the digest that caches written before the package was split into subpackages
    # carry: a change in the hash recipe would orphan every existing cache.
    assert ScatteringConfig(L=128, J0=3, odd=()).hash() == "dbc8324b4cced4812eec895643d2c6e18babc2cafed333ecc42078784da1df58"
    assert ScatteringConfig(L=128, J0=3, odd=(), precision="float64").hash() == ScatteringConfig(L=128, J0=3, odd=()).hash()
    single = ScatteringConfig(L=128, J0=3, precision="float32")
    assert single.hash() != ScatteringConfig(L=128, J0=3).hash() and ScatteringConfig.from_dict(single.to_dict()) == single


@pytest.mark.parametrize(("L", "J0"), [(32, 3), (128, 4)])
def test_float32_grid_passes_agree_with_float64_to_single_precision(rng, L, J0):
    """Measured 2e-8 .. 1.2e-7 per (kind, depth) at L = 32-128 (white maps); 1e-6 leaves 8x room
    and is still four orders of magnitude below the modulus' aliasing (~1e-3)."""
    alm = random_alm(rng, L)
    double = ScatteringTransform(ScatteringConfig(L=L, J0=J0))
    single = ScatteringTransform(ScatteringConfig(L=L, J0=J0, precision="float32"))
    coefficients = single.from_alm(alm).coefficients
    assert coefficients.dtype == np.float64
    for (kind, depth), error in relative_error_by_channel(coefficients, double.from_alm(alm).coefficients, double.plan.kinds,
                                                          double.paths).items():
        assert (error == 0.0) if depth == 0 else (1e-9 < error < 1e-6), (kind, depth, error)


def test_map_shape_must_match_grid(rng):
    st = ScatteringTransform(ScatteringConfig(L=16, J0=2))
    with pytest.raises(ValueError, match="does not end with the grid shape"):
        st.from_map(np.zeros((16, 30)), RingGrid.for_bandlimit("gl", 16))


def test_modelled_cost_is_the_same_at_every_L_and_grows_with_oversampling():
    """The README's cost column (SHT pairs) is quoted as independent of L: check it over L = 256-4096."""
    costs = {o: [cost_in_sht_pairs(ScatteringConfig(L=L, oversampling=o)) for L in (256, 1024, 4096)] for o in (1.0, 1.5, 2.0, 3.0)}
    for o, values in costs.items():
        assert max(values) / min(values) < 1.03, (o, values)  # the odd channels' analyses to L0 add 2 % at L = 256
        modulus_only = cost_in_sht_pairs(ScatteringConfig(L=1024, oversampling=o, odd=()))
        assert modulus_only < values[1] < 1.01 * modulus_only
    assert [c[1] for c in costs.values()] == sorted(c[1] for c in costs.values())
    assert costs[1.0][1] > 2  # at least the input analysis plus the top wavelets' full-L synthesis and analysis


@pytest.mark.parametrize("exponent", [-600, 300])
def test_maps_far_from_unit_magnitude_scatter_exactly(rng, exponent):
    """S(c f) = c S(f) to the last bit for c a power of two, even where c f alone would underflow
    (2**-600: squares below the smallest float64) or overflow inside the HEALPix solver."""
    st = ScatteringTransform(ScatteringConfig(L=32, J0=3))
    grid = HealpixGrid(16, "RING")
    sky = alm_to_map(random_alm(rng, 32), grid, 32)
    plain, scaled = st.from_map(sky, grid), st.from_map(sky * 2.0**exponent, grid)
    np.testing.assert_array_equal(scaled.coefficients, plain.coefficients * 2.0**exponent)
    assert scaled.analysis[0].residual == plain.analysis[0].residual


@pytest.mark.parametrize("depth", [2, 3])
def test_sign_behaviour_under_f_to_minus_f(rng, depth):
    """Modulus paths of depth >= 1 are even in the map, exactly; S[()] and every sign-aware channel
    change sign, exactly (negation commutes with rounding)."""
    st = ScatteringTransform(ScatteringConfig(L=32, J0=2, depth=depth))
    alm = random_alm(rng, 32)
    plus, minus = st.from_alm(alm).coefficients, st.from_alm(-alm).coefficients
    even = np.array([k == "modulus" and len(p) > 0 for k, p in zip(st.plan.kinds, st.paths)])
    np.testing.assert_array_equal(minus[even], plus[even])
    np.testing.assert_array_equal(minus[~even], -plus[~even])
    assert np.all(np.abs(plus[~even]).max(axis=1) > 0)
    assert {"signed_square", "cross"} <= set(np.array(st.plan.kinds)[~even])


def test_modulus_only_configuration_is_the_first_channels_of_the_sign_aware_one(rng):
    alm = random_alm(rng, 32)
    signed = ScatteringTransform(ScatteringConfig(L=32, J0=2))
    modulus = ScatteringTransform(ScatteringConfig(L=32, J0=2, odd=()))
    assert signed.paths[: len(modulus.paths)] == modulus.paths and set(modulus.plan.kinds) == {"modulus"}
    np.testing.assert_array_equal(signed.from_alm(alm).coefficients[: len(modulus.paths)], modulus.from_alm(alm).coefficients)


def test_odd_channels_are_homogeneous_of_degree_one(rng):
    alm = random_alm(rng, 32)
    st = ScatteringTransform(ScatteringConfig(L=32, J0=2))
    np.testing.assert_array_equal(st.from_alm(alm * 2.0**80).coefficients, st.from_alm(alm).coefficients * 2.0**80)
    assert np.all(st.from_alm(np.zeros_like(alm)).coefficients == 0)
