"""Spin-2 scattering (docs/scattering.md section 8): the modulus tree of Q_j + iU_j against a plain
whole-grid implementation, its invariance under a global rotation of the polarisation angle,
rotation equivariance when Q/U are rotated as a spin-2 field, and the failure of that check when
Q and U are scattered as two scalar maps; the E/B route and the field layout."""

from __future__ import annotations

import re

import ducc0
import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.fields import FieldScattering, channel_table, signals
from pipeline.scattering.plan import modulus_grid, scattering_plan
from pipeline.scattering.transform import ScatteringTransform
from pipeline.scattering.wavelets import filter_bank
from pipeline.sphere.alm import apply_l_filter, complex_to_real, l_of_index, truncate
from pipeline.sphere.fields import FieldSet
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import ring_grid_analysis, synthesise
from pipeline.sphere.rotations import random_rotation, rotate_alm, rotate_real
from pipeline.testing import random_alm, relative_error, relative_error_by_channel, scattering_equivariance_error


def random_eb(rng, L):
    """E and B coefficients of a white spin-2 field (no l = 0, 1)."""
    eb = np.stack([random_alm(rng, L), random_alm(rng, L)])
    eb[:, l_of_index(L) < 2] = 0
    return eb


def plain_spin2_scattering(config: ScatteringConfig, eb: np.ndarray) -> np.ndarray:
    """Depth-2 spin-2 scattering written plainly: every W synthesised on its whole Gauss-Legendre
    grid at once (no bands, no plan), |W| by numpy, quadrature by ducc0's analysis; channels in
    the transform's order."""
    L, L0, fb = config.L, config.L0, filter_bank(config.L, config.lam, config.J0)
    envelopes = {}
    for j1 in range(config.J0, config.J + 1):
        Lj = config.wavelet_bandlimit(j1)
        ntheta, nphi = modulus_grid(Lj, config.oversampling)
        qu = np.empty((2, ntheta, nphi))
        ducc0.sht.experimental.synthesis_2d(alm=apply_l_filter(eb, L, fb.wavelet(j1), Lj), map=qu, spin=2, lmax=Lj - 1,
                                            geometry="GL")
        envelopes[(j1,)] = ring_grid_analysis(np.hypot(qu[0], qu[1]), Lj)
        for j2 in range(config.J0, j1):
            Lk = config.wavelet_bandlimit(j2)
            envelopes[(j1, j2)] = ring_grid_analysis(np.abs(_synthesis(apply_l_filter(envelopes[(j1,)], Lj, fb.wavelet(j2), Lk), Lk, config)), Lk)
    out = [complex_to_real(apply_l_filter(truncate(eb[c], L, L0), L0, fb.scaling), L0) for c in (0, 1)]
    for node in scattering_plan(config, 2).nodes[1:]:
        u = envelopes[node.path]
        Lu = config.wavelet_bandlimit(node.path[-1])
        out.append(complex_to_real(apply_l_filter(truncate(u, Lu, L0), L0, fb.scaling), L0))
    return np.stack(out)


def _synthesis(alm, Lw, config):
    ntheta, nphi = modulus_grid(Lw, config.oversampling)
    out = np.empty((1, ntheta, nphi))
    ducc0.sht.experimental.synthesis_2d(alm=alm[None], map=out, spin=0, lmax=Lw - 1, geometry="GL")
    return out[0]


def test_spin2_modulus_tree_equals_a_plain_whole_grid_implementation(rng):
    config = ScatteringConfig(L=48, J0=3, depth=2)
    eb = random_eb(rng, 48)
    fast = ScatteringTransform(config, spin=2).from_alm(eb).coefficients
    assert relative_error(fast, plain_spin2_scattering(config, eb)) < 1e-12


def test_modulus_tree_is_invariant_under_a_global_rotation_of_the_polarisation_angle(rng):
    """Q + iU -> e^{i alpha} (Q + iU) turns (E, B) by alpha; |Q_j + iU_j| does not change, so
    every channel of depth >= 1 is the same and only E * Phi, B * Phi turn (docs/scattering.md section 8:
    the modulus route does not tell E from B beyond depth 0)."""
    config = ScatteringConfig(L=32, J0=2)
    st, eb, alpha = ScatteringTransform(config, spin=2), random_eb(rng, 32), 0.7
    turned = np.stack([np.cos(alpha) * eb[0] - np.sin(alpha) * eb[1], np.sin(alpha) * eb[0] + np.cos(alpha) * eb[1]])
    a, b = st.from_alm(eb).coefficients, st.from_alm(turned).coefficients
    assert relative_error(b[2:], a[2:]) < 1e-12
    assert relative_error(b[:2], np.stack([np.cos(alpha) * a[0] - np.sin(alpha) * a[1], np.sin(alpha) * a[0] + np.cos(alpha) * a[1]])) < 1e-12


# Measured at L = 64, J0 = 3, oversampling 2, white E and B, 6 Haar-random rotations (median / max):
# spin-2 modulus depth 1 2.09e-3 / 2.24e-3, depth 2 1.41e-2 / 1.49e-2; Q and U scattered as two
# scalar maps: depth 0 1.67 (min 1.42), depth 1 0.122 (min 0.112), depth 2 0.248 (min 0.231).
def test_spin2_outputs_are_equivariant_and_q_u_as_scalars_are_not(rng):
    L = 64
    spin2 = ScatteringTransform(ScatteringConfig(L=L, J0=3), spin=2)
    scalar = ScatteringTransform(ScatteringConfig(L=L, J0=3, odd=()))
    grid = RingGrid.for_bandlimit("gl", L)

    def as_scalars(eb):
        q, u = synthesise(eb, grid, L, spin=2)
        return np.concatenate([scalar.from_map(q, grid).coefficients, scalar.from_map(u, grid).coefficients])

    for _ in range(2):
        eb, angles = random_eb(rng, L), random_rotation(rng)
        error = scattering_equivariance_error(spin2, eb, angles)  # rotating E and B rotates Q + iU as a spin-2 field
        assert error["modulus", 0] < 1e-13 and error["modulus", 1] < 3e-3 and error["modulus", 2] < 1.8e-2
        S, S_R = as_scalars(eb), as_scalars(rotate_alm(eb, L, angles))
        wrong = relative_error_by_channel(S_R, rotate_real(S, 8, angles), scalar.plan.kinds * 2, scalar.paths * 2)
        assert wrong["modulus", 0] > 0.5 and wrong["modulus", 1] > 0.05 and wrong["modulus", 2] > 0.1
        assert wrong["modulus", 1] > 20 * error["modulus", 1]


def test_eb_route_scatters_e_and_b_as_scalar_maps_bit_for_bit(rng):
    L = 32
    config = ScatteringConfig(L=L, J0=2, spin2_route="eb")
    assert config == ScatteringConfig(L=L, J0=2) and "spin2_route" not in config.to_dict()
    fields = FieldSet.declare(["T", "Q", "U"])
    grid = RingGrid.for_bandlimit("gl", L)
    eb = random_eb(rng, L)
    values = np.concatenate([rng.standard_normal((1, *grid.shape)), synthesise(eb, grid, L, spin=2)])
    result = FieldScattering(config, fields).from_map(values, grid)
    scalar = ScatteringTransform(config)
    analysed = result.analysis[1].alm
    expected = np.concatenate([scalar.from_map(values[0], grid).coefficients, scalar.from_alm(analysed[0]).coefficients,
                               scalar.from_alm(analysed[1]).coefficients])
    assert np.array_equal(result.coefficients, expected)
    assert relative_error(analysed, eb) < 1e-12
    assert result.input_power_spectra.shape == (3, L)


def test_channel_labels_and_signals_follow_the_fields():
    config = ScatteringConfig(L=32, J0=3, spin2_route="modulus")
    fields = FieldSet.declare(["G1", "G2"])
    assert [s.label for s in signals(fields, "modulus")] == ["G1+iG2"]
    table = channel_table(config, fields)
    assert table.fields[:2] == ("E", "B") and set(table.fields[2:]) == {"G1+iG2"} and table.spectra == ("E", "B")
    assert set(table.kinds) == {"modulus"}  # no odd channels for a spin-2 field
    eb = channel_table(ScatteringConfig(L=32, J0=3), FieldSet.declare(["T", "Q", "U"]))  # the default route
    n = len(scattering_plan(config).channels)
    assert eb.fields == ("T",) * n + ("E",) * n + ("B",) * n


@pytest.mark.parametrize("names, spin2, message", [
    (["T", "Q"], None, "field 'Q' is one component of the spin-2 pair Q, U: name both (e.g. --fields T,Q,U)"),
    (["U", "I"], None, "field 'U' is one component of the spin-2 pair Q, U: name both (e.g. --fields T,Q,U)"),
    (["T"], None, "fields must name two or more fields (for one, use field), got ['T']"),
    (["T", "t"], None, "fields must be unique, got T, t"),
    (["A", "B"], ["A", "C"], "spin2 must name two of the fields (A, B), got A, C"),
    (["Q", "U", "G1", "G2"], None, "fields Q, U, G1, G2 hold two spin-2 pairs: one map file may hold one"),
    (["Q", "U", "A", "B"], ["A", "B"], "field 'Q' is a component of a spin-2 pair by name, outside the declared pair A, B: one map file may hold one pair"),
    (["T", "Q", "U"], ["T", "Q"], "field 'U' is a component of a spin-2 pair by name, outside the declared pair T, Q: one map file may hold one pair"),
])
def test_bad_field_declarations_are_refused(names, spin2, message):
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        FieldSet.declare(names, spin2)


def test_a_declared_pair_of_any_names_is_spin2():
    assert FieldSet.declare(["kappa", "e1", "e2"], ["e1", "e2"]).spin2 == (1, 2)
    assert FieldSet.declare(["R", "G", "B"]).spin2 is None
