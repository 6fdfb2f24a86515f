"""The classical classifiers of the CMB benchmark: binning, scikit-learn fit with a cross-validated
penalty, separable vs identical spectra."""

import numpy as np
import pytest

from downstream.cmb.classical import fit_predict, log_binned_spectrum


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
    with pytest.raises(ValueError, match=r"l_min must be in \[0, 10\), got 10"):
        log_binned_spectrum(cl, l_min=10)


def test_separates_different_spectra_and_not_equal_ones(rng):
    labels = np.repeat([0, 1], 100)
    train, test = np.arange(200) % 4 != 0, np.arange(200) % 4 == 0
    different = log_binned_spectrum(np.concatenate([sample_spectra(rng, 100, 48, 0.0), sample_spectra(rng, 100, 48, 0.3)]))
    predicted, _ = fit_predict(different[train], labels[train], different[test])
    assert np.mean(predicted == labels[test]) > 0.95
    same = log_binned_spectrum(np.concatenate([sample_spectra(rng, 100, 48, 0.0), sample_spectra(rng, 100, 48, 0.0)]))
    predicted, penalty = fit_predict(same[train], labels[train], same[test])
    assert abs(np.mean(predicted == labels[test]) - 0.5) < 0.2
    assert 1e-4 <= penalty <= 1e4


def test_one_informative_number_is_thresholded(rng):
    """A single statistic (like the skewness) shifted by 3 standard deviations: ~93 % at the midpoint."""
    labels = np.repeat([0, 1], 400)
    x = (rng.standard_normal(800) + 3.0 * labels)[:, None]
    train = np.arange(800) % 2 == 0
    predicted, _ = fit_predict(x[train], labels[train], x[~train])
    assert abs(np.mean(predicted == labels[~train]) - 0.933) < 0.04
