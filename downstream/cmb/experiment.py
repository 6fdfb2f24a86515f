"""The Gaussian vs non-Gaussian CMB benchmark, end to end (docs/cmb-experiment.md).

Raw map files from recorded seeds (``pipeline.cmb``) -> one scattering cache of every map of the
sweep (``scatter-preprocess``'s library call) and their classical statistics -> at every
amplitude f, every method of ``downstream.cmb.methods`` (learned ones with several seeds) on the
same maps and splits -> accuracy versus f, the amplitude f95 at which each method reaches 95 %
with a bootstrap interval (``downstream.cmb.detection``), figures and a report. With a mask
(``downstream.cmb.cut_sky``), the same maps again on the cut sky, side by side. Choices (penalties,
early stopping) use the train and val maps only; the test maps are only predicted.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import zarr

from downstream.cmb.cut_sky import CUT_SKY_CLASSICAL, CUT_SKY_LEARNED, CutSky, cut_sky_grid
from downstream.cmb.detection import f95_with_interval
from downstream.cmb.figures import write_figures
from downstream.cmb.methods import CLASSICAL, LEARNED, feature_tables, run_classical, run_learned
from downstream.cmb.report import write_report
from downstream.cmb.sweep_data import SweepMaps, map_statistics_table, scatter_sweep, sweep_manifest, sweep_maps
from downstream.data.index import read_cache_index
from pipeline.cmb import CMBDatasetConfig
from pipeline.cmb.spectra import cmb_spectra, load_cl
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.validity import valid_fractions

T0_MUK = 2.7255e6
"""CMB monopole temperature (Fixsen 2009) in muK, for the Sachs-Wolfe f_NL equivalent."""


@dataclass(frozen=True)
class CMBExperiment:
    """Everything that defines one run (recorded in metrics.json).

    n_per_class maps of the Gaussian class (shared by every f) and n_per_class non-Gaussian maps at
    each amplitude of f_values; per class 70 % train, 15 % val, 15 % test (by seed). Learned
    methods are trained with seeds 0..n_seeds-1; f95 intervals from `bootstrap` resamples.
    `cut_sky`: None (full sky only) or the mask of the cut-sky run (full and cut sky side by side).
    """

    L: int = 1024
    n_per_class: int = 700
    f_values: tuple[float, ...] = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032)
    n_seeds: int = 5
    J0: int = 5
    grid: str = "gl"
    seed: int = 2022
    workers: int | None = None
    epochs: int = 30
    bootstrap: int = 400
    data_dir: str = "data/cmb"
    out_dir: str = "results/cmb"
    cut_sky: CutSky | None = None

    def __post_init__(self) -> None:
        if self.cut_sky is not None:
            cut_sky_grid(self.grid, self.L)  # refuses grids without quadrature weights

    @classmethod
    def quick(cls, **overrides) -> "CMBExperiment":
        """Same code path at L = 256 with fewer maps, amplitudes and seeds: minutes."""
        return replace(cls(L=256, n_per_class=200, f_values=(0.0025, 0.005, 0.01, 0.02, 0.04, 0.08), n_seeds=2, J0=4,
                           epochs=20, out_dir="results/cmb-quick"), **overrides)

    def scattering(self) -> ScatteringConfig:
        return ScatteringConfig(L=self.L, J0=self.J0)

    def dataset(self, f: float) -> CMBDatasetConfig:
        return CMBDatasetConfig(L=self.L, n_per_class=self.n_per_class, f=f, seed=self.seed, grid=self.grid)

    def f_nl(self, f: float) -> float:
        """Sachs-Wolfe equivalent: Delta T / T0 = -Phi / 3 gives f = -3 f_NL sigma_T / T0."""
        return -f * T0_MUK / (3 * np.sqrt(cmb_spectra(self.L).sigma2))


def _accuracy_rows(f: float, method: str, runs: list[dict]) -> dict:
    accuracies = [float(np.mean(r["predicted"] == r["labels"])) for r in runs]
    return {"f": f, "method": method, "accuracy": float(np.mean(accuracies)),
            "accuracy_std": float(np.std(accuracies, ddof=1)) if len(runs) > 1 else 0.0,
            "accuracy_seeds": accuracies, "n_test": int(len(runs[0]["maps"])), "n_train": int(runs[0]["n_train"]),
            "n_seeds": len(runs), **({"val_accuracy": float(np.mean([r["val_accuracy"] for r in runs])),
                                      "val_accuracy_seeds": [float(r["val_accuracy"]) for r in runs]} if "val_accuracy" in runs[0] else {})}


def _f95(exp: CMBExperiment, results: dict[str, dict[float, list[dict]]], rng: np.random.Generator) -> dict:
    out = {}
    for method, by_f in results.items():
        n = np.array([len(by_f[f][0]["maps"]) for f in exp.f_values])
        correct = np.zeros((len(by_f[exp.f_values[0]]), len(exp.f_values), n.max()))
        for i, f in enumerate(exp.f_values):
            for s, run in enumerate(by_f[f]):
                correct[s, i, : n[i]] = run["predicted"] == run["labels"]
        out[method] = f95_with_interval(np.array(exp.f_values), correct, n, rng, exp.bootstrap)
    return out


def _evaluate(exp: CMBExperiment, cache: str, maps: SweepMaps, tables: dict[str, np.ndarray], learned, classical,
              progress: bool) -> dict:
    """Every method at every f on one cache: accuracy rows, f95 with intervals, penalties, training times."""
    results: dict[str, dict[float, list[dict]]] = {m: {} for m in (*learned, *classical)}
    jobs = [(m, s, f, maps.pair(f)) for f in exp.f_values for m in learned for s in range(exp.n_seeds)]
    trained = run_learned(cache, jobs, exp.epochs, exp.workers, progress)
    for (method, seed, f), run_ in sorted(trained.items()):
        results[method].setdefault(f, []).append(run_ | {"labels": maps.labels[run_["maps"]], "seed": seed})
    for method in classical:
        for f in exp.f_values:
            run_ = run_classical(method, tables[method], maps, maps.pair(f), exp.seed)
            results[method][f] = [run_ | {"labels": maps.labels[run_["maps"]]}]
    return {
        "accuracy_vs_f": [_accuracy_rows(f, m, results[m][f]) for m in results for f in exp.f_values],
        "f95": _f95(exp, results, np.random.default_rng(exp.seed)),
        "penalties": {m: {repr(f): results[m][f][0]["penalty"] for f in exp.f_values} for m in classical},
        "training_seconds": {m: float(np.mean([r["seconds"] for f in exp.f_values for r in results[m][f]])) for m in learned},
        "trainings": {"jobs": len(trained), "read_back": sum(bool(r["read_back"]) for r in trained.values()),
                      "restarted": [{"method": m, "seed": s, "f": f, "kept": int(r["attempt"]),
                                     "val_losses": [float(v) for v in r["attempt_val_losses"]],
                                     "collapsed": [bool(c) for c in r["attempt_collapsed"]]}
                                    for (m, s, f), r in sorted(trained.items()) if len(r["attempt_val_losses"]) > 1]},
    }


def _common_valid_fraction(cache: str) -> float:
    """The sky fraction where every channel of a masked cache is valid (where the CNN pools)."""
    index = read_cache_index(cache)
    return float(valid_fractions(index.valid_region(np.arange(index.n_paths), 2 * index.L0)[None])[0])


def _cut_sky(exp: CMBExperiment, manifest: Path, maps: SweepMaps, progress: bool) -> dict:
    """The same maps through the cut-sky mask: the methods of ``downstream.cmb.cut_sky`` on the masked cache."""
    cut = exp.cut_sky
    mask_file = cut.write(Path(exp.data_dir), exp.grid, exp.L)
    cache = scatter_sweep(manifest, exp.scattering(), exp.workers, progress, mask=mask_file)
    statistics = map_statistics_table(cache, exp.scattering(), exp.workers, progress, cut=cut)
    group = zarr.open_group(cache, mode="r", use_consolidated=False)
    summary = dict(group.attrs["mask"])
    usable = np.array(summary["valid_fractions"]) > 0  # the linear read-out drops channels without a valid region
    tables = feature_tables(statistics, group["input_power_spectra"][:], group["masked_means"][:][:, usable],
                            tuple(k for k, u in zip(group.attrs["path_kinds"], usable) if u))
    cut_maps = sweep_maps(cache)
    if not all(np.array_equal(a, b) for a, b in ((cut_maps.sources, maps.sources), (cut_maps.labels, maps.labels), (cut_maps.splits, maps.splits))):
        raise RuntimeError(f"{cache}: the cut-sky cache does not hold the same done maps (sources, labels, splits) as the full-sky one")
    return {"mask": cut.to_dict() | {"file": str(mask_file), **summary}, "cache": cache,
            "channels_without_valid_region": int((~usable).sum()), "common_valid_fraction": _common_valid_fraction(cache),
            **_evaluate(exp, cache, maps, tables, CUT_SKY_LEARNED, CUT_SKY_CLASSICAL, progress)}


def run(exp: CMBExperiment, progress: bool = True) -> dict:
    """Run the whole benchmark; writes metrics.json, report.md and figures to exp.out_dir."""
    start = time.perf_counter()
    out = Path(exp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = sweep_manifest([exp.dataset(f) for f in exp.f_values], Path(exp.data_dir), progress, exp.workers)
    cache = scatter_sweep(manifest, exp.scattering(), exp.workers, progress)
    statistics = map_statistics_table(cache, exp.scattering(), exp.workers, progress)
    prepared = time.perf_counter()
    maps = sweep_maps(cache)
    group = zarr.open_group(cache, mode="r", use_consolidated=False)
    tables = feature_tables(statistics, group["input_power_spectra"][:], group["means"][:], tuple(group.attrs["path_kinds"]))
    evaluated = _evaluate(exp, cache, maps, tables, LEARNED, CLASSICAL, progress)
    trained = time.perf_counter()
    metrics = {
        "experiment": asdict(exp),
        "scattering": exp.scattering().to_dict(),
        "cache": cache,
        "maps": {"gaussian": int((maps.labels == 0).sum()), "non_gaussian_per_f": exp.n_per_class,
                 "split_per_class": {s: int(((maps.labels == 0) & (maps.splits == s)).sum()) for s in ("train", "val", "test")}},
        "f_nl_per_f": {repr(f): exp.f_nl(f) for f in exp.f_values},
        **evaluated,
    }
    if exp.cut_sky is not None:
        metrics["cut_sky"] = _cut_sky(exp, manifest, maps, progress)
    cut_done = time.perf_counter()
    write_figures(cache, metrics, out)
    metrics["seconds"] = {"maps_scattering_statistics": prepared - start, "training_and_classical": trained - prepared,
                          "cut_sky": cut_done - trained, "total": time.perf_counter() - start}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    write_report(exp, metrics, out, load_cl()[: exp.L])
    return metrics
