"""The classical statistics of the CMB benchmark against independent references: Gaussian
expectations of the Minkowski functionals (Tomita 1986; Schmalzing & Gorski 1998), derivatives
against finite differences, moments against healpy, the cubic estimator's sign and first-order
response, and the f95 fit on curves whose f95 is known."""

from __future__ import annotations

import math
from unittest import mock

import ducc0
import numpy as np
import pytest
from scipy.special import erfc
from scipy.stats import norm

from downstream.cmb.detection import f95_with_interval, fit_f95
from downstream.cmb.statistics import (
    THRESHOLDS,
    field_derivatives,
    minkowski_functionals,
    optimal_cubic,
    weighted_moments,
)
from pipeline.cmb.simulation import GAUSSIAN, NONGAUSSIAN, simulate_alm
from pipeline.cmb.spectra import cmb_spectra
from pipeline.sphere.grids import HealpixGrid
from pipeline.sphere.harmonic import alm_to_map
from pipeline.testing import random_alm

L = 128
ELL = np.arange(L)
RED = np.where(ELL >= 2, 1.0 / np.maximum(ELL * (ELL + 1.0), 1.0), 0.0)


def test_derivatives_match_finite_differences(rng):
    smooth = np.where((ELL >= 2) & (ELL < 12), 1.0, 0.0)  # smooth on the L = 128 grid
    d = field_derivatives(random_alm(rng, L, smooth), L)
    theta = ducc0.misc.GL_thetas(L)
    inner = slice(5, -5)
    for value, derivative in (("u", "g1"), ("g1", "h11")):
        fd = np.gradient(d[value], theta, axis=0)[inner]
        assert np.linalg.norm(fd - d[derivative][inner]) / np.linalg.norm(d[derivative][inner]) < 0.02  # measured 0.008-0.009


def test_minkowski_functionals_of_gaussian_fields_match_their_expectation(rng):
    """V0 = erfc(nu / sqrt 2) / 2, V1 = sqrt(tau) exp(-nu^2/2) / 8, V2 = tau nu exp(-nu^2/2) / (2 pi)^(3/2),
    tau = sigma_1^2 / (2 sigma_0^2), to within 4 standard errors of the mean of 50 maps plus 2 % of the
    peak: the window of width 0.2 standing in for the delta function, and the sphere's curvature (measured
    over 200 maps: V1 1.4 %, V2 1.9 % of the peak)."""
    V = np.array([minkowski_functionals(random_alm(rng, L, RED), L) for _ in range(50)])
    mean, error = V.mean(0), V.std(0, ddof=1) / np.sqrt(len(V))
    s0, s1 = (np.sum((2 * ELL + 1) / (4 * np.pi) * w * RED) for w in (1.0, ELL * (ELL + 1.0)))
    tau, nu = s1 / (2 * s0), np.array(THRESHOLDS)
    expected = [erfc(nu / np.sqrt(2)) / 2, np.sqrt(tau) / 8 * np.exp(-nu**2 / 2), tau * nu * np.exp(-nu**2 / 2) / (2 * np.pi) ** 1.5]
    for k in range(3):
        assert np.all(np.abs(mean[k] - expected[k]) < 4 * error[k] + 0.02 * np.abs(expected[k]).max()), k


def test_pixel_moments_agree_with_healpy_on_a_fine_healpix_map(rng):
    healpy = pytest.importorskip("healpy")
    alm = random_alm(rng, 64, np.where(np.arange(64) >= 2, 1.0, 0.0))
    nside = 128
    values = alm_to_map(alm, HealpixGrid(nside, "RING"), 64)
    assert healpy.nside2npix(nside) == values.size
    d = values - values.mean()
    expected = (np.mean(d**3) / np.mean(d**2) ** 1.5, np.mean(d**4) / np.mean(d**2) ** 2 - 3)
    from downstream.cmb.statistics import _on_grid

    measured = weighted_moments(*_on_grid(alm, 64))
    np.testing.assert_allclose(measured, expected, atol=1e-4)  # equal-area pixel sums (measured 6e-6 off) vs exact quadrature


def test_moments_with_ring_weights_equal_those_with_the_same_weight_on_every_pixel(rng):
    """The two sums of ``weighted_moments`` (ring sums times one weight per ring; one weight per
    pixel, as with a mask) give the same moments; a mask of ones changes nothing."""
    from downstream.cmb.statistics import _on_grid

    values, weights = _on_grid(random_alm(rng, 32, np.ones(32)), 32)
    values = values + 0.4 * values**2  # skewed, so both moments are far from 0
    with mock.patch("downstream.cmb.statistics.np.vdot", side_effect=AssertionError("per-pixel sum")):
        per_ring = weighted_moments(values, weights)  # ring sums only
    np.testing.assert_allclose(weighted_moments(values, np.broadcast_to(weights, values.shape).copy()), per_ring, rtol=1e-13)
    np.testing.assert_allclose(weighted_moments(values, weights * np.ones(values.shape)), per_ring, rtol=1e-13)
    assert abs(per_ring[0]) > 0.5 and abs(per_ring[1]) > 0.5


def test_optimal_cubic_responds_linearly_and_with_the_sign_of_f():
    spectra = cmb_spectra(L)
    cl = spectra.cl
    e = {f: optimal_cubic(simulate_alm(spectra, NONGAUSSIAN, f, seed=3), L, cl) for f in (-0.02, 0.02, 0.04)}
    e0 = optimal_cubic(simulate_alm(spectra, GAUSSIAN, 0.0, seed=3), L, cl)
    assert e[0.02] - e0 > 0 > e[-0.02] - e0
    assert (e[0.04] - e0) / (e[0.02] - e0) == pytest.approx(2.0, rel=0.05)  # first order in f (the filter is 1 + O(f^2))


def test_fit_recovers_the_f95_of_a_known_curve(rng):
    f = np.array([0.001, 0.002, 0.004, 0.008, 0.016])
    for a, k in ((0.003, 1.0), (0.006, 2.0)):
        n = np.full(len(f), 100_000)
        correct = np.round(norm.cdf((f / a) ** k / 2) * n)
        assert fit_f95(f, correct, n) == pytest.approx(a * (2 * norm.ppf(0.95)) ** (1 / k), rel=0.01)
    assert fit_f95(f, np.full(len(f), 60), np.full(len(f), 100)) is None  # 60 % everywhere: never 95 %


def test_bootstrap_interval_contains_the_estimate(rng):
    f = np.array([0.002, 0.004, 0.008, 0.016, 0.032])
    p = norm.cdf((f / 0.004) / 2)
    correct = (rng.random((3, len(f), 200)) < p[None, :, None]).astype(float)
    result = f95_with_interval(f, correct, np.full(len(f), 200), rng, bootstrap=100)
    assert result["low"] <= result["f95"] <= result["high"]
    assert result["f95"] == pytest.approx(0.004 * 2 * norm.ppf(0.95), rel=0.15)
    assert math.isfinite(result["high"])
