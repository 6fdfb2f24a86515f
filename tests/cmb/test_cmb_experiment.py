"""The CMB benchmark's whole code path (what `make reproduce-cmb` runs) on a tiny configuration:
maps on disk -> one cache of the sweep and the map statistics -> every method at every f ->
f95, report; what an interrupted run keeps (finished trainings, computed statistics); and (slow)
a rerun gives the same metrics, with the finished trainings read back and retrained."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from downstream.cmb.experiment import CMBExperiment, run
from downstream.cmb.methods import CLASSICAL, LEARNED, RESULT_FIELDS, job_keys, run_learned

REQUIRED = ("scattering_cnn", "scattering_mlp", "scattering_cnn_modulus", "scattering_mlp_modulus", "lowres_cnn",
            "power_spectrum", "skewness", "kurtosis", "band_moments", "minkowski", "optimal_cubic")


def _stable(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k not in ("seconds", "training_seconds", "trainings")}
    return json.loads(json.dumps(out, default=float))


def _tiny(tmp_path) -> CMBExperiment:
    return CMBExperiment(L=32, n_per_class=24, f_values=(0.5, 1.0), n_seeds=2, J0=2, epochs=1, bootstrap=20, workers=2,
                         data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "results"))


@pytest.mark.slow
def test_tiny_benchmark_rerun_gives_the_same_metrics(tmp_path):
    exp = _tiny(tmp_path)
    first = run(exp, progress=False)
    (training,) = (tmp_path / "data").glob("*.zarr.training")
    assert len(list(training.glob("*.npz"))) == len(LEARNED) * exp.n_seeds * len(exp.f_values)
    second = run(exp, progress=False)  # reuses maps, cache, statistics and the finished trainings
    assert _stable(second) == _stable(first)
    shutil.rmtree(training)
    third = run(exp, progress=False)  # retrains from the same seeds
    assert _stable(third) == _stable(first)


@pytest.fixture(scope="module")
def cut_sky_run(tmp_path_factory) -> tuple[CMBExperiment, dict]:
    """The tiny benchmark on the full and the cut sky, run once for the tests below."""
    from downstream.cmb.cut_sky import CutSky

    exp = replace(_tiny(tmp_path_factory.mktemp("cmb")), L=64, J0=3, cut_sky=CutSky(cut_deg=10.0, n_holes=3, hole_deg=5.0, seed=7))
    return exp, run(exp, progress=False)


def test_tiny_benchmark_end_to_end_on_full_and_cut_sky(cut_sky_run):
    """Every method at every f on the full sky; then the same maps scattered through the mask and the
    cut-sky methods reported next to their full-sky curves."""
    from downstream.cmb.cut_sky import CUT_SKY_CLASSICAL, CUT_SKY_LEARNED

    exp, _ = cut_sky_run
    out = Path(exp.out_dir)
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
    assert all(len(r["val_accuracy_seeds"]) == 2 and r["val_accuracy"] == pytest.approx(np.mean(r["val_accuracy_seeds"]))
               for r in rows if r["method"] in LEARNED)
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


def test_networks_on_a_masked_cache_drop_augmentation_input_means_and_head_normalisation():
    from downstream.cmb.methods import train_config

    for method in LEARNED:
        full, cut = train_config(method, 0, 5, 16), train_config(method, 0, 5, 16, masked=True)
        assert full.head_norm and full.input_means == full.augment == (full.model == "cnn")
        assert not (cut.head_norm or cut.input_means or cut.augment)
        assert full.to_dict() | {"augment": False, "input_means": False, "head_norm": False} == cut.to_dict()


def test_finished_trainings_are_kept_and_read_back(cut_sky_run):
    """Each learned job's result is stored by a key of everything it depends on; a rerun reads it
    back instead of training (here a record altered on disk is what comes back), and a job that
    differs in anything (here the number of epochs) is not matched."""
    from downstream.cmb.sweep_data import sweep_maps
    from downstream.train.job_store import JobStore

    exp, metrics = cut_sky_run
    for cache, methods in ((metrics["cache"], LEARNED), (metrics["cut_sky"]["cache"], metrics["cut_sky"]["f95"])):
        stored = sorted(Path(f"{cache}.training").glob("*.npz"))
        assert len(stored) == len(set(methods) & set(LEARNED)) * exp.n_seeds * len(exp.f_values)
    cache = metrics["cache"]
    job = ("scattering_mlp", 0, exp.f_values[0], sweep_maps(cache).pair(exp.f_values[0]))
    store, key = JobStore(f"{cache}.training"), job_keys(cache, [job], exp.epochs)[job[:3]]
    record = store.load(key, RESULT_FIELDS)
    assert record is not None
    store.save(key, record | {"predicted": 1 - record["predicted"]})
    try:
        (read_back,) = run_learned(cache, [job], exp.epochs, 1, progress=False).values()
    finally:
        store.save(key, record)
    assert read_back["read_back"] and np.array_equal(read_back["predicted"], 1 - record["predicted"])
    assert job_keys(cache, [job], exp.epochs + 1)[job[:3]] != key


def test_a_rerun_reads_every_training_back_and_reports_the_same(cut_sky_run):
    exp, first = cut_sky_run
    second = run(exp, progress=False)
    for metrics in (second, second["cut_sky"]):
        assert metrics["trainings"]["read_back"] == metrics["trainings"]["jobs"] > 0
    assert _stable(second) == _stable(first) | {"cut_sky": _stable(second)["cut_sky"]}
    assert {k: v for k, v in second["cut_sky"].items() if k not in ("training_seconds", "trainings")} == \
        {k: v for k, v in first["cut_sky"].items() if k not in ("training_seconds", "trainings")}
    assert "trainings were read back from an earlier run" in (Path(exp.out_dir) / "report.md").read_text()


def test_statistics_computed_before_a_failure_are_kept(cut_sky_run, tmp_path):
    """A map that cannot be read stops the statistics; those already computed are on disk, and the
    rerun computes only what is missing, to the same values."""
    from downstream.cmb.sweep_data import map_statistics_table, sweep_maps
    from pipeline.errors import InputError

    exp, metrics = cut_sky_run
    cache = metrics["cache"]
    store = Path(f"{cache}.statistics.npz")
    complete = map_statistics_table(cache, exp.scattering(), 1, progress=False)
    store.unlink()
    last = Path(sweep_maps(cache).sources[-1])  # in the last chunk of 16 maps
    hidden = tmp_path / last.name
    shutil.move(last, hidden)
    try:
        with pytest.raises(InputError):
            map_statistics_table(cache, exp.scattering(), 1, progress=False)
    finally:
        shutil.move(hidden, last)
    with np.load(store) as saved:
        assert 16 <= len(saved["sources"]) < len(complete["skewness"]) and str(last) not in set(saved["sources"])
    again = map_statistics_table(cache, exp.scattering(), 1, progress=False)
    assert all(np.array_equal(again[name], complete[name], equal_nan=True) for name in complete)


def test_the_report_says_which_trainings_collapsed_and_what_was_kept():
    from downstream.cmb.report import _restarts

    trainings = {"jobs": 12, "restarted": [
        {"method": "scattering_cnn", "seed": 0, "f": 0.001, "kept": 1, "val_losses": [0.69, 0.60], "collapsed": [True, False]},
        {"method": "lowres_cnn", "seed": 1, "f": 0.002, "kept": 0, "val_losses": [0.69, 0.70, 0.71], "collapsed": [True, True, True]}]}
    text = _restarts(trainings)
    assert "2 of the 12 trainings" in text
    assert "`scattering_cnn` seed 0 f = 0.001: 2 initialisations, one kept that did not collapse" in text
    assert "`lowres_cnn` seed 1 f = 0.002: 3 initialisations, all collapsed" in text
    assert _restarts({"jobs": 12}) == ""  # metrics written before restarts existed
