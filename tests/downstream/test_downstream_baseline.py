"""The power-spectrum-only baseline: binning, optimality of the fit, separable vs identical spectra."""

import numpy as np
import pytest
from scipy.special import softmax

from downstream.cmb.spectrum_baseline import (
    SpectrumClassifier,
    cache_spectra,
    cross_validated_accuracy,
    log_binned_spectrum,
)
from tests.synthetic_cache import random_coefficients, write_cache


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def sample_spectra(rng, n, L, tilt):
    """Spectra of Gaussian fields with C_l = (1 + tilt * l / L) (chi-squared scatter per degree)."""
    l = np.arange(L)
    draws = np.stack([(rng.standard_normal((n, 2 * k + 1)) ** 2).mean(1) for k in l], axis=1)
    return draws * (1 + tilt * l / L)


def test_log_binned_spectrum():
    cl = np.arange(1.0, 11.0)[None]
    np.testing.assert_allclose(log_binned_spectrum(cl, n_bins=4, l_min=2), np.log([[3.5, 5.5, 7.5, 9.5]]))
    assert log_binned_spectrum(cl, n_bins=50, l_min=2).shape == (1, 8)  # no more bins than degrees


def test_fit_is_a_stationary_point_of_the_penalised_likelihood(rng):
    labels = rng.integers(0, 3, 90)
    cl = sample_spectra(rng, 90, 32, 0.0) * (1 + 0.2 * labels[:, None])
    model = SpectrumClassifier(n_bins=6, l2=0.05).fit(cl, labels)
    X = np.hstack([(log_binned_spectrum(cl, 6, 2) - model.mean_) / model.std_, np.ones((90, 1))])
    W = model.weights_
    penalty = np.r_[np.ones(6), 0.0][:, None]
    gradient = X.T @ (softmax(X @ W, axis=1) - np.eye(3)[labels]) / 90 + 2 * 0.05 * penalty * W
    assert np.abs(gradient).max() < 1e-4


def test_separates_different_spectra_and_not_equal_ones(rng):
    labels = np.repeat([0, 1], 100)
    different = np.concatenate([sample_spectra(rng, 100, 48, 0.0), sample_spectra(rng, 100, 48, 0.3)])
    assert np.mean(cross_validated_accuracy(different, labels)) > 0.95  # measured 1.0
    same = np.concatenate([sample_spectra(rng, 100, 48, 0.0), sample_spectra(rng, 100, 48, 0.0)])
    assert abs(np.mean(cross_validated_accuracy(same, labels)) - 0.5) < 0.1  # measured 0.45


def test_cache_spectra_reads_the_stored_power_spectra(tmp_path):
    x = random_coefficients(12, 2, 5, seed=3)
    status = np.array([1] * 10 + [0, 0])
    path = write_cache(tmp_path / "c.zarr", x, np.arange(12) % 2, status=status)
    cl, labels = cache_spectra(str(path), "all", path=1)
    expected = np.stack([(x[:10, 1, l * l : (l + 1) ** 2] ** 2).mean(-1) for l in range(5)], axis=-1)
    np.testing.assert_allclose(cl, expected, rtol=1e-14)
    np.testing.assert_array_equal(labels, np.arange(10) % 2)
