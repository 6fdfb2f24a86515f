"""Fast checks of the benchmark scripts' own logic (no peers environment, no big maps)."""

import subprocess
import sys

import ducc0
import numpy as np
import pytest

from benchmarks import bench_peers, bench_scale
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.transform import ScatteringTransform
from pipeline.sphere.alm import n_alm
from pipeline.testing import random_alm, relative_error


def test_fit_exponent_recovers_a_power_law():
    L = np.array([256, 512, 1024, 2048])
    p, c = bench_scale.fit_exponent(L, 3e-9 * L**2.4)
    assert p == pytest.approx(2.4, abs=1e-12) and np.exp(c) == pytest.approx(3e-9, rel=1e-9)


def test_tree_sampler_sees_a_child_process_memory():
    child = "import numpy, time; a = numpy.ones(80 * 2**20 // 8); time.sleep(1.0)"
    process = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"])
    with bench_scale.TreeMemorySampler(process.pid, interval=0.02) as sampler:
        process.wait()
    _, worker_mb = sampler.largest()
    assert 80 <= worker_mb < 400
    assert sampler.peak_total / bench_scale.MB >= worker_mb


def test_scale_plot_is_written(tmp_path):
    rows = [{"L": L, "scattering_s": 1e-7 * L**2, "sht_pair_s": 1e-9 * L**3, "peak_memory_mb": 1e-4 * L**2,
             "input_map_mb": 2 * L * L * 8 / 2**20} for L in (256, 512, 1024)]
    fits = {key: dict(zip(("exponent", "log_prefactor"), bench_scale.fit_exponent(
        np.array([r["L"] for r in rows]), np.array([r[key] for r in rows])))) for key in ("scattering_s", "sht_pair_s", "peak_memory_mb")}
    bench_scale.plot({"J0": 5, "rows": rows, "fits": fits}, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_first_layer_statistics_are_mean_squares_of_the_wavelet_maps(rng):
    """P00_j (in s2wav's normalisation) is mean |W_j|^2 over the sphere: check by quadrature of our maps."""
    config = ScatteringConfig(L=32, J0=2)
    alm = random_alm(rng, 32)
    stats = bench_peers.first_layer_statistics(alm, config, ScatteringTransform(config))
    _, maps = bench_peers.our_wavelet_maps(alm, config)
    for p00, w in zip(stats["P00"], maps):
        weights = ducc0.misc.GL_weights(*w.shape)[:, None]
        mean_square = np.sum(weights * (bench_peers.WAVELET_FACTOR * w) ** 2) / (4 * np.pi)
        assert relative_error(p00, mean_square) < 1e-12
    assert np.all(stats["S1"] > 0)


def test_healpix_comparison_matches_each_tolerance_with_the_cheapest_iter(rng):
    healpy = pytest.importorskip("healpy")
    result = bench_peers.healpix(healpy, 8, (1e-3, 1e-8), 4, 1, rng)
    assert [r["epsilon"] for r in result["ours"]] == [1e-3, 1e-8]
    assert result["ours"][1]["error"] < 1e-6
    errors = [h["error"] for h in result["healpy"]]
    assert errors == sorted(errors, reverse=True)  # Jacobi iterations improve healpy's accuracy
    for row in result["ours"]:
        reached = [h["iter"] for h in result["healpy"] if h["error"] <= row["error"]]
        assert row["healpy_iter_matching"] == (reached[0] if reached else None)


def test_our_wavelet_transform_from_a_map_equals_the_one_from_coefficients(rng):
    from pipeline.sphere.grids import RingGrid
    from pipeline.sphere.harmonic import alm_to_map

    config = ScatteringConfig(L=24, J0=2)
    alm = random_alm(rng, 24)
    assert alm.shape == (n_alm(24),)
    sky = alm_to_map(alm, RingGrid.for_bandlimit("gl", 24), 24)
    scal_a, wav_a = bench_peers.our_wavelet_transform(sky, config)
    scal_b, wav_b = bench_peers.our_wavelet_maps(alm, config)
    assert relative_error(scal_a, scal_b) < 1e-12
    assert all(relative_error(a, b) < 1e-12 for a, b in zip(wav_a, wav_b))
    assert [w.shape for w in wav_a] == [(config.wavelet_bandlimit(j), 2 * config.wavelet_bandlimit(j) - 1)
                                        for j in range(config.J0, config.J + 1)]


def test_bench_pipeline_runs_and_reports_every_ratio(tmp_path):
    """Tiny run of benchmarks/bench_pipeline.py: one repeat, the JSON holds the ratios it prints."""
    import json

    out = tmp_path / "bench_pipeline.json"
    done = subprocess.run([sys.executable, "benchmarks/bench_pipeline.py", "--L", "32", "--maps", "4", "--repeats", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    (row,) = results["throughput"]
    assert [(w["L"], w["maps_per_write"]) for w in results["writer"]] == [(32, 1), (32, 4), (32, 16)]
    assert all(w["cpu_ms_per_map"] > 0 for w in results["writer"])
    (repeat,) = row["repeats"]
    assert row["L"] == 32 and row["maps"] == 4 and set(repeat["runs"]) == {"1", "2"}
    assert repeat["two_bare_processes_speedup"] == repeat["bare_transform_s_per_map"] / repeat["two_bare_processes_s_per_map"]
    two = repeat["runs"]["2"]
    assert two["speedup_vs_two_bare_processes"] == pytest.approx(two["speedup_vs_1_worker"] / repeat["two_bare_processes_speedup"])
    assert "the machine's ceiling for 2 workers" in done.stdout


def test_mask_geometry_rotates_as_ducc0_rotates_coefficients():
    """bench_masks rotates a mask's geometry by the matrix of the same Euler angles that
    ``rotate_alm`` applies to the map: a bump's map and its rotated direction agree."""
    from benchmarks.bench_masks import zyz_matrix
    from pipeline.sphere.grids import RingGrid
    from pipeline.sphere.harmonic import alm_to_map, map_to_alm
    from pipeline.sphere.masks import galactic_cut_and_holes, pixel_directions
    from pipeline.sphere.rotations import rotate_alm

    L = 64
    grid = RingGrid.for_bandlimit("gl", L)
    directions = pixel_directions(grid)
    centre = np.array([0.3, 0.5, 0.81]) / np.linalg.norm([0.3, 0.5, 0.81])
    bump = np.exp(5 * directions @ centre).reshape(grid.shape)
    angles = (0.4, 1.1, 2.3)
    rotated = alm_to_map(rotate_alm(map_to_alm(bump, grid, L).alm, L, angles), grid, L)
    expected = np.exp(5 * directions @ (zyz_matrix(angles) @ centre)).reshape(grid.shape)
    assert np.abs(rotated - expected).max() < 1e-12 * np.abs(expected).max()
    mask = galactic_cut_and_holes(directions, centre[None], 20.0, 3.0)
    assert mask[np.argmax(directions @ centre)] == 0 and mask[np.argmax(directions[:, 2])] == 1


def test_synthesis_floor_covers_every_wavelet_coefficient_once():
    from benchmarks import bench_scattering

    st = ScatteringTransform(ScatteringConfig(L=64, J0=3))
    rows = bench_scattering.synthesis_floor(st, random_alm(np.random.default_rng(0), 64), 1, 1)
    assert [r["scale"] for r in rows] == [p.scale for p in st.plan.passes]
    assert sum(r["n_W"] for r in rows) == len(st.plan.nodes) - 1  # every node but the input
    assert all(r["synthesis_s"] > 0 and r["grid"][0] >= r["L_wavelet"] for r in rows)


def test_the_resampled_floor_times_the_pieces_of_a_real_synthesis():
    """Legendre synthesis on L Fejer rings then ring FFTs (the calls the floor times) is ducc0's
    synthesis on that grid; every pass of the plan gets a floor."""
    import ducc0

    from benchmarks import bench_scattering

    L, nphi = 64, 130
    alm = random_alm(np.random.default_rng(1), L)
    leg = ducc0.sht.experimental.alm2leg(alm=alm[None], lmax=L - 1, theta=bench_scattering._fejer_thetas(L))
    pieces = ducc0.sht.experimental.leg2map(leg=leg, **bench_scattering._ring_geometry(L, nphi))
    direct = ducc0.sht.experimental.synthesis_2d(alm=alm[None], spin=0, lmax=L - 1, geometry="F1", ntheta=L, nphi=nphi)
    np.testing.assert_allclose(pieces.reshape(direct.shape), direct, atol=1e-12 * np.abs(direct).max())
    st = ScatteringTransform(ScatteringConfig(L=L, J0=3))
    for grid_pass, row in zip(st.plan.passes, bench_scattering.synthesis_floor(st, alm, 1, 1)):
        assert min(bench_scattering.resampled_floor(grid_pass, row["outputs_L"], st, alm, 1, 1).values()) > 0
