"""The CMB experiment's whole code path (what `make reproduce-cmb` runs) on a tiny configuration:
maps on disk -> scatter-preprocess -> cache -> models -> report; and a rerun gives the same metrics."""

from __future__ import annotations

import json

from downstream.cmb.experiment import CMBExperiment, run


def _stable(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k != "seconds"}
    out["models"] = {name: {k: v for k, v in m.items() if k != "history"} for name, m in metrics["models"].items()}
    return json.loads(json.dumps(out, default=float))


def test_tiny_experiment_end_to_end_and_deterministic(tmp_path):
    exp = CMBExperiment(L=32, n_per_class=24, f=0.5, f_sweep=(1.0,), n_sweep_per_class=12, J0=2, epochs=3, workers=2,
                        data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "results"))
    first = run(exp, progress=False)
    out = tmp_path / "results"
    for name in ("report.md", "metrics.json", "example_maps.png", "power_spectra.png", "scattering_maps.png",
                 "learning_curves.png", "confusion.png", "accuracy_vs_f.png"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "f = 0.5" in report and "| Power spectrum (all l < L) + logistic regression |" in report
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["models"]["scattering_cnn"]["test"]["n"] == first["models"]["power_spectrum"]["test"]["n"] > 0
    second = run(exp, progress=False)  # reuses the maps and the cache, retrains from the same seeds
    assert _stable(second) == _stable(first)
