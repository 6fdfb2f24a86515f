"""The spherical-digits experiment end to end: what equivariance buys (docs/digits-experiment.md).

scikit-learn's digits as 360-degree PNG images, upright and rotated (``pipeline.digits``) -> one
scattering cache through the real pipeline (``scatter-preprocess``'s library call) -> every
method of ``downstream.digits.methods``, trained on upright ("NR") or on rotated ("R") images with
several seeds and tested on both -> the NR/NR, NR/R, R/R table of the spherical-CNN literature
(Cohen et al. 2018; Esteves et al. 2018), the agreement of each upright-trained model's predictions
on a test digit's two images, figures and a report.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import zarr

from downstream.data.index import read_cache_index
from downstream.digits.methods import METHODS, DigitMaps, Job, run_jobs
from downstream.digits.report import write_figures, write_report
from pipeline.digits import DigitsDatasetConfig, generate_digits
from pipeline.digits.dataset import ORIENTATIONS
from pipeline.io.inputs import expand_inputs
from pipeline.io.readers import read_map
from pipeline.run import RunOptions, preprocess
from pipeline.scattering.config import ScatteringConfig

SETTINGS = {"NR/NR": ("upright", "upright"), "NR/R": ("upright", "rotated"), "R/R": ("rotated", "rotated"),
            "R/NR": ("rotated", "upright")}
"""Table columns: (trained on, tested on)."""


@dataclass(frozen=True)
class DigitsExperiment:
    """Everything that defines one run (recorded in metrics.json): images of bandlimit L (L x 2L
    pixels) of n_digits digits (None: all 1797), scattering with lowest scale J0, n_seeds training
    seeds per method and training orientation, at most `epochs` epochs (early stopping on val)."""

    L: int = 64
    J0: int = 4
    n_digits: int | None = None
    half_width_deg: float = 40.0
    n_seeds: int = 3
    epochs: int = 40
    seed: int = 2018
    workers: int | None = None
    data_dir: str = "data/digits"
    out_dir: str = "results/digits"

    @classmethod
    def quick(cls, **overrides) -> "DigitsExperiment":
        """The same code path on 500 digits, 2 seeds and fewer epochs: minutes."""
        return replace(cls(n_digits=500, n_seeds=2, epochs=20, out_dir="results/digits-quick"), **overrides)

    def dataset(self) -> DigitsDatasetConfig:
        return DigitsDatasetConfig(L=self.L, n_digits=self.n_digits, half_width_deg=self.half_width_deg, seed=self.seed)

    def scattering(self) -> ScatteringConfig:
        return ScatteringConfig(L=self.L, J0=self.J0)


def digit_maps(cache: str) -> DigitMaps:
    index = read_cache_index(cache)
    group = zarr.open_group(cache, mode="r", use_consolidated=False)
    metadata = [json.loads(m) for m in group["maps/metadata"][:]]
    return DigitMaps(np.where(index.done, index.labels, -1), index.splits, np.array([int(m["digit"]) for m in metadata]),
                     np.array([m["orientation"] for m in metadata]), np.array([str(s) for s in group["maps/source"][:]]))


def stack_images(maps: DigitMaps, path: Path) -> Path:
    """Every map's image, read by the pipeline's own reader, as one (n_maps, H, 2H) float32 .npy
    beside the cache for the planar CNN (reused while it has one image per map)."""
    if path.is_file() and np.load(path, mmap_mode="r").shape[0] == len(maps.sources):
        return path
    images = np.stack([read_map(source).values.astype(np.float32) for source in maps.sources])
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, images)
    tmp.replace(path)
    return path


def _summary(maps: DigitMaps, results: dict[Job, dict]) -> dict:
    """Accuracy per method and setting (mean, std and values over seeds) and the rotation agreement."""
    labels = maps.labels[maps.select("upright", "test")]
    table, agreement = {}, {}
    for method in METHODS:
        runs = {o: [r for job, r in sorted(results.items(), key=lambda kv: kv[0].seed) if job.method == method and job.trained_on == o]
                for o in ORIENTATIONS}
        table[method] = {}
        for setting, (trained, tested) in SETTINGS.items():
            values = [float(np.mean(r["predicted"][tested] == labels)) for r in runs[trained]]
            table[method][setting] = {"accuracy": float(np.mean(values)), "accuracy_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                                      "accuracy_seeds": values, "n_test": int(len(labels)), "n_train": runs[trained][0]["n_train"],
                                      "val_accuracy": float(np.mean([r["val_accuracy"] for r in runs[trained]]))}
        same = [float(np.mean(r["predicted"]["upright"] == r["predicted"]["rotated"])) for r in runs["upright"]]
        agreement[method] = {"agreement": float(np.mean(same)), "agreement_seeds": same, "n_test": int(len(labels))}
    return {"accuracy": table, "rotation_agreement": agreement}


def run(exp: DigitsExperiment, progress: bool = True) -> dict:
    """Run the whole experiment; writes metrics.json, report.md and figures to exp.out_dir."""
    start = time.perf_counter()
    out = Path(exp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = generate_digits(exp.dataset(), exp.data_dir, progress)
    cache = str(manifest.with_name(f"scattering_J0{exp.J0}.zarr"))
    summary = preprocess(expand_inputs([str(manifest)]), cache, exp.scattering(), run=RunOptions(workers=exp.workers, progress=progress))
    if not summary.ok:
        raise RuntimeError(f"{len(summary.failures)} images failed to scatter: {summary.failures[0]}")
    maps = digit_maps(cache)
    images = stack_images(maps, Path(f"{cache}.images.npy"))
    prepared = time.perf_counter()
    jobs = [Job(method, seed, orientation, exp.epochs) for method in METHODS for orientation in ORIENTATIONS for seed in range(exp.n_seeds)]
    results = run_jobs(cache, str(images), maps, jobs, exp.workers, progress)
    trained = time.perf_counter()
    metrics = {
        "experiment": asdict(exp),
        "dataset": exp.dataset().name,
        "scattering": exp.scattering().to_dict(),
        "cache": cache,
        "images": {split: int(len(maps.select("upright", split))) for split in ("train", "val", "test")},
        **_summary(maps, results),
        "epochs_run": {m: [r["epochs_run"] for j, r in results.items() if j.method == m] for m in METHODS},
        "training_seconds": {m: float(np.mean([r["seconds"] for j, r in results.items() if j.method == m])) for m in METHODS},
    }
    write_figures(maps, np.load(images, mmap_mode="r"), results, out)
    metrics["seconds"] = {"images_and_scattering": prepared - start, "training": trained - prepared, "total": time.perf_counter() - start}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_report(exp, metrics, out)
    return metrics
