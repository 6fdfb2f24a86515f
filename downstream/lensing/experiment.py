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
from downstream.lensing.methods import METHODS, SCATTERING, Job, run_classical, run_learned
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


BASE_AMPLITUDE, BASE_SHIFT = 0.005, 0.05
"""The model's reference (``LognormalModel`` defaults): every shift lambda of the sweep uses
amplitude BASE_AMPLITUDE (BASE_SHIFT / lambda)^2, which keeps sigma_kappa (nearly) fixed while the
field becomes more Gaussian as lambda grows (docs/lensing-experiment.md section 1)."""


@dataclass(frozen=True)
class LensingExperiment:
    """Everything that defines one run (recorded in metrics.json): shear maps of bandlimit L,
    n_per_class per class at every lognormal shift of `shifts` (each its own maps, Gaussian class
    included: the spectrum to match depends on the shift), scattering with lowest scale J0,
    n_seeds training seeds per learned method, at most `epochs` epochs.

    Why these shifts: at lambda = 0.05 (the model's default) one skewness separates the classes
    perfectly at L = 64; from lambda = 0.4 on, the task grades the methods (section 1's table)."""

    L: int = 128
    J0: int = 4
    n_per_class: int = 400
    shifts: tuple[float, ...] = (0.4, 0.8, 1.6)
    n_seeds: int = 5
    epochs: int = 40
    seed: int = 2011
    workers: int | None = None
    data_dir: str = "data/lensing"
    out_dir: str = "results/lensing"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shifts", tuple(float(x) for x in self.shifts))
        if not self.shifts or len(set(self.shifts)) != len(self.shifts):
            raise InputError(f"shifts must be distinct positive numbers, got {list(self.shifts)}")
        for shift in self.shifts:
            self.dataset(shift)
        for route in SPIN2_ROUTES:
            self.scattering(route)
        for name in ("n_seeds", "epochs", "workers"):
            value = getattr(self, name)
            if not (value is None and name == "workers") and (not isinstance(value, int) or value < 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")

    @classmethod
    def quick(cls, **overrides) -> "LensingExperiment":
        """The same code path at L = 64, 100 maps per class, two shifts, 2 seeds: minutes."""
        return replace(cls(L=64, J0=3, n_per_class=100, shifts=(0.4, 0.8), n_seeds=2, epochs=20, out_dir="results/lensing-quick"),
                       **overrides)

    def dataset(self, shift: float) -> LensingDatasetConfig:
        return LensingDatasetConfig(L=self.L, n_per_class=self.n_per_class, seed=self.seed,
                                    model=LognormalModel(amplitude=BASE_AMPLITUDE * (BASE_SHIFT / shift) ** 2, shift=shift))

    def scattering(self, route: str) -> ScatteringConfig:
        return ScatteringConfig(L=self.L, J0=self.J0, spin2_route=route)


@dataclass(frozen=True)
class ShiftData:
    """The maps of one shift: their caches (by route), labels, splits, files and classical features."""

    caches: dict[str, str]
    labels: np.ndarray
    splits: np.ndarray
    sources: list[str]
    features: dict[str, np.ndarray]
    seconds: dict[str, float]


def prepare(exp: LensingExperiment, shift: float, progress: bool) -> ShiftData:
    """Simulate the maps of one shift, scatter them on both routes, compute their statistics."""
    manifest = generate_dataset(exp.dataset(shift), Path(exp.data_dir) / f"shift{shift:g}", workers=exp.workers, progress=progress)
    inputs = InputOptions(ReaderOptions(fields=SHEAR_FIELDS))
    caches, seconds = {}, {}
    for route in SPIN2_ROUTES:
        caches[route] = str(manifest.with_name(f"scattering_{exp.scattering(route).hash()[:12]}.zarr"))
        before = time.perf_counter()
        summary = preprocess(expand_inputs([str(manifest)]), caches[route], exp.scattering(route), inputs,
                             RunOptions(workers=exp.workers, progress=progress))
        seconds[route] = time.perf_counter() - before
        if not summary.ok:
            raise RuntimeError(f"{len(summary.failures)} shear maps failed to scatter: {summary.failures[0]}")
    index = read_cache_index(caches["modulus"])
    sources = [str(s) for s in zarr.open_group(caches["modulus"], mode="r", use_consolidated=False)["maps/source"][:]]
    return ShiftData(caches, np.where(index.done, index.labels, -1), np.asarray(index.splits), sources, feature_table(sources), seconds)


def _row(values: list[float], runs: list[dict]) -> dict:
    mean, n_test = float(np.mean(values)), len(runs[0]["maps"])
    return {"accuracy": mean, "accuracy_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, "accuracy_seeds": values,
            "binomial_se": float(np.sqrt(mean * (1 - mean) / n_test)), "n_test": n_test, "n_train": runs[0]["n_train"]}


def _summary(data: ShiftData, shift: float, learned: dict[Job, dict], classical: dict[str, dict]) -> dict:
    """Test accuracy per method at one shift: mean and spread over seeds (learned), binomial standard error."""
    table = {}
    for method in METHODS:
        runs = [r for job, r in sorted(learned.items(), key=lambda kv: kv[0].seed)
                if job.method == method and job.shift == shift] or [classical[method]]
        table[method] = _row([float(np.mean(r["predicted"] == data.labels[r["maps"]])) for r in runs], runs)
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
    data = {shift: prepare(exp, shift, progress) for shift in exp.shifts}
    classical = {}
    for shift, d in data.items():
        means = {route: zarr.open_group(cache, mode="r", use_consolidated=False)["means"][:] for route, cache in d.caches.items()}
        classical[shift] = run_classical(d.features, means, d.labels, d.splits)
    prepared = time.perf_counter()
    jobs = [Job(method, seed, exp.epochs, shift) for shift in exp.shifts for method in SCATTERING for seed in range(exp.n_seeds)]
    caches = {(shift, route): cache for shift, d in data.items() for route, cache in d.caches.items()}
    learned = run_learned(caches, jobs, exp.workers, progress)
    first = data[exp.shifts[0]]
    accuracy = {f"{shift:g}": _summary(d, shift, learned, classical[shift]) for shift, d in data.items()}
    metrics = {
        "experiment": asdict(exp),
        "caches": {f"{shift:g}": d.caches for shift, d in data.items()},
        "scattering": {route: exp.scattering(route).to_dict() for route in SPIN2_ROUTES},
        "channels": {route: dict(Counter(read_cache_index(c).fields)) for route, c in first.caches.items()},
        "maps": {split: int(np.sum(first.splits == split)) for split in ("train", "val", "test")},
        "accuracy": accuracy,
        "accuracy_vs_shift": [{"shift": float(shift), "method": method, **{k: row[k] for k in ("accuracy", "accuracy_std", "binomial_se", "n_test")}}
                              for shift, table in accuracy.items() for method, row in table.items()],
        "epochs_run": {m: [r["epochs_run"] for j, r in learned.items() if j.method == m] for m in SCATTERING},
        "seconds": {"scattering_cache": {f"{shift:g}": d.seconds for shift, d in data.items()}, "training": time.perf_counter() - prepared},
    }
    write_figures(first, metrics, out)
    metrics["seconds"]["total"] = time.perf_counter() - start
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_report(exp, metrics, out)
    return metrics
