"""Every classifier of the CMB benchmark, run on one amplitude's maps (docs/cmb-experiment.md
sections 5-7): the learned ones on the scattering cache (several training seeds each), the
classical ones on per-map statistics. Each returns, per seed, the test maps and whether each was
classified correctly, so that curves and bootstrap intervals come from the same numbers.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np

from downstream.cmb.classical import fit_predict, log_binned_spectrum
from downstream.cmb.sweep_data import SweepMaps
from downstream.train.config import TrainConfig
from downstream.train.job_store import JobStore, job_key, keep_finished

CNN = {"model": "cnn", "augment": True, "input_means": True, "head_norm": True, "restarts": 2}
MLP = {"model": "invariant_mlp", "head_norm": True, "restarts": 2}
LEARNED = {
    "scattering_cnn": CNN,
    "scattering_mlp": MLP,
    "scattering_cnn_modulus": CNN | {"kinds": ("modulus",)},
    "scattering_mlp_modulus": MLP | {"kinds": ("modulus",)},
    "lowres_cnn": CNN | {"max_depth": 0, "kinds": ("modulus",)},
    "scattering_mlp_signed_square": MLP | {"kinds": ("modulus", "signed_square")},
    "scattering_mlp_cross": MLP | {"kinds": ("modulus", "cross")},
}
"""Learned methods: options of the TrainConfig each is trained with (the default sign-aware
scattering is every kind of the cache; the last two are the ablation of the odd kinds). The CNNs'
heads also read the input channels' means (``ModelConfig.input_means``), and every network's head
batch-normalises its invariants (``ModelConfig.head_norm``), on the full sky. A network that
collapsed (one class predicted for every validation map) is trained again from up to two new
initialisations (``downstream.train.fitting``)."""
CLASSICAL = ("power_spectrum", "skewness", "kurtosis", "band_moments", "minkowski", "optimal_cubic",
             "scattering_linear", "scattering_linear_modulus")
"""Methods fitted by ``downstream.cmb.classical``; the last two are the scattering invariants
read linearly: the mean over the sphere of every channel (all kinds, or the modulus ones)."""


def train_config(method: str, seed: int, epochs: int, L0: int, masked: bool = False) -> TrainConfig:
    """The method's options; CNN blocks keep the cache's bandlimit L0. On a masked cache: no rotation
    augmentation (a fixed mask is not rotation-invariant: docs/masks.md section 4), no input means
    (they would include the contaminated sky), no head normalisation (it raised the validation loss
    on the cut sky: docs/cmb-experiment.md section 5)."""
    options = LEARNED[method] | ({"augment": False, "input_means": False, "head_norm": False} if masked else {})
    return replace(TrainConfig(epochs=epochs, in_memory=True, threads=1, seed=seed), **options).at_input_bandlimit(L0)


RESULT_FIELDS = ("maps", "predicted", "val_accuracy", "epochs_run", "seconds", "n_test", "n_train", "n_val", "attempt",
                 "attempt_val_losses", "attempt_collapsed")
"""What a learned job returns (and what a stored job must hold to be read back)."""


def _learned_job(cache: str, method: str, seed: int, epochs: int, maps: np.ndarray) -> dict:
    from downstream.data.index import open_cache, read_cache_index
    from downstream.train.training import train

    masked = bool(open_cache(cache).attrs.get("mask"))
    result = train(cache, train_config(method, seed, epochs, read_cache_index(cache).L0, masked), progress=False, maps=maps)
    test_maps, predicted = result.predictions["test"]
    labels = result.metrics["test"]
    return {"maps": test_maps, "predicted": predicted, "val_accuracy": result.metrics["val"]["accuracy"],
            "epochs_run": result.metrics["epochs_run"], "seconds": result.metrics["seconds"], "n_test": labels["n"],
            "n_train": result.metrics["splits"]["train"], "n_val": result.metrics["splits"]["val"],
            "attempt": result.metrics["attempt"],
            "attempt_val_losses": np.array([a["best_val_loss"] for a in result.metrics["attempts"]]),
            "attempt_collapsed": np.array([a["collapsed"] for a in result.metrics["attempts"]])}


def job_keys(cache: str, jobs: list[tuple[str, int, float, np.ndarray]], epochs: int) -> dict[tuple[str, int, float], str]:
    """The ``downstream.train.job_store`` key of every (method, seed, f, maps) job on `cache`: its
    configuration hash and mask, the maps (indices, sources, labels, splits), the job's TrainConfig
    and the device it resolves to."""
    import torch

    from downstream.data.index import open_cache, read_cache_index

    group, index = open_cache(cache), read_cache_index(cache)
    masked, sources = bool(group.attrs.get("mask")), group["maps/source"][:]
    keys = {}
    for method, seed, f, maps in jobs:
        config = train_config(method, seed, epochs, index.L0, masked)
        device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
        keys[method, seed, f] = job_key({
            "cache_config_hash": group.attrs["config_hash"], "mask": group.attrs.get("mask"), "maps": [int(i) for i in maps],
            "sources": [str(sources[i]) for i in maps], "labels": index.labels[maps].tolist(),
            "splits": [str(s) for s in index.splits[maps]], "train": config.to_dict(), "device": device})
    return keys


def run_learned(cache: str, jobs: list[tuple[str, int, float, np.ndarray]], epochs: int, workers: int | None,
                progress: bool) -> dict[tuple[str, int, float], dict]:
    """Train every (method, seed, f, maps) job, `workers` at a time in separate processes (one
    torch thread each); returns the test predictions of each, keyed by (method, seed, f), with
    "read_back": True for the jobs found finished in ``<cache>.training/`` (``downstream.train.job_store``).
    Each job is stored there as it finishes, so a rerun after an interruption or a failed job
    trains only the jobs not finished (those running at the interruption start again)."""
    from tqdm.auto import tqdm

    store, keys = JobStore(f"{cache}.training"), job_keys(cache, jobs, epochs)
    out = {job: saved | {"read_back": True} for job, key in keys.items() if (saved := store.load(key, RESULT_FIELDS)) is not None}

    def keep(job: tuple[str, int, float], result: dict) -> None:
        store.save(keys[job], result)
        out[job] = result | {"read_back": False}

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=context) as pool:
        futures = {pool.submit(_learned_job, cache, m, s, epochs, maps): (m, s, f) for m, s, f, maps in jobs if (m, s, f) not in out}
        keep_finished(pool, futures, keep, lambda finished: tqdm(finished, total=len(futures), desc="training", disable=not progress))
    return out


def feature_tables(statistics: dict[str, np.ndarray], input_spectra: np.ndarray, means: np.ndarray,
                   kinds: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The feature matrix (n_maps, dim) of every classical method: the map statistics, the binned
    input power spectrum, the channel means of the cache (all, and the modulus channels)."""
    modulus = np.array([k == "modulus" for k in kinds])
    return {**statistics, "power_spectrum": log_binned_spectrum(input_spectra), "scattering_linear": means,
            "scattering_linear_modulus": means[:, modulus]}


def run_classical(method: str, X: np.ndarray, maps: SweepMaps, subset: np.ndarray, seed: int) -> dict:
    """Fit on the train and val maps of `subset` (the penalty by cross-validation on them), predict its test maps."""
    fit = subset[np.isin(maps.splits[subset], ("train", "val"))]
    test = subset[maps.splits[subset] == "test"]
    predicted, penalty = fit_predict(X[fit], maps.labels[fit], X[test], seed)
    return {"maps": test, "predicted": predicted, "penalty": penalty, "n_train": len(fit), "n_test": len(test)}
