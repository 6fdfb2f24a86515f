"""Every classifier of the digits experiment, trained on one orientation's images and asked for
both orientations' test images (docs/digits-experiment.md section 3).

``scattering_cnn`` / ``scattering_mlp``: the cached scattering coefficients of the images (the
equivariant spherical CNN, and the MLP on their rotation invariants), without augmentation: what
they keep under rotation comes from equivariance alone. ``planar_cnn`` / ``planar_cnn_augmented``:
a Conv2d network on the pixels of the same PNG files, without and with random rotations of the
sphere applied to every training image. Choices (early stopping) see the train and val images of
the training orientation only; test images are only predicted.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from downstream.train.config import TrainConfig

SCATTERING = {"scattering_cnn": {"model": "cnn", "oversampling": 4.0}, "scattering_mlp": {"model": "invariant_mlp"}}
"""Training options of the scattering methods. The CNN keeps the cache's bandlimit L0 in both
blocks (``TrainConfig.at_input_bandlimit``) and takes its grid nonlinearity at oversampling 4: chosen on the val
digits of a quick run (val accuracy 0.71-0.74 with the default halving 8 -> 4 -> 2, 0.86 with
8 -> 8 -> 8; upright/rotated agreement on val 0.96-0.98 at oversampling 2, 0.98-0.99 at 4)."""
PLANAR = {"planar_cnn": False, "planar_cnn_augmented": True}
"""Planar methods: whether training images are randomly rotated on the sphere."""
METHODS = (*SCATTERING, *PLANAR)


@dataclass(frozen=True)
class DigitMaps:
    """The maps of the digits cache: label, split, digit index, orientation, image file."""

    labels: np.ndarray
    splits: np.ndarray
    digits: np.ndarray
    orientations: np.ndarray
    sources: np.ndarray
    angles: np.ndarray
    """(n_maps, 3): the recorded ZYZ rotation of each map's digit (its rotated image's)."""

    def select(self, orientation: str, split: str | None = None) -> np.ndarray:
        """Indices of the maps of one orientation (and split), ordered by digit."""
        keep = (self.orientations == orientation) & (self.labels >= 0)
        if split is not None:
            keep &= self.splits == split
        chosen = np.flatnonzero(keep)
        return chosen[np.argsort(self.digits[chosen], kind="stable")]


@dataclass(frozen=True)
class Job:
    method: str
    seed: int
    trained_on: str
    epochs: int


def train_config(job: Job) -> TrainConfig:
    return replace(TrainConfig(epochs=job.epochs, in_memory=True, threads=1, seed=job.seed, patience=8),
                   **SCATTERING.get(job.method, {}))


def _exactly_rotated_agreement(model, index, maps: DigitMaps, config: TrainConfig) -> float:
    """Agreement of the model's predictions on the upright test coefficients and on the same
    coefficients rotated exactly (Wigner-D) by each digit's rotation: the model's own invariance,
    apart from the differences between a digit's two images."""
    import torch

    from downstream.data.dataset import CacheDataset
    from downstream.nn.equivariance import rotate_tensor

    chosen = maps.select("upright", "test")
    data = CacheDataset(index, chosen, dtype=torch.float64, input_paths=config.input_channels(index), in_memory=True)
    x = torch.stack([data[i][0] for i in range(len(data))])
    rotated = torch.stack([rotate_tensor(x[i], index.L0, tuple(maps.angles[m])) for i, m in enumerate(chosen)])
    model = model.to(torch.float64).eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == model(rotated).argmax(1)).double().mean())


def _scattering_job(cache: str, maps: DigitMaps, job: Job) -> dict:
    from downstream.data.index import read_cache_index
    from downstream.train.training import predict_maps, train

    index = read_cache_index(cache)
    config = train_config(job).at_input_bandlimit(index.L0)
    result = train(cache, config, progress=False, maps=maps.select(job.trained_on))
    tested = {o: predict_maps(result.model, index, maps.select(o, "test"), config) for o in ("upright", "rotated")}
    exact = _exactly_rotated_agreement(result.model, index, maps, config) if job.trained_on == "upright" else None
    return {"predicted": tested, "exactly_rotated_agreement": exact, "epochs_run": result.metrics["epochs_run"], "seconds": result.metrics["seconds"],
            "n_train": result.metrics["splits"]["train"], "val_accuracy": result.metrics["val"]["accuracy"]}


def _planar_job(images_path: str, maps: DigitMaps, job: Job) -> dict:
    import time

    import torch

    from downstream.data.dataset import make_loader
    from downstream.digits.planar import ImageDataset, PlanarCNN, PlanarConfig, SphereRotationResampler
    from downstream.train.fitting import fit, predict, reproducible
    from downstream.train.training import EVAL_BATCH

    start = time.perf_counter()
    images = np.load(images_path, mmap_mode="r")
    config = train_config(job)
    device = torch.device("cpu")
    n_classes = int(maps.labels.max()) + 1
    height = images.shape[1]

    def loader(orientation: str, split: str, augment: bool = False):
        chosen = maps.select(orientation, split)
        data = ImageDataset(images[chosen], maps.labels[chosen], SphereRotationResampler(height) if augment else None)
        return make_loader(data, config.batch_size if split == "train" else EVAL_BATCH, shuffle=split == "train", seed=job.seed)

    with reproducible(job.seed, device, config.threads):
        model = PlanarCNN(PlanarConfig(height, n_classes))
        history = fit(model, loader(job.trained_on, "train", PLANAR[job.method]), loader(job.trained_on, "val"), config, device, progress=False)
        tested = {o: predict(model, loader(o, "test"), device)[0].argmax(dim=1).numpy() for o in ("upright", "rotated")}
    return {"predicted": tested, "epochs_run": len(history), "seconds": time.perf_counter() - start,
            "n_train": len(maps.select(job.trained_on, "train")),
            "val_accuracy": min(history, key=lambda row: row["val_loss"])["val_accuracy"]}


def run_jobs(cache: str, images_path: str, maps: DigitMaps, jobs: list[Job], workers: int | None, progress: bool) -> dict[Job, dict]:
    """Train every job, `workers` at a time in separate processes (one torch thread each)."""
    from tqdm.auto import tqdm

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=context) as pool:
        futures = {job: pool.submit(_scattering_job, cache, maps, job) if job.method in SCATTERING
                   else pool.submit(_planar_job, images_path, maps, job) for job in jobs}
        return {job: future.result() for job, future in tqdm(futures.items(), desc="training", disable=not progress)}
