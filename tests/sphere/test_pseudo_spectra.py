"""Decoupled spectra over a region (pipeline/sphere/pseudo_spectra.py): the coupling matrix against
the identity on the full sky and against Monte Carlo averages of random signals; exact decoupling
of spectra constant within the bins; small regions binned coarser or refused."""

from __future__ import annotations

import math

import ducc0
import numpy as np

from pipeline.sphere.alm import real_to_complex
from pipeline.sphere.harmonic import ring_grid_synthesis
from pipeline.sphere.pseudo_spectra import Decoupling, coupling_matrix, region_pseudo_spectrum


def cap_and_band(L: int, cut_deg: float, cap_deg: float) -> np.ndarray:
    """Indicator on the 2L x 4L Gauss-Legendre grid: |z| > sin(cut) minus a cap of radius cap_deg at (1, 0, 0)."""
    ntheta = 2 * L
    theta = ducc0.misc.GL_thetas(ntheta)[:, None]
    phi = 2 * math.pi * np.arange(2 * ntheta)[None, :] / (2 * ntheta)
    x = np.sin(theta) * np.cos(phi)
    return ((np.abs(np.cos(theta)) > math.sin(math.radians(cut_deg))) & (x < math.cos(math.radians(cap_deg)))).astype(float)


def loop_coupling_matrix(region: np.ndarray, L: int) -> np.ndarray:
    """Reference: T applied to every real basis function by synthesis and analysis on the grid."""
    K = np.zeros((L, L))
    for index in range(1, L * L):
        unit = np.zeros(L * L)
        unit[index] = 1.0
        basis = ring_grid_synthesis(real_to_complex(unit, L), L, *region.shape)
        K[:, math.isqrt(index)] += region_pseudo_spectrum(basis, region, L)[1]
    return K


def test_coupling_matrix_is_the_loop_over_basis_functions():
    L = 12
    region = cap_and_band(L, 20.0, 25.0)
    weighted = region * np.linspace(0.2, 1.0, region.shape[1])[None, :]  # a weighted region too
    for r in (region, weighted):
        reference = loop_coupling_matrix(r, L)
        assert np.abs(coupling_matrix(r, L) - reference).max() < 1e-12 * np.abs(reference).max()


def test_full_sky_coupling_is_the_identity_above_the_monopole():
    L = 8
    K = coupling_matrix(np.ones((2 * L, 4 * L)), L)
    expected = np.eye(L)
    expected[0, 0] = 0.0
    assert np.abs(K - expected).max() < 1e-12
    assert list(Decoupling.of_region(np.ones((2 * L, 4 * L)), L).edges) == list(range(1, L + 1))


def test_coupling_matrix_is_the_mean_pseudo_spectrum_of_random_signals(rng):
    L, n = 8, 600
    region = cap_and_band(L, 25.0, 30.0)
    cl = 1.0 / (1.0 + np.arange(L)) ** 2
    sigma = np.sqrt(np.repeat(cl, 2 * np.arange(L) + 1))
    pseudo = np.array([region_pseudo_spectrum(ring_grid_synthesis(real_to_complex(sigma * rng.standard_normal(L * L), L), L, *region.shape),
                                              region, L)[1] for _ in range(n)])
    expected = coupling_matrix(region, L) @ cl
    z = (pseudo.mean(0)[1:] - expected[1:]) / (pseudo.std(0, ddof=1)[1:] / math.sqrt(n))
    assert np.abs(z).max() < 4.0, z


def test_spectra_constant_within_bins_are_decoupled_exactly():
    L = 16
    region = cap_and_band(L, 20.0, 15.0)
    decoupling = Decoupling.of_region(region, L)
    edges = decoupling.edges
    assert len(edges) > 2 and edges[0] == 1 and edges[-1] == L
    cl = np.zeros(L)
    for lo, hi in zip(edges[:-1], edges[1:]):
        cl[lo:hi] = 1.0 / (1.0 + lo) ** 2
    decoupled = decoupling.apply(coupling_matrix(region, L) @ cl)
    assert math.isnan(decoupled[0])
    assert np.abs(decoupled[1:] - cl[1:]).max() < 1e-10 * cl[1:].max()


def test_a_region_too_small_for_any_bandpower_gives_nan():
    L = 8
    speck = np.zeros((2 * L, 4 * L))
    speck[3, 5] = speck[3, 6] = 1.0  # two pixels: no fluctuation about the region's mean is resolved
    decoupling = Decoupling.of_region(speck, L)
    assert len(decoupling.edges) == 0 and np.isnan(decoupling.apply(np.ones(L))).all()
