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
from downstream.digits.methods import METHODS, SCATTERING, DigitMaps, Job, run_jobs
from downstream.digits.report import write_figures, write_report
from pipeline.digits import DigitsDatasetConfig, generate_digits
from pipeline.digits.dataset import ORIENTATIONS, angles_from_row
from pipeline.errors import InputError
from pipeline.io.inputs import expand_inputs
from pipeline.io.readers import read_map
from pipeline.run import RunOptions, preprocess
from pipeline.scattering.config import ScatteringConfig
from pipeline.sphere.rotations import rotate_real
from pipeline.testing import relative_error_by_channel

SETTINGS = {"NR/NR": ("upright", "upright"), "NR/R": ("upright", "rotated"), "R/R": ("rotated", "rotated"),
            "R/NR": ("rotated", "upright")}
"""Table columns: (trained on, tested on)."""


@dataclass(frozen=True)
class DigitsExperiment:
    """Everything that defines one run (recorded in metrics.json): images of bandlimit image_L
    (image_L x 2 image_L pixels) of n_digits digits (None: all 1797); scattering at bandlimit L
    with lowest scale J0 and grid oversampling `oversampling`; n_seeds training seeds per method
    and training orientation, at most `epochs` epochs (early stopping on val).

    Why L = 32 from 64 x 128 images, and oversampling 4 (docs/digits-experiment.md section 3): in
    the octave 32 <= l < 64 of these 8-bit images the 8-bit quantisation noise, which differs
    between a digit's two images, dominates the ink; and the modulus of a sparse image (ink on a
    black background) aliases far more than that of the Gaussian fields the default oversampling 2
    was set on. Measured on train digits (benchmarks/bench_digits_equivariance.py), median depth-2
    modulus / cross errors of the 8-bit images: 5.1 % / 10 % at L = 64, oversampling 2; 2.1 % / 3.3 %
    at L = 32, oversampling 2; 0.51 % / 0.81 % at L = 32, oversampling 4."""

    image_L: int = 64
    L: int = 32
    J0: int = 3
    oversampling: float = 4.0
    n_digits: int | None = None
    half_width_deg: float = 40.0
    n_seeds: int = 3
    epochs: int = 40
    seed: int = 2018
    workers: int | None = None
    data_dir: str = "data/digits"
    out_dir: str = "results/digits"

    def __post_init__(self) -> None:
        self.dataset(), self.scattering()  # validated up front: one-line errors before any work
        for name in ("n_seeds", "epochs", "workers"):
            value = getattr(self, name)
            if not (value is None and name == "workers") and (not isinstance(value, int) or value < 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")

    @classmethod
    def quick(cls, **overrides) -> "DigitsExperiment":
        """The same code path on 500 digits, 2 seeds and fewer epochs: minutes."""
        return replace(cls(n_digits=500, n_seeds=2, epochs=20, out_dir="results/digits-quick"), **overrides)

    def dataset(self) -> DigitsDatasetConfig:
        return DigitsDatasetConfig(L=self.image_L, n_digits=self.n_digits, half_width_deg=self.half_width_deg, seed=self.seed)

    def scattering(self) -> ScatteringConfig:
        return ScatteringConfig(L=self.L, J0=self.J0, oversampling=self.oversampling)


def digit_maps(cache: str) -> DigitMaps:
    index = read_cache_index(cache)
    group = zarr.open_group(cache, mode="r", use_consolidated=False)
    metadata = [json.loads(m) for m in group["maps/metadata"][:]]
    return DigitMaps(np.where(index.done, index.labels, -1), index.splits, np.array([int(m["digit"]) for m in metadata]),
                     np.array([m["orientation"] for m in metadata]), np.array([str(s) for s in group["maps/source"][:]]),
                     np.array([angles_from_row(m) for m in metadata]))


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


def coefficient_equivariance(cache: str, maps: DigitMaps, split: str = "test") -> dict[str, dict[str, float]]:
    """||S(rotated image) - R S(upright image)|| / ||S(rotated image)|| per channel kind and depth,
    for each digit of `split` (R its recorded rotation): median and 90th percentile over digits.
    This is the whole pipeline's equivariance on these files, quantisation included."""
    index = read_cache_index(cache)
    coefficients = zarr.open_group(cache, mode="r", use_consolidated=False)["coefficients"]
    errors: dict[tuple[str, int], list[float]] = {}
    for u, r in zip(maps.select("upright", split), maps.select("rotated", split)):
        expected = rotate_real(coefficients[u], index.L0, tuple(maps.angles[u]))
        for key, error in relative_error_by_channel(coefficients[r], expected, index.kinds, index.paths).items():
            errors.setdefault(key, []).append(error)
    return {f"{kind} depth {depth}": {"median": float(np.median(e)), "p90": float(np.quantile(e, 0.9)), "n": len(e)}
            for (kind, depth), e in errors.items()}


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
        if method in SCATTERING:
            exact = [r["exactly_rotated_agreement"] for r in runs["upright"]]
            agreement[method] |= {"exactly_rotated_agreement": float(np.mean(exact)), "exactly_rotated_agreement_seeds": exact}
    return {"accuracy": table, "rotation_agreement": agreement}


def run(exp: DigitsExperiment, progress: bool = True) -> dict:
    """Run the whole experiment; writes metrics.json, report.md and figures to exp.out_dir."""
    start = time.perf_counter()
    out = Path(exp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = generate_digits(exp.dataset(), exp.data_dir, progress)
    cache = str(manifest.with_name(f"scattering_{exp.scattering().hash()[:12]}.zarr"))
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
        "coefficient_equivariance": coefficient_equivariance(cache, maps),
        "epochs_run": {m: [r["epochs_run"] for j, r in results.items() if j.method == m] for m in METHODS},
        "training_seconds": {m: float(np.mean([r["seconds"] for j, r in results.items() if j.method == m])) for m in METHODS},
    }
    write_figures(maps, np.load(images, mmap_mode="r"), results, out)
    metrics["seconds"] = {"images_and_scattering": prepared - start, "training": trained - prepared, "total": time.perf_counter() - start}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_report(exp, metrics, out)
    return metrics
