"""Statistical checks of the simulated CMB classes at small L (docs/cmb-experiment.md sections 2-3).

Every check is a hypothesis test at family-wise significance ALPHA with fixed seeds, so its
outcome is deterministic; thresholds come from the number of maps (standard errors), never tuned.
"""

import numpy as np
import pytest
from scipy import stats

from pipeline.cmb.simulation import GAUSSIAN, NONGAUSSIAN, gaussian_alm, simulate_alm, squared_field_alm
from pipeline.cmb.spectra import cmb_spectra
from pipeline.sphere.alm import l_of_index, m_of_index, power_spectrum
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import alm_to_map, ring_grid_analysis, ring_grid_synthesis

ALPHA = 1e-3
L = 32
N_MAPS = 1000


def bonferroni_z(n_tests: int) -> float:
    """Two-sided z threshold with family-wise error ALPHA over n_tests z-scores (any correlation)."""
    return stats.norm.isf(ALPHA / (2 * n_tests))


def spectra_of(label: int, f: float, first_seed: int, n: int = N_MAPS) -> np.ndarray:
    s = cmb_spectra(L)
    return np.array([power_spectrum(simulate_alm(s, label, f, first_seed + i), L) for i in range(n)])


def test_gaussian_alm_is_a_real_field_without_monopole_and_dipole():
    s = cmb_spectra(L)
    alm = gaussian_alm(s.cl, np.random.default_rng(3))
    assert np.all(alm[m_of_index(L) == 0].imag == 0)
    assert np.all(alm[l_of_index(L) < 2] == 0)


def test_product_grid_projects_squares_exactly():
    """G^2 - sigma^2 on l < L equals the projection computed on a much finer grid; the naive
    bandlimit-L grid aliases (by tens of percent), which is why it is not used."""
    s = cmb_spectra(L)
    g_alm = gaussian_alm(s.cl, np.random.default_rng(4))
    fine = ring_grid_synthesis(g_alm, L, 3 * L, 6 * L)
    reference = ring_grid_analysis(fine**2 - s.sigma2, L)
    np.testing.assert_allclose(squared_field_alm(g_alm, L, s.sigma2), reference, rtol=0, atol=1e-12 * np.abs(reference).max())
    coarse = ring_grid_synthesis(g_alm, L, L, 2 * L - 1)
    assert np.abs(ring_grid_analysis(coarse**2 - s.sigma2, L) - reference).max() > 0.05 * np.abs(reference).max()


def cross_spectrum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C_l^ab = sum_{m=-l..l} Re(a_lm conj(b_lm)) / (2l+1) for complex-layout coefficients."""
    weight = np.where(m_of_index(L) > 0, 2.0, 1.0)
    return np.bincount(l_of_index(L), weights=weight * (a * b.conj()).real, minlength=L) / (2 * np.arange(L) + 1)


def test_squared_field_spectrum_matches_simulations():
    """(a) The analytic Legendre transform of 2 xi^2 against the mean measured spectrum of
    G^2 - sigma^2 over N_MAPS Gaussian maps, per l, in units of the measured standard error;
    and the cross-spectrum of G with G^2 - sigma^2 vanishes (an odd moment of a Gaussian)."""
    s = cmb_spectra(L)
    auto, cross = [], []
    for i in range(N_MAPS):
        g_alm = gaussian_alm(s.cl, np.random.default_rng(10_000 + i))
        q_alm = squared_field_alm(g_alm, L, s.sigma2)
        auto.append(power_spectrum(q_alm, L))
        cross.append(cross_spectrum(g_alm, q_alm)[2:])
    for measured, expected in ((np.array(auto), s.squared), (np.array(cross), 0.0)):
        z = (measured.mean(0) - expected) / (measured.std(0, ddof=1) / np.sqrt(N_MAPS))
        assert np.abs(z).max() < bonferroni_z(2 * L - 2), z


def test_gaussian_class_has_cl_within_cosmic_variance():
    """(b) Gaussian class: N (2l+1) mean(C_l^hat) / C_l ~ chi^2 with N (2l+1) dof, independent
    over l, so the z-scores below are standard normal (to O(1/sqrt(N (2l+1)))) and independent."""
    s = cmb_spectra(L)
    ell = np.arange(2, L)
    mean = spectra_of(GAUSSIAN, 0.0, 20_000)[:, 2:].mean(0)
    z = (mean - s.cl[2:]) / (s.cl[2:] * np.sqrt(2 / ((2 * ell + 1) * N_MAPS)))
    assert np.abs(z).max() < bonferroni_z(L - 2), z
    assert np.sum(z**2) < stats.chi2.isf(ALPHA, L - 2)


@pytest.mark.parametrize("f", [0.1, 1.0])
def test_nongaussian_class_has_the_same_cl(f):
    """(b) Non-Gaussian class: mean spectrum equals C_l (the analytic filter); its estimator variance
    exceeds cosmic variance (connected 4-point function), so standard errors are measured. At
    f = 1 the unfiltered excess f^2 N_l / (sigma^2 C_l) is >= 10 standard errors at every l."""
    s = cmb_spectra(L)
    spectra = spectra_of(NONGAUSSIAN, f, 30_000)[:, 2:]
    se = spectra.std(0, ddof=1) / np.sqrt(N_MAPS)
    z = (spectra.mean(0) - s.cl[2:]) / se
    assert np.abs(z).max() < bonferroni_z(L - 2), z
    if f == 1.0:
        assert np.min(f * f / s.sigma2 * s.squared[2:] / se) > 10


def test_seeds_determine_maps():
    """(c) Same seed: bit-identical coefficients; different seeds or classes: different maps."""
    s = cmb_spectra(L)
    for label, f in ((GAUSSIAN, 0.0), (NONGAUSSIAN, 0.3)):
        a = simulate_alm(s, label, f, 12345)
        assert np.array_equal(a, simulate_alm(s, label, f, 12345))
        assert not np.allclose(a, simulate_alm(s, label, f, 12346))
    assert not np.allclose(simulate_alm(s, GAUSSIAN, 0.0, 7), simulate_alm(s, NONGAUSSIAN, 0.3, 7))
    with pytest.raises(ValueError, match="label"):
        simulate_alm(s, 2, 0.1, 1)


def pixel_skewness(alm: np.ndarray) -> float:
    """Skewness of the map's values on the Gauss-Legendre grid, weighted by pixel area (the GL
    weights are symmetric about the equator, so their order does not matter)."""
    values = alm_to_map(alm, RingGrid.for_bandlimit("gl", L), L)
    weights = np.broadcast_to(np.polynomial.legendre.leggauss(L)[1][:, None], values.shape)
    mean = np.average(values, weights=weights)
    var = np.average((values - mean) ** 2, weights=weights)
    return float(np.average((values - mean) ** 3, weights=weights) / var**1.5)


def test_nongaussian_class_is_skewed():
    """(d) Area-weighted pixel skewness: zero in mean for the Gaussian class (T -> -T symmetry),
    positive for the non-Gaussian class at f = 0.1 (Welch t-test between the classes)."""
    s = cmb_spectra(L)
    n = 200
    gauss = np.array([pixel_skewness(simulate_alm(s, GAUSSIAN, 0.0, 40_000 + i)) for i in range(n)])
    nongauss = np.array([pixel_skewness(simulate_alm(s, NONGAUSSIAN, 0.1, 50_000 + i)) for i in range(n)])
    assert abs(stats.ttest_1samp(gauss, 0.0).pvalue) > ALPHA
    result = stats.ttest_ind(nongauss, gauss, equal_var=False, alternative="greater")
    assert result.pvalue < ALPHA, result
