"""Every classifier of the lensing experiment (docs/lensing-experiment.md section 3), all given the
same maps, splits and shear files.

On the scattering caches of the shear maps, for each spin-2 route: ``scattering_cnn`` /
``scattering_mlp`` (the equivariant spherical CNN, and the MLP on rotation invariants; learned,
early stopping on val, several seeds) and ``scattering_linear`` (the channel means, logistic
regression: what a linear read-out of the cache gives), on the default route "eb" (E and B each
scattered as a scalar map, sign-aware channels included); the same with suffix ``_modulus`` on the
spin-2 modulus route (channels E * Phi, B * Phi and the tree of |gamma_j|). Classical, on per-map
statistics of the shear files (``downstream.lensing.statistics``): ``shear_spectra`` (log-binned
C_l^EE; C_l^BB is zero to rounding in both classes) and ``convergence_moments`` (skewness and
kurtosis of the Kaiser-Squires convergence, plain, smoothed and high-passed). Every logistic
regression is ``downstream.cmb.classical``'s (penalty by cross-validation on the train maps).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from downstream.train.config import TrainConfig

SCATTERING = {
    "scattering_cnn": ("eb", {"model": "cnn"}),
    "scattering_mlp": ("eb", {"model": "invariant_mlp"}),
    "scattering_cnn_modulus": ("modulus", {"model": "cnn"}),
    "scattering_mlp_modulus": ("modulus", {"model": "invariant_mlp"}),
}
"""Learned methods: (spin-2 route of the cache they read, training options)."""
LINEAR = {"scattering_linear": "eb", "scattering_linear_modulus": "modulus"}
"""Channel means of a route's cache + logistic regression."""
CLASSICAL = (*LINEAR, "shear_spectra", "convergence_moments")
METHODS = (*SCATTERING, *CLASSICAL)


@dataclass(frozen=True)
class Job:
    """One training run: a learned method, a seed, on the maps of one lognormal shift."""

    method: str
    seed: int
    epochs: int
    shift: float


def train_config(job: Job) -> TrainConfig:
    """The CNN keeps the cache's bandlimit L0 in both blocks, as in the CMB and digits experiments
    (``TrainConfig.at_input_bandlimit``); no choice here was made on test maps."""
    return replace(TrainConfig(epochs=job.epochs, in_memory=True, threads=1, seed=job.seed, patience=8), **SCATTERING[job.method][1])


def _scattering_job(cache: str, job: Job) -> dict:
    from downstream.data.index import read_cache_index
    from downstream.train.training import train

    config = train_config(job).at_input_bandlimit(read_cache_index(cache).L0)
    result = train(cache, config, progress=False)
    maps, predicted = result.predictions["test"]
    return {"maps": maps, "predicted": predicted, "val_accuracy": result.metrics["val"]["accuracy"],
            "n_train": result.metrics["splits"]["train"], "epochs_run": result.metrics["epochs_run"], "seconds": result.metrics["seconds"]}


def run_learned(caches: dict[tuple[float, str], str], jobs: list[Job], workers: int | None, progress: bool) -> dict[Job, dict]:
    """Train every job on the cache of its (shift, route), `workers` at a time in separate
    processes (one torch thread each)."""
    from tqdm.auto import tqdm

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=context) as pool:
        futures = {job: pool.submit(_scattering_job, caches[job.shift, SCATTERING[job.method][0]], job) for job in jobs}
        return {job: future.result() for job, future in tqdm(futures.items(), desc="training", disable=not progress)}


def classical_features(features: dict[str, np.ndarray], means: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The feature matrix of each classical method: ``statistics.feature_table``'s columns, and the
    channel means of each route's cache (`means`: route -> (n_maps, n_channels))."""
    from downstream.cmb.classical import log_binned_spectrum

    return {**{method: means[route] for method, route in LINEAR.items()},
            "shear_spectra": log_binned_spectrum(features["cl_ee"]), "convergence_moments": features["moments"]}


def run_classical(features: dict[str, np.ndarray], means: dict[str, np.ndarray], labels: np.ndarray, splits: np.ndarray) -> dict[str, dict]:
    """Fit each classical method on the train maps (penalty by cross-validation there), predict the test maps."""
    from downstream.cmb.classical import fit_predict

    train, test = splits == "train", splits == "test"
    out = {}
    for method, x in classical_features(features, means).items():
        predicted, penalty = fit_predict(x[train], labels[train], x[test])
        out[method] = {"maps": np.flatnonzero(test), "predicted": predicted, "penalty": penalty, "n_train": int(train.sum())}
    return out
