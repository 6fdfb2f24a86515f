"""The lensing experiment end to end at a tiny size, through its command: shear files -> two
spin-2 scattering caches -> every method -> metrics.json, report and figures."""

from __future__ import annotations

import json

import pytest

from tests.pipeline_helpers import run_cli

pytestmark = pytest.mark.cli


def test_reproduce_lensing_writes_the_table_and_the_figures(tmp_path):
    out = tmp_path / "results"
    result = run_cli("scatter-reproduce-lensing", "--quick", "--n-per-class", "30", "--seeds", "2", "--epochs", "2",
                     "--data", str(tmp_path / "data"), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["maps"] == {"train": 36, "val": 12, "test": 12}
    assert metrics["channels"]["modulus"] == {"E": 1, "B": 1, "G1+iG2": 10}
    assert metrics["channels"]["eb"] == {"E": 21, "B": 21}
    assert set(metrics["accuracy"]) == {"0.4", "0.8"}
    for table in metrics["accuracy"].values():
        for method in ("scattering_cnn", "scattering_mlp", "scattering_cnn_modulus", "scattering_mlp_modulus"):
            row = table[method]
            assert row["n_test"] == 12 and len(row["accuracy_seeds"]) == 2 and 0 <= row["accuracy"] <= 1
        for method in ("scattering_linear", "scattering_linear_modulus", "shear_spectra", "convergence_moments"):
            assert table[method]["n_test"] == 12 and table[method]["penalty"] > 0
    assert len(metrics["accuracy_vs_shift"]) == 2 * 8
    for name in ("report.md", "accuracy.png", "examples.png", "spectra.png"):
        assert (out / name).is_file()
    assert "| shear power spectrum C_l^EE + logistic regression |" in (out / "report.md").read_text()


def test_bad_experiment_options_are_one_line_errors(tmp_path):
    result = run_cli("scatter-reproduce-lensing", "--seeds", "0", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: n_seeds must be a positive integer, got 0"
    assert not (tmp_path / "d").exists()
