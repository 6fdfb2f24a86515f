"""The Gaussian vs non-Gaussian CMB experiment, end to end (docs/cmb-experiment.md).

Raw map files (generated from recorded seeds, ``pipeline.cmb.dataset``) -> ``scatter-preprocess``'s
library call (Dask, Zarr cache) -> training (``downstream.train.training``) -> held-out test metrics,
figures and a report. As in McEwen, Wallis & Mavor-Parker (ICLR 2022, arXiv:2102.02828), the
scattering + equivariant CNN is compared with a conventional spherical CNN on the maps degraded
to the low bandlimit L0 (the zeroth-order path of the cache: the map low-passed by the scaling
function) and with a classifier on the maps' power spectra, which must sit at chance because both
classes share one expected spectrum. Accuracy versus the non-Gaussian amplitude f is measured on
smaller datasets of the same recipe.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from downstream.cmb.report import write_figures, write_report
from downstream.cmb.spectrum_baseline import SpectrumClassifier
from downstream.data.index import read_cache_index, select_maps
from downstream.train.config import TrainConfig
from downstream.train.training import train
from pipeline.cmb import CMBDatasetConfig, generate_dataset
from pipeline.io.inputs import expand_inputs
from pipeline.run import RunOptions, preprocess
from pipeline.scattering.config import ScatteringConfig


@dataclass(frozen=True)
class CMBExperiment:
    """Everything that defines one run of the experiment (recorded in metrics.json).

    f is the headline non-Gaussian amplitude; f_sweep further amplitudes of the accuracy-versus-f
    curve, each on n_sweep_per_class maps per class (the curve also holds the headline run).
    Splits are the generator's (70/15/15 per class, by seed); the test split is only evaluated,
    never used for choices.
    """

    L: int = 1024
    n_per_class: int = 800
    f: float = 0.02
    f_sweep: tuple[float, ...] = (0.005, 0.01, 0.04)
    n_sweep_per_class: int = 100
    J0: int = 5
    grid: str = "gl"
    seed: int = 2022
    workers: int | None = None
    epochs: int = 40
    data_dir: str = "data/cmb"
    out_dir: str = "results/cmb"

    @classmethod
    def quick(cls, **overrides) -> "CMBExperiment":
        """Same code path at L = 256 with fewer maps: minutes instead of most of an hour."""
        return replace(cls(L=256, n_per_class=150, f=0.05, f_sweep=(0.02, 0.1), n_sweep_per_class=60, J0=4,
                           epochs=30, out_dir="results/cmb-quick"), **overrides)

    def scattering(self) -> ScatteringConfig:
        return ScatteringConfig(L=self.L, J0=self.J0)

    def dataset(self, f: float, n_per_class: int) -> CMBDatasetConfig:
        return CMBDatasetConfig(L=self.L, n_per_class=n_per_class, f=f, seed=self.seed, grid=self.grid)


def build_cache(exp: CMBExperiment, f: float, n_per_class: int, progress: bool) -> str:
    """Generate (or reuse) the maps for amplitude f, then scatter them into a cache (resumable)."""
    data = generate_dataset(exp.dataset(f, n_per_class), Path(exp.data_dir), num_workers=exp.workers, progress=progress)
    cache = str(Path(exp.data_dir) / f"{Path(data.manifest).stem}_J0{exp.J0}.zarr")
    summary = preprocess(expand_inputs([data.manifest]), cache, exp.scattering(),
                         run=RunOptions(workers=exp.workers, progress=progress))
    if not summary.ok:
        raise RuntimeError(f"{len(summary.failures)} maps failed to scatter: {summary.failures[0]}")
    return cache


def spectrum_baseline(cache: str) -> dict:
    """Logistic regression on the binned log power spectra of the input maps (all l < L)."""
    import zarr

    index = read_cache_index(cache)
    spectra = zarr.open_group(cache, mode="r", use_consolidated=False)["input_power_spectra"]
    data = {s: select_maps(index, s) for s in ("train", "val", "test")}
    fit = SpectrumClassifier().fit(spectra.get_orthogonal_selection((data["train"], slice(None))), index.labels[data["train"]])
    return {split: {"accuracy": fit.score(spectra.get_orthogonal_selection((maps, slice(None))), index.labels[maps]),
                    "n": int(len(maps))} for split, maps in data.items() if split != "train"}


def _train(cache: str, config: TrainConfig, out: Path, progress: bool) -> dict:
    result = train(cache, config, out, progress=progress)
    return {"val": result.metrics["val"], "test": result.metrics["test"], "epochs_run": result.metrics["epochs_run"],
            "n_parameters": result.metrics["n_parameters"], "history": result.metrics["history"]}


def run(exp: CMBExperiment, progress: bool = True) -> dict:
    """Run the whole experiment; writes metrics.json, report.md and figures to exp.out_dir."""
    start = time.perf_counter()
    out = Path(exp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = build_cache(exp, exp.f, exp.n_per_class, progress)
    prepared = time.perf_counter()
    cnn = TrainConfig(model="cnn", epochs=exp.epochs, augment=True, in_memory=True, seed=exp.seed, threads=1)
    models = {
        "scattering_cnn": _train(cache, cnn, out / "scattering_cnn", progress),
        "scattering_invariant_mlp": _train(cache, replace(cnn, model="invariant_mlp", augment=False), out / "invariant_mlp", progress),
        "lowres_map_cnn": _train(cache, replace(cnn, max_depth=0), out / "lowres_map_cnn", progress),
        "power_spectrum": spectrum_baseline(cache),
    }
    sweep = [{"f": exp.f, "n_per_class": exp.n_per_class,
              "scattering_cnn_test_accuracy": models["scattering_cnn"]["test"]["accuracy"],
              "power_spectrum_test_accuracy": models["power_spectrum"]["test"]["accuracy"]}]
    for f in (f for f in exp.f_sweep if f != exp.f):
        sweep_cache = build_cache(exp, f, exp.n_sweep_per_class, progress)
        trained = _train(sweep_cache, cnn, out / "sweep" / f"f{f:g}", progress)
        sweep.append({"f": f, "n_per_class": exp.n_sweep_per_class, "scattering_cnn_test_accuracy": trained["test"]["accuracy"],
                      "power_spectrum_test_accuracy": spectrum_baseline(sweep_cache)["test"]["accuracy"]})
    sweep.sort(key=lambda row: row["f"])
    metrics = {
        "experiment": asdict(exp),
        "scattering": exp.scattering().to_dict(),
        "cache": cache,
        "models": models,
        "accuracy_vs_f": sweep,
    }
    write_figures(exp, cache, metrics, out)
    metrics["seconds"] = {"maps_and_scattering": prepared - start, "total": time.perf_counter() - start}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    write_report(exp, metrics, out)
    return metrics

