import numpy as np
import pytest

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.wavelets import eta_lam, filter_bank, k_lam, kappa_lam
from tests.reference import reference_eta, reference_k_lam, reference_kappa


@pytest.mark.parametrize("L, lam, J0", [(16, 2.0, 0), (64, 2.0, 2), (255, 1.5, 4), (1024, 2.0, 5), (1000, 3.0, 1), (4096, 2.0, 6)])
def test_tight_frame(L, lam, J0):
    """Admissibility: eta^2 + sum_j kappa_j^2 = 1 for every l < L (docs/wavelets.md section 3)."""
    fb = filter_bank(L, lam, J0)
    total = fb.scaling**2 + sum(w**2 for w in fb.wavelets)
    assert np.max(np.abs(total - 1.0)) < 1e-14


@pytest.mark.parametrize("lam", [1.5, 2.0, 3.0])
def test_k_lam_matches_adaptive_quadrature(lam):
    t = np.linspace(1 / lam - 0.01, 1.01, 23)
    ref = np.array([reference_k_lam(x, lam) for x in t])
    assert np.max(np.abs(k_lam(t, lam) - ref)) < 1e-13


def test_filters_match_reference_loops():
    """Compared as squares (differences of k_lam, well conditioned); sqrt amplifies rounding where
    kappa is tiny."""
    L, lam, J0 = 40, 1.7, 2
    fb = filter_bank(L, lam, J0)
    for j in range(J0, fb.J + 1):
        ref = np.array([reference_kappa(l, j, lam) for l in range(L)])
        assert np.max(np.abs(fb.wavelet(j) ** 2 - ref**2)) < 1e-14
    ref = np.array([reference_eta(l, J0, lam) for l in range(L)])
    assert np.max(np.abs(fb.scaling**2 - ref**2)) < 1e-14


def test_supports_and_bandlimits():
    """Wavelet j vanishes outside lam^(j-1) < l < lam^(j+1); its stated bandlimit L_j is tight."""
    config = ScatteringConfig(L=300, lam=2.0, J0=3)
    fb = filter_bank(config.L, config.lam, config.J0)
    l = np.arange(config.L)
    for j in range(config.J0, config.J + 1):
        w = fb.wavelet(j)
        assert np.all(w[(l <= 2.0 ** (j - 1)) | (l >= 2.0 ** (j + 1))] == 0)
        Lj = config.wavelet_bandlimit(j)
        assert np.all(w[Lj:] == 0) and w[Lj - 1] > 0
    assert np.all(fb.scaling[config.L0 :] == 0) and fb.scaling[config.L0 - 1] > 0


def test_generating_functions_limits():
    assert kappa_lam(np.array([0.0, 1.0 / 2, 2.0]), 2.0).tolist() == [0.0, 0.0, 0.0]
    assert eta_lam(np.array([0.0, 0.5, 1.0]), 2.0).tolist() == [1.0, 1.0, 0.0]


def test_filter_bank_is_cached_and_read_only():
    fb = filter_bank(64, 2.0, 2)
    assert filter_bank(64, 2.0, 2) is fb
    with pytest.raises(ValueError):
        fb.scaling[0] = 0.5
