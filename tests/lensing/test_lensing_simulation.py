"""The Gaussian vs lognormal shear maps (docs/lensing-experiment.md): Kaiser-Squires exactness and
sign, equal spectra, the lognormal moments, the files, and the classical statistics.

Statistical checks are hypothesis tests at family-wise significance ALPHA with fixed seeds (so
deterministic); thresholds come from the number of maps (standard errors), never tuned.
"""

import csv
import json
from collections import Counter

import ducc0
import numpy as np
import pytest
from scipy import stats
from scipy.special import eval_legendre, roots_legendre, sph_harm_y

from downstream.lensing.statistics import (
    MOMENTS,
    convergence_moments,
    feature_table,
    map_features,
    read_shear,
    shear_eb,
    shear_spectra,
)
from pipeline.cmb.plan import assign_splits
from pipeline.cmb.simulation import gaussian_alm
from pipeline.cmb.spectra import correlation_function, legendre_spectrum, product_quadrature_order
from pipeline.errors import InputError
from pipeline.lensing.dataset import SIDECAR, SPLITS, LensingDatasetConfig, generate_dataset, plan_maps
from pipeline.lensing.simulation import (
    GAUSSIAN,
    LOGNORMAL,
    convergence_alm,
    kaiser_squires_convergence,
    kaiser_squires_shear,
    lognormal_alm,
    lognormal_grid_shape,
    shear_filter,
    shear_maps,
)
from pipeline.lensing.spectra import LognormalModel, lensing_spectra, lognormal_skewness
from pipeline.sphere.alm import alm_index, l_of_index, m_of_index, n_alm, power_spectrum
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import analyse, ring_grid_analysis, ring_grid_synthesis, synthesise

ALPHA = 1e-3
L = 64
N_MAPS = 1000


def bonferroni_z(n_tests: int) -> float:
    """Two-sided z threshold with family-wise error ALPHA over n_tests z-scores (any correlation)."""
    return stats.norm.isf(ALPHA / (2 * n_tests))


def random_kappa(L: int, rng) -> np.ndarray:
    """A real-field convergence with l >= 2 and a red spectrum."""
    ell = l_of_index(L)
    alm = (rng.standard_normal(n_alm(L)) + 1j * rng.standard_normal(n_alm(L))) / (1.0 + ell)
    alm[m_of_index(L) == 0] = alm[m_of_index(L) == 0].real
    alm[ell < 2] = 0
    return alm


def point_synthesis(alm: np.ndarray, L: int, theta: float, phi: float, spin: int = 0) -> np.ndarray:
    """The field (spin 0) or its two components (spin 2) at one direction."""
    geometry = dict(theta=np.array([theta]), nphi=np.array([1], dtype=np.uint64), phi0=np.array([phi]),
                    ringstart=np.array([0], dtype=np.uint64))
    return ducc0.sht.synthesis(alm=np.atleast_2d(alm), lmax=L - 1, spin=spin, **geometry)[:, 0]


# --- Kaiser-Squires ---------------------------------------------------------------------------


def test_kaiser_squires_round_trip_is_exact_and_curl_free(rng):
    kappa = random_kappa(L, rng)
    shear = shear_maps(kappa, L)
    eb = analyse(shear, RingGrid.for_bandlimit("gl", L), L, spin=2)[0]
    back = kaiser_squires_convergence(eb, L)
    assert np.abs(back - kappa).max() <= 1e-12 * np.abs(kappa).max()
    assert np.abs(eb[1]).max() <= 1e-13 * np.abs(eb[0]).max()
    ell = np.arange(2, L)
    np.testing.assert_allclose(shear_filter(L)[2:], np.sqrt((ell + 2) * (ell - 1) / (ell * (ell + 1))), rtol=1e-15)
    assert np.all(kaiser_squires_shear(kappa, L)[1] == 0)


def test_shear_is_half_eth_eth_of_the_potential(rng):
    """gamma = (1/2) eth eth psi with kappa = (1/2) laplacian psi, by finite differences of psi in
    the frame (e_theta, e_phi): gamma1 = (psi_tt - cot psi_t - psi_pp / sin^2) / 2,
    gamma2 = (psi_tp - cot psi_p) / sin. This fixes E = +f_l kappa in ducc0's convention."""
    Ls = 24
    kappa = random_kappa(Ls, rng)
    ell = l_of_index(Ls)
    psi = np.where(ell >= 2, -2.0 * kappa / np.maximum(ell * (ell + 1.0), 1.0), 0)
    h = 1e-4
    for theta, phi in ((1.1, 0.4), (np.pi / 2, 2.0), (2.3, 5.1)):
        p = {(i, j): point_synthesis(psi, Ls, theta + i * h, phi + j * h)[0] for i in (-1, 0, 1) for j in (-1, 0, 1)}
        p_t, p_p = (p[1, 0] - p[-1, 0]) / (2 * h), (p[0, 1] - p[0, -1]) / (2 * h)
        p_tt, p_pp = (p[1, 0] - 2 * p[0, 0] + p[-1, 0]) / h**2, (p[0, 1] - 2 * p[0, 0] + p[0, -1]) / h**2
        p_tp = (p[1, 1] - p[1, -1] - p[-1, 1] + p[-1, -1]) / (4 * h * h)
        sin, cot = np.sin(theta), 1 / np.tan(theta)
        expected = np.array([(p_tt - cot * p_t - p_pp / sin**2) / 2, (p_tp - cot * p_p) / sin])
        got = point_synthesis(kaiser_squires_shear(kappa, Ls), Ls, theta, phi, spin=2)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_positive_peak_has_positive_tangential_shear():
    """An axisymmetric positive bump at the north pole: gamma_t = -Re(gamma_c e^(-2i phi)) > 0
    around it, gamma_c the shear in the tangent plane's Cartesian frame (x along phi = 0), where
    the local frame (e_theta, e_phi) is rotated by phi, gamma_c = (g1 + i g2) e^(2i phi). On the
    sphere exactly: gamma_t(theta) = cos(theta) / (pi sin^2 theta) M(theta) - kappa(theta), M the
    integral of kappa over the cap of radius theta (from kappa = (1/2) eth-bar eth psi)."""
    width = 0.15
    ell = np.arange(L)
    kappa_l0 = np.where(ell >= 2, np.sqrt((2 * ell + 1) / (4 * np.pi)) * np.exp(-ell * (ell + 1) * width**2 / 2), 0)
    kappa = np.zeros(n_alm(L), dtype=np.complex128)
    kappa[alm_index(L, ell, 0)] = kappa_l0
    g1, g2 = shear_maps(kappa, L)
    theta = ducc0.misc.GL_thetas(L)[:, None]
    phi = 2 * np.pi * np.arange(2 * L - 1) / (2 * L - 1)
    gamma_c = (g1 + 1j * g2) * np.exp(2j * phi)
    gamma_t = -(gamma_c * np.exp(-2j * phi)).real
    x = np.cos(theta)
    norm = np.sqrt((2 * ell + 1) / (4 * np.pi))
    profile = sum(kappa_l0[l] * norm[l] * eval_legendre(l, x) for l in range(2, L))
    cap = sum(2 * np.pi * kappa_l0[l] * norm[l] * (eval_legendre(l - 1, x) - eval_legendre(l + 1, x)) / (2 * l + 1)
              for l in range(2, L))
    expected = np.broadcast_to(x / (np.pi * np.sin(theta) ** 2) * cap - profile, gamma_t.shape)
    np.testing.assert_allclose(gamma_t, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    assert np.abs(g2).max() < 1e-13 * np.abs(g1).max()
    assert np.all(gamma_t[theta[:, 0] < 3 * width] > 0)


# --- the two classes: equal spectra, lognormal moments ----------------------------------------


@pytest.fixture(scope="module")
def kappas() -> dict[int, np.ndarray]:
    """N_MAPS convergence maps (coefficients) of each class at bandlimit L."""
    s = lensing_spectra(L)
    return {label: np.array([convergence_alm(s, label, 1000 * label + i) for i in range(N_MAPS)])
            for label in (GAUSSIAN, LOGNORMAL)}


@pytest.mark.parametrize("label", [GAUSSIAN, LOGNORMAL])
def test_classes_have_the_expected_spectrum(kappas, label):
    """Mean band power of N_MAPS maps against C_l^kappa in 8 l-bands, in units of the measured
    standard error (the lognormal C_l estimator has a connected 4-point part, so it is measured).
    Resolution: lambda^2 C_l^g in place of C_l^kappa (0.6-2 % low) misses by up to ~13 standard errors."""
    s = lensing_spectra(L)
    edges = np.linspace(2, L, 9).round().astype(int)
    weight = 2 * np.arange(L) + 1.0

    def bands(cl):
        return np.stack([(cl[..., a:b] * weight[a:b]).sum(-1) / weight[a:b].sum() for a, b in zip(edges[:-1], edges[1:])], -1)

    measured = bands(power_spectrum(kappas[label], L))
    z = (measured.mean(0) - bands(s.cl_kappa)) / (measured.std(0, ddof=1) / np.sqrt(N_MAPS))
    assert np.abs(z).max() < bonferroni_z(len(z)), z
    assert np.all(power_spectrum(kappas[label], L)[:, :2] == 0)


def test_lognormal_projection_has_negligible_aliasing(rng):
    """exp(g) formed on the 3L x 6L grid and projected to l < L agrees with a 6L x 12L grid to
    < 1e-7 relative: the aliasing is far below any spectrum's standard error."""
    s = lensing_spectra(L)
    g = gaussian_alm(s.cl_g, rng)
    ours = lognormal_alm(g, s)
    fine = ring_grid_synthesis(g, L, 6 * L, 12 * L)
    reference = ring_grid_analysis(s.shift * np.expm1(fine - s.sigma_g2 / 2), L) * (l_of_index(L) >= 2)
    assert np.abs(ours - reference).max() < 1e-7 * np.abs(reference).max()
    assert lognormal_grid_shape(L)[0] == 3 * L and lognormal_grid_shape(L)[1] >= 6 * L


def test_unprojected_lognormal_moments_are_the_analytic_ones():
    """On the grid, before projection, kappa = lambda (exp(g - sigma^2/2) - 1) has <kappa^2> =
    lambda^2 (e^s - 1) and <kappa^3> = lambda^3 (e^s - 1)^2 (e^s + 2), s = sigma_g^2 (exact: the
    area mean of an isotropic field's pixels is unbiased), so its skewness is lognormal_skewness(s)."""
    s = lensing_spectra(L)
    shape = lognormal_grid_shape(L)
    w = ducc0.misc.GL_weights(*shape)[:, None] / (4 * np.pi)
    m = []
    for i in range(100):
        g = ring_grid_synthesis(gaussian_alm(s.cl_g, np.random.default_rng(5000 + i)), L, *shape)
        k = s.shift * np.expm1(g - s.sigma_g2 / 2)
        m.append([(w * k**2).sum(), (w * k**3).sum()])
    m = np.array(m)
    e = np.exp(s.sigma_g2)
    expected = np.array([s.shift**2 * (e - 1), s.shift**3 * (e - 1) ** 2 * (e + 2)])
    z = (m.mean(0) - expected) / (m.std(0, ddof=1) / np.sqrt(len(m)))
    assert np.abs(z).max() < bonferroni_z(2), z
    assert expected[1] / expected[0] ** 1.5 == pytest.approx(lognormal_skewness(s.sigma_g2), rel=1e-12)


def tree_level_third_moment(s) -> float:
    """<kappa_P^3> of the kept lognormal field (2 <= l < L) to leading order: (3 / lambda) times
    the (2 <= l < L)-projection at zero lag of xi_P^2, xi_P the kept field's correlation function
    (exact Gauss-Legendre quadrature); the neglected loop term is ~ (e^s - 1)/3 of it."""
    mu, weights = roots_legendre(product_quadrature_order(s.L))
    t = legendre_spectrum(correlation_function(s.cl_kappa, mu) ** 2, mu, weights, s.L)
    ell = np.arange(2, s.L)
    return 3.0 / s.shift * float(np.sum((2 * ell + 1) * t[2:]) / (4 * np.pi))


def test_kept_lognormal_field_is_skewed_as_predicted(kappas):
    """Area-weighted moments of the kept maps (exact quadrature, 2L x 4L): <k^2> equals the
    variance of C_l^kappa; <k^3> equals the tree-level prediction within the standard error plus
    the estimated loop term; the Gaussian class has zero third moment; the lognormal skewness is
    positive (one-sided Welch test against the Gaussian class)."""
    s = lensing_spectra(L)
    w = ducc0.misc.GL_weights(2 * L, 4 * L)[:, None] / (4 * np.pi)
    moments = {}
    for label, alms in kappas.items():
        maps = [ring_grid_synthesis(a, L, 2 * L, 4 * L) for a in alms]
        moments[label] = np.array([[(w * k**2).sum(), (w * k**3).sum()] for k in maps])
    z_threshold = bonferroni_z(5)
    for label in (GAUSSIAN, LOGNORMAL):
        m2 = moments[label][:, 0]
        assert abs(m2.mean() - s.sigma_kappa2) < z_threshold * m2.std(ddof=1) / np.sqrt(N_MAPS)
    m3g, m3 = moments[GAUSSIAN][:, 1], moments[LOGNORMAL][:, 1]
    assert abs(m3g.mean()) < z_threshold * m3g.std(ddof=1) / np.sqrt(N_MAPS)
    tree = tree_level_third_moment(s)
    loop = (np.exp(s.sigma_g2) - 1) / 3 * tree
    assert abs(m3.mean() - tree) < z_threshold * m3.std(ddof=1) / np.sqrt(N_MAPS) + loop
    skew = {label: moments[label][:, 1] / moments[label][:, 0] ** 1.5 for label in moments}
    assert stats.ttest_ind(skew[LOGNORMAL], skew[GAUSSIAN], equal_var=False, alternative="greater").pvalue < ALPHA
    assert 0 < skew[LOGNORMAL].mean() < lognormal_skewness(s.sigma_g2)


def test_seeds_determine_maps():
    s = lensing_spectra(16)
    for label in (GAUSSIAN, LOGNORMAL):
        a = convergence_alm(s, label, 12345)
        assert np.array_equal(a, convergence_alm(s, label, 12345))
        assert not np.allclose(a, convergence_alm(s, label, 12346))
    with pytest.raises(ValueError, match="label"):
        convergence_alm(s, 2, 1)
    with pytest.raises(InputError, match="shift"):
        LognormalModel(shift=0.0)


# --- files -----------------------------------------------------------------------------------


def read_manifest(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_dataset_files_sidecars_manifest_and_resume(tmp_path):
    config = LensingDatasetConfig(L=16, n_per_class=5, seed=3)
    manifest = generate_dataset(config, tmp_path, scheduler="synchronous")
    assert manifest.name == "manifest_lensing_L16_n5_seed3.csv"
    rows = read_manifest(manifest)
    assert list(rows[0]) == ["path", "label", "split", "seed"] and len(rows) == 10
    assert Counter((r["label"], r["split"]) for r in rows) == {
        (label, split): n for label in ("0", "1") for split, n in (("train", 3), ("val", 1), ("test", 1))}
    s = lensing_spectra(16)
    for row in rows:
        path = tmp_path / row["path"]
        values = np.load(path)
        assert values.shape == (2, 16, 31) and values.dtype == np.float64
        assert np.array_equal(values, shear_maps(convergence_alm(s, int(row["label"]), int(row["seed"])), 16))
        assert json.loads(path.with_suffix(".json").read_text()) == {"grid": "gl", "fields": ["G1", "G2"], "pol_convention": "COSMO"}
        record = json.loads(path.with_name(path.stem + ".provenance.json").read_text())
        assert record["seed"] == int(row["seed"]) and record["label"] == int(row["label"]) and record["L"] == 16
        assert record["model"] == {"amplitude": 0.005, "slope": 1.0, "l_cut": 128.0, "shift": 0.05}
        assert {"software", "seconds", "method_version", "class"} <= set(record)
    assert SIDECAR == {"grid": "gl", "fields": ["G1", "G2"], "pol_convention": "COSMO"}
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.provenance.json")}
    (tmp_path / rows[0]["path"]).with_name(rows[0]["path"].removesuffix(".npy") + ".provenance.json").unlink()
    generate_dataset(config, tmp_path, scheduler="synchronous")
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.provenance.json")}
    changed = {name for name in stamps if after[name] != stamps[name]}
    assert changed == {rows[0]["path"].removesuffix(".npy") + ".provenance.json"}
    other = LensingDatasetConfig(L=16, n_per_class=5, seed=3, model=LognormalModel(shift=0.03))
    with pytest.raises(InputError, match="other settings"):
        generate_dataset(other, tmp_path, scheduler="synchronous")
    generate_dataset(other, tmp_path, scheduler="synchronous", overwrite=True)
    assert json.loads(next(tmp_path.glob("*.provenance.json")).read_text())["model"]["shift"] == 0.03


def test_splits_are_balanced_and_deterministic():
    specs = [s for s in plan_maps(LensingDatasetConfig(L=16, n_per_class=100)) if s.label == GAUSSIAN]
    seeds = [s.seed for s in specs]
    splits = assign_splits(seeds, SPLITS)
    assert [splits[i] for i in np.argsort(seeds)] == ["train"] * 60 + ["val"] * 20 + ["test"] * 20


# --- statistics against slow independent computations ----------------------------------------


def explicit_field(alm: np.ndarray, Ls: int, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """sum_lm a_lm Y_lm by explicit loops over (l, m) with scipy's Y_lm (real field, m >= 0 stored)."""
    t, p = np.meshgrid(theta, phi, indexing="ij")
    out = np.zeros(t.shape)
    for l in range(Ls):
        for m in range(l + 1):
            term = alm[alm_index(Ls, l, m)] * sph_harm_y(l, m, t, p)
            out += term.real if m == 0 else 2 * term.real
    return out


def explicit_moments(values: np.ndarray, ring_weights: np.ndarray) -> list[float]:
    w = np.broadcast_to(ring_weights[:, None], values.shape)
    mean = np.average(values, weights=w)
    m2, m3, m4 = (np.average((values - mean) ** k, weights=w) for k in (2, 3, 4))
    return [m3 / m2**1.5, m4 / m2**2 - 3]


def test_statistics_match_explicit_computations(rng):
    Ls = 12
    s = lensing_spectra(Ls)
    kappa = convergence_alm(s, LOGNORMAL, 77)
    features = map_features(shear_maps(kappa, Ls))
    x, ring_weights = np.polynomial.legendre.leggauss(2 * Ls + 3)
    theta, phi = np.arccos(x), 2 * np.pi * np.arange(4 * Ls + 5) / (4 * Ls + 5)
    ell = l_of_index(Ls)
    smooth = np.exp(-ell * (ell + 1) / (2 * (Ls / 4) ** 2))
    expected = []
    for filt in (1.0, smooth, 1.0 - smooth):
        expected += explicit_moments(explicit_field(kappa * filt, Ls, theta, phi), ring_weights)
    np.testing.assert_allclose(features["moments"], expected, rtol=1e-9, atol=1e-12)
    assert len(MOMENTS) == len(expected)
    eb = np.stack([random_kappa(Ls, rng), random_kappa(Ls, rng)])
    cl = shear_spectra(shear_eb(synthesise(eb, RingGrid.for_bandlimit("gl", Ls), Ls, spin=2)), Ls)
    for c in range(2):
        for l in range(Ls):
            power = sum((1 if m == 0 else 2) * abs(eb[c, alm_index(Ls, l, m)]) ** 2 for m in range(l + 1))
            assert cl[c, l] == pytest.approx(power / (2 * l + 1), rel=1e-12, abs=1e-30)
    assert np.allclose(features["cl_bb"], 0, atol=1e-28)
    assert np.array_equal(convergence_moments(eb, Ls), convergence_moments(eb * [[1], [0]], Ls))  # B is ignored


def test_feature_table_reads_the_files(tmp_path):
    manifest = generate_dataset(LensingDatasetConfig(L=12, n_per_class=2, seed=1), tmp_path, scheduler="synchronous")
    paths = [tmp_path / row["path"] for row in read_manifest(manifest)]
    table = feature_table(paths)
    assert table["cl_ee"].shape == (4, 12) and table["cl_bb"].shape == (4, 12) and table["moments"].shape == (4, len(MOMENTS))
    np.testing.assert_array_equal(table["moments"][1], map_features(read_shear(paths[1]))["moments"])
