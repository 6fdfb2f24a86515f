"""The digits experiment end to end at a tiny size, through its command: files -> cache ->
every method trained upright and rotated -> metrics.json, report and figures."""

from __future__ import annotations

import json

import pytest

from tests.pipeline_helpers import run_cli

pytestmark = pytest.mark.cli


def test_reproduce_digits_writes_the_table_the_agreement_and_the_figures(tmp_path):
    out = tmp_path / "results"
    result = run_cli("scatter-reproduce-digits", "--quick", "--n-digits", "50", "--seeds", "2", "--epochs", "2",
                     "--data", str(tmp_path / "data"), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == {"train": 30, "val": 10, "test": 10}
    for method in ("scattering_cnn", "scattering_mlp", "planar_cnn", "planar_cnn_augmented"):
        for setting in ("NR/NR", "NR/R", "R/R", "R/NR"):
            row = metrics["accuracy"][method][setting]
            assert row["n_test"] == 10 and len(row["accuracy_seeds"]) == 2 and 0 <= row["accuracy"] <= 1
        assert len(metrics["rotation_agreement"][method]["agreement_seeds"]) == 2
    errors = metrics["coefficient_equivariance"]
    assert set(errors) == {"modulus depth 0", "modulus depth 1", "modulus depth 2", "signed_square depth 1", "cross depth 2"}
    assert errors["modulus depth 0"]["median"] < 1e-3  # the low-passed image: only the 8-bit quantisation differs
    for name in ("report.md", "examples.png", "accuracy.png", "confusion_scattering_cnn_NR-R.png", "confusion_planar_cnn_NR-R.png"):
        assert (out / name).is_file()
    assert "| scattering + equivariant spherical CNN |" in (out / "report.md").read_text()


def test_bad_experiment_options_are_one_line_errors(tmp_path):
    result = run_cli("scatter-reproduce-digits", "--n-digits", "10", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: n_digits must be an integer in [50, 1797] or None (all), got 10"
    assert not (tmp_path / "d").exists()
