"""The CMB benchmark's whole code path (what `make reproduce-cmb` runs) on a tiny configuration:
maps on disk -> one cache of the sweep and the map statistics -> every method at every f ->
f95, report; and (slow) a rerun gives the same metrics."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from downstream.cmb.experiment import CMBExperiment, run
from downstream.cmb.methods import CLASSICAL, LEARNED

REQUIRED = ("scattering_cnn", "scattering_mlp", "scattering_cnn_modulus", "scattering_mlp_modulus", "lowres_cnn",
            "power_spectrum", "skewness", "kurtosis", "band_moments", "minkowski", "optimal_cubic")


def _stable(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k not in ("seconds", "training_seconds")}
    return json.loads(json.dumps(out, default=float))


def _tiny(tmp_path) -> CMBExperiment:
    return CMBExperiment(L=32, n_per_class=24, f_values=(0.5, 1.0), n_seeds=2, J0=2, epochs=1, bootstrap=20, workers=2,
                         data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "results"))


@pytest.mark.slow
def test_tiny_benchmark_rerun_gives_the_same_metrics(tmp_path):
    exp = _tiny(tmp_path)
    first = run(exp, progress=False)
    second = run(exp, progress=False)  # reuses maps, cache and statistics; retrains from the same seeds
    assert _stable(second) == _stable(first)


def test_tiny_benchmark_end_to_end_on_full_and_cut_sky(tmp_path):
    """Every method at every f on the full sky; then the same maps scattered through the mask and the
    cut-sky methods reported next to their full-sky curves."""
    from downstream.cmb.cut_sky import CUT_SKY_CLASSICAL, CUT_SKY_LEARNED, CutSky

    exp = replace(_tiny(tmp_path), L=64, J0=3, cut_sky=CutSky(cut_deg=10.0, n_holes=3, hole_deg=5.0, seed=7))
    run(exp, progress=False)
    out = tmp_path / "results"
    for name in ("report.md", "metrics.json", "example_maps.png", "scattering_maps.png", "accuracy_vs_f.png",
                 "accuracy_vs_f_cut_sky.png"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "metrics.json").read_text())
    assert set(REQUIRED) <= set(saved["f95"]) == set(LEARNED) | set(CLASSICAL)
    assert all(set(v) == {"f95", "low", "high"} for v in saved["f95"].values())
    rows = saved["accuracy_vs_f"]
    assert {(r["method"], r["f"]) for r in rows} == {(m, f) for m in saved["f95"] for f in exp.f_values}
    assert all(r["n_test"] == 6 for r in rows)  # 3 test maps per class (15 % of 24), the same at every f
    assert all(r["n_seeds"] == (2 if r["method"] in LEARNED else 1) for r in rows)
    assert saved["maps"] == {"gaussian": 24, "non_gaussian_per_f": 24, "split_per_class": {"train": 17, "val": 4, "test": 3}}
    sky = saved["cut_sky"]
    assert set(sky["f95"]) == set(CUT_SKY_LEARNED) | set(CUT_SKY_CLASSICAL)
    assert {(r["method"], r["f"]) for r in sky["accuracy_vs_f"]} == {(m, f) for m in sky["f95"] for f in exp.f_values}
    assert all(r["n_test"] == 6 for r in sky["accuracy_vs_f"])
    assert sky["mask"]["cut_deg"] == 10.0 and 0.7 < sky["mask"]["observed_fraction"] < 0.85  # 1 - sin 10 deg - holes
    assert sky["cache"] != saved["cache"]
    report = (out / "report.md").read_text()
    assert "f95" in report and "Planck 2018 measured f_NL^local = -0.9 +- 5.1" in report and "`optimal_cubic`" in report
    assert "## Full sky and cut sky side by side" in report and "f95 cut sky" in report


def test_a_cut_sky_needs_a_grid_with_quadrature_weights(tmp_path):
    from downstream.cmb.cut_sky import CutSky
    from pipeline.errors import InputError

    with pytest.raises(InputError, match=r"^a cut sky needs maps on a grid with quadrature weights \(gl or healpix\), not 'mw'$"):
        replace(_tiny(tmp_path), grid="mw", cut_sky=CutSky())
