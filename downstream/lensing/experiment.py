"""The weak-lensing experiment end to end (docs/lensing-experiment.md): spin-2 scattering on shear.

Gaussian and lognormal convergence skies of equal power spectrum, turned into shear by the exact
spin-2 (Kaiser-Squires) relation (``pipeline.lensing``) -> two scattering caches of the shear files
through the real pipeline (``scatter-preprocess --fields G1,G2``, spin-2 routes "modulus" and
"eb") -> every method of ``downstream.lensing.methods`` on the same splits -> accuracy table
(mean and spread over seeds, binomial errors), figures and a report.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import zarr

from downstream.data.index import read_cache_index
from downstream.lensing.methods import CLASSICAL, METHODS, SCATTERING, Job, run_classical, run_learned
from downstream.lensing.report import write_figures, write_report
from downstream.lensing.statistics import feature_table
from pipeline.errors import InputError
from pipeline.io.inputs import expand_inputs
from pipeline.io.readers import ReaderOptions
from pipeline.lensing import LensingDatasetConfig, LognormalModel, generate_dataset
from pipeline.run import InputOptions, RunOptions, preprocess
from pipeline.scattering.config import SPIN2_ROUTES, ScatteringConfig

SHEAR_FIELDS = ("G1", "G2")
"""The fields of the shear files (their sidecars name them; G1, G2 pair as spin 2 by name)."""


@dataclass(frozen=True)
class LensingExperiment:
    """Everything that defines one run (recorded in metrics.json): shear maps of bandlimit L,
    n_per_class per class, the lognormal model (shift lambda, and the amplitude of C_l^g), scattering
    with lowest scale J0, n_seeds training seeds per learned method, at most `epochs` epochs.

    The model: lambda = 0.4 with amplitude 0.005 (0.05 / 0.4)^2 keeps sigma_kappa ~ 0.013 as with
    lambda = 0.05 and makes the task hard enough to rank methods: with lambda = 0.05 one skewness
    separates the classes perfectly at L = 64 (docs/lensing-experiment.md section 1)."""

    L: int = 128
    J0: int = 4
    n_per_class: int = 400
    shift: float = 0.4
    amplitude: float = 0.005 * (0.05 / 0.4) ** 2
    n_seeds: int = 5
    epochs: int = 40
    seed: int = 2011
    workers: int | None = None
    data_dir: str = "data/lensing"
    out_dir: str = "results/lensing"

    def __post_init__(self) -> None:
        self.dataset()
        for route in SPIN2_ROUTES:
            self.scattering(route)
        for name in ("n_seeds", "epochs", "workers"):
            value = getattr(self, name)
            if not (value is None and name == "workers") and (not isinstance(value, int) or value < 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")

    @classmethod
    def quick(cls, **overrides) -> "LensingExperiment":
        """The same code path at L = 64, 100 maps per class, 2 seeds: minutes."""
        return replace(cls(L=64, J0=3, n_per_class=100, n_seeds=2, epochs=20, out_dir="results/lensing-quick"), **overrides)

    def dataset(self) -> LensingDatasetConfig:
        return LensingDatasetConfig(L=self.L, n_per_class=self.n_per_class, seed=self.seed,
                                    model=LognormalModel(amplitude=self.amplitude, shift=self.shift))

    def scattering(self, route: str) -> ScatteringConfig:
        return ScatteringConfig(L=self.L, J0=self.J0, spin2_route=route)


def _summary(labels: np.ndarray, learned: dict[Job, dict], classical: dict[str, dict]) -> dict:
    """Test accuracy per method: mean and spread over seeds (learned), binomial standard error."""
    table = {}
    for method in METHODS:
        runs = [r for job, r in sorted(learned.items(), key=lambda kv: kv[0].seed) if job.method == method] or [classical[method]]
        values = [float(np.mean(r["predicted"] == labels[r["maps"]])) for r in runs]
        n_test = len(runs[0]["maps"])
        mean = float(np.mean(values))
        table[method] = {"accuracy": mean, "accuracy_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                         "accuracy_seeds": values, "binomial_se": float(np.sqrt(mean * (1 - mean) / n_test)),
                         "n_test": n_test, "n_train": runs[0]["n_train"]}
        if method in SCATTERING:
            table[method]["val_accuracy"] = float(np.mean([r["val_accuracy"] for r in runs]))
        else:
            table[method]["penalty"] = runs[0]["penalty"]
    return table


def run(exp: LensingExperiment, progress: bool = True) -> dict:
    """Run the whole experiment; writes metrics.json, report.md and figures to exp.out_dir."""
    start = time.perf_counter()
    out = Path(exp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = generate_dataset(exp.dataset(), exp.data_dir, workers=exp.workers, progress=progress)
    inputs = InputOptions(ReaderOptions(fields=SHEAR_FIELDS))
    caches, cache_seconds = {}, {}
    for route in SPIN2_ROUTES:
        caches[route] = str(manifest.with_name(f"scattering_{exp.scattering(route).hash()[:12]}.zarr"))
        before = time.perf_counter()
        summary = preprocess(expand_inputs([str(manifest)]), caches[route], exp.scattering(route), inputs,
                             RunOptions(workers=exp.workers, progress=progress))
        cache_seconds[route] = time.perf_counter() - before
        if not summary.ok:
            raise RuntimeError(f"{len(summary.failures)} shear maps failed to scatter: {summary.failures[0]}")
    index = read_cache_index(caches["modulus"])
    labels, splits = np.where(index.done, index.labels, -1), np.asarray(index.splits)
    groups = {route: zarr.open_group(cache, mode="r", use_consolidated=False) for route, cache in caches.items()}
    sources = [str(s) for s in groups["modulus"]["maps/source"][:]]
    features = feature_table(sources)
    classical = run_classical(features, {route: g["means"][:] for route, g in groups.items()}, labels, splits)
    prepared = time.perf_counter()
    jobs = [Job(method, seed, exp.epochs) for method in SCATTERING for seed in range(exp.n_seeds)]
    learned = run_learned(caches, jobs, exp.workers, progress)
    metrics = {
        "experiment": asdict(exp),
        "caches": caches,
        "scattering": {route: exp.scattering(route).to_dict() for route in SPIN2_ROUTES},
        "channels": {route: dict(Counter(read_cache_index(c).fields)) for route, c in caches.items()},
        "maps": {split: int(np.sum(splits == split)) for split in ("train", "val", "test")},
        "accuracy": _summary(labels, learned, classical),
        "classical_methods": list(CLASSICAL),
        "epochs_run": {m: [r["epochs_run"] for j, r in learned.items() if j.method == m] for m in SCATTERING},
        "seconds": {"scattering_cache": cache_seconds, "training": time.perf_counter() - prepared},
    }
    write_figures(sources, features, labels, splits, metrics, out)
    metrics["seconds"]["total"] = time.perf_counter() - start
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_report(exp, metrics, out)
    return metrics
