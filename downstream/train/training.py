"""Training and evaluation of the downstream classifiers on a scattering cache.

The spherical CNN of Cobb et al. (ICLR 2021, arXiv:2010.11661) trained on cached scattering
coefficients, as in McEwen, Wallis & Mavor-Parker (ICLR 2022, arXiv:2102.02828): the scattering
layer ran once, offline; here only the small network is trained. Library functions
:func:`train` and :func:`evaluate` do everything the ``scatter-train`` / ``scatter-evaluate``
commands do. Runs are reproducible on CPU (seeded initialisation, shuffling, workers and
augmentation; deterministic algorithms).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from downstream.data.augment import RandomRotation
from downstream.data.dataset import CacheDataset, make_loader
from downstream.data.index import SPLITS, CacheIndex, read_cache_index, select_maps
from downstream.nn.models import ModelConfig, build_model, n_parameters
from downstream.nn.normalization import fit_normalization
from downstream.train.checkpoint import load_checkpoint, save_checkpoint
from downstream.train.config import DTYPES, TrainConfig, resolve_device
from downstream.train.fitting import (
    attempt_seed,
    best_epoch,
    classification_metrics,
    collapsed,
    comparable_loss,
    fit,
    predict,
    reproducible,
)
from downstream.train.plots import plot_confusion, plot_learning_curves
from pipeline.errors import InputError

EVAL_BATCH = 64


@dataclass
class TrainResult:
    """The trained model (best validation epoch, eval mode), its metrics (as in metrics.json) and
    the output directory (None when nothing was written)."""

    model: nn.Module
    metrics: dict
    out_dir: Path | None
    predictions: dict[str, tuple[np.ndarray, np.ndarray]]
    """Per split evaluated: (map indices, predicted labels)."""


def _regions(index: CacheIndex, model: ModelConfig) -> dict:
    """How items bring their own valid regions (a masked model on a cache with per-map masks): the
    grid bandlimit, and one region per channel for the MLP (as with a shared mask: ``_shared_region``)."""
    if not (index.layout.per_map_mask and model.masked_pooling):
        return {}
    return {"region_grid": 2 * model.pooled_bandlimit, "region_per_channel": model.kind == "invariant_mlp"}


def _shared_region(index: CacheIndex, model: ModelConfig, channels: np.ndarray) -> np.ndarray:
    """Where a model on a cache with a shared mask pools: the MLP each channel over its own valid
    region (C, ntheta, nphi), the CNN (whose features mix channels) where every channel is valid."""
    L_grid = 2 * model.pooled_bandlimit
    if model.kind == "invariant_mlp":
        region = np.stack([index.valid_region(channels[k : k + 1], L_grid) for k in range(len(channels))])
        empty = [list(index.paths[c]) for c, r in zip(channels, region) if not r.any()]
        if empty:
            raise InputError(f"cache {index.path!r}: channel(s) {empty} have no valid sky; select other channels "
                             "(--kinds, --max-depth, --fields) or make the cache with a larger validity tolerance or J0")
        return region
    region = index.valid_region(channels, L_grid)
    if not region.any():
        raise InputError(f"cache {index.path!r}: no sky where every selected channel is valid; select fewer channels "
                         "(--kinds, --max-depth, --fields) or make the cache with a larger validity tolerance or J0")
    return region


def _datasets(index: CacheIndex, config: TrainConfig, subset: np.ndarray | None, regions: dict) -> dict[str, CacheDataset]:
    datasets = {}
    for split in SPLITS:
        maps = select_maps(index, split, config.fractions, config.split_seed)
        if subset is not None:
            maps = np.intersect1d(maps, subset)
        augment = RandomRotation(index.L0) if config.augment and split == "train" else None
        datasets[split] = CacheDataset(index, maps, dtype=DTYPES[config.dtype], transform=augment, in_memory=config.in_memory,
                                       input_paths=config.input_channels(index), **regions)
    for split in ("train", "val"):
        if len(datasets[split]) == 0:
            raise InputError(f"cache {index.path!r} has no done, labelled maps in the {split!r} split; both train and val are required")
    return datasets


def _lone_last_batch(model: ModelConfig, n_maps: int, batch_size: int) -> bool:
    """Whether training batches would end with a single map, which batch normalisation of the head
    cannot take (the shuffled map left out changes every epoch)."""
    if model.head_norm and n_maps < 2:
        raise InputError("head_norm (batch normalisation of the head's inputs) needs at least 2 training maps")
    return model.head_norm and n_maps % batch_size == 1


def _lower_loss(attempt: dict, other: dict) -> bool:
    """Whether `attempt` beats `other`: not collapsed, or a lower validation loss (NaN counts as infinite)."""
    return not attempt["collapsed"] or comparable_loss(attempt["best_val_loss"]) < comparable_loss(other["best_val_loss"])


def _cache_summary(index: CacheIndex) -> dict:
    return {"path": index.path, "config_hash": index.config_hash, "L0": index.L0, "n_paths": index.n_paths,
            "n_classes": index.n_classes, "paths": [list(p) for p in index.paths]}


def _write_report(out_dir: str | Path, metrics: dict, result: dict, split: str, suffix: str = "") -> Path:
    """metrics<suffix>.json and confusion<suffix>.png (of `result`, on `split`) in out_dir (created)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"metrics{suffix}.json").write_text(json.dumps(metrics, indent=2))
    plot_confusion(result["confusion"], out_dir / f"confusion{suffix}.png", f"{split}: accuracy {result['accuracy']:.3f}")
    return out_dir


def train(cache_path: str, config: TrainConfig = TrainConfig(), out_dir: str | Path | None = None,
          *, progress: bool = True, maps: np.ndarray | None = None) -> TrainResult:
    """Train `config.model` on the train split of a cache, early-stopped on its val split; report
    val and test metrics. `maps` restricts every split to those map indices (e.g. one class pair
    of a sweep). A run that collapsed (one class predicted for every validation map) is trained
    again from up to `config.restarts` new initialisations (``downstream.train.fitting``). With
    `out_dir`: writes checkpoint.pt, metrics.json, learning_curves.png and confusion.png there."""
    index = read_cache_index(cache_path)
    device = resolve_device(config.device)
    start = time.perf_counter()
    with reproducible(config.seed, device, config.threads):
        model_config = config.model_config(len(config.input_channels(index)), index.L0, index.n_classes, masked=index.layout.masked,
                                          per_item=index.layout.per_map_mask)
        datasets = _datasets(index, config, None if maps is None else np.asarray(maps), _regions(index, model_config))
        statistics = CacheDataset(index, datasets["train"].maps, dtype=torch.float64, input_paths=datasets["train"].input_paths)
        normalization = fit_normalization((x for x, _ in make_loader(statistics, EVAL_BATCH, shuffle=False,
                                                                      num_workers=config.num_workers)), index.L0)
        region = (torch.from_numpy(_shared_region(index, model_config, datasets["train"].input_paths))
                  if model_config.masked_pooling and not index.layout.per_map_mask else None)
        attempts, kept = [], None
        for attempt in range(1 + config.restarts):
            seed = attempt_seed(config.seed, attempt)
            torch.manual_seed(seed)
            model = build_model(model_config)
            if region is not None:
                model.invariants.set_region(region)
            model.normalize.set_statistics(*normalization)
            model.to(device=device, dtype=DTYPES[config.dtype])
            loaders = {split: make_loader(ds, config.batch_size if split == "train" else EVAL_BATCH, shuffle=split == "train",
                                          seed=seed, num_workers=config.num_workers,
                                          drop_last=split == "train" and _lone_last_batch(model_config, len(ds), config.batch_size))
                       for split, ds in datasets.items() if len(ds)}
            history = fit(model, loaders["train"], loaders["val"], config, device, progress)
            attempts.append({"seed": seed, "best_val_loss": best_epoch(history)["val_loss"], "collapsed": collapsed(history),
                             "epochs_run": len(history)})
            if kept is None or attempts[kept[0]]["collapsed"] and _lower_loss(attempts[-1], attempts[kept[0]]):
                kept = (attempt, model, history, loaders)
            if not attempts[-1]["collapsed"]:
                break
        chosen, model, history, loaders = kept
        outputs = {split: predict(model, loaders[split], device) for split in ("val", "test") if split in loaders}
        results = {split: classification_metrics(*output, index.n_classes) for split, output in outputs.items()}
    best = best_epoch(history)
    metrics = {"cache": _cache_summary(index), "config": config.to_dict(), "model": model_config.to_dict(),
               "n_parameters": n_parameters(model), "device": str(device),
               "splits": {split: len(ds) for split, ds in datasets.items()}, "epochs_run": len(history),
               "best_epoch": best["epoch"], "seconds": time.perf_counter() - start, "history": history,
               "attempt": chosen, "attempts": attempts, **results}
    if out_dir is not None:
        report = "test" if "test" in results else "val"
        out_dir = _write_report(out_dir, metrics, results[report], report)
        save_checkpoint(out_dir / "checkpoint.pt", model, train_config=config.to_dict(), cache=metrics["cache"])
        plot_learning_curves(history, out_dir / "learning_curves.png")
    predictions = {split: (datasets[split].maps, logits.argmax(dim=1).numpy()) for split, (logits, _) in outputs.items()}
    return TrainResult(model, metrics, out_dir, predictions)


def predict_maps(model: nn.Module, index: CacheIndex, maps: np.ndarray, config: TrainConfig,
                 device: torch.device = torch.device("cpu")) -> np.ndarray:
    """Predicted labels of a trained model for any maps of a cache (e.g. another orientation's
    test maps than it was trained on), read with the channels `config` selects."""
    dataset = CacheDataset(index, np.asarray(maps), dtype=next(model.parameters()).dtype, input_paths=config.input_channels(index),
                           **_regions(index, model.config))
    logits, _ = predict(model, make_loader(dataset, EVAL_BATCH, shuffle=False), device)
    return logits.argmax(dim=1).numpy()


def evaluate(checkpoint: str | Path, cache_path: str, split: str = "test", *, out_dir: str | Path | None = None,
             batch_size: int = EVAL_BATCH, num_workers: int = 0, device: str = "auto", threads: int = 1) -> dict:
    """Metrics of a checkpoint on one split of a cache made with the same scattering config
    (the split is chosen as in training: stored column, or the training run's seeded split).
    With `out_dir`: writes metrics_<split>.json and confusion_<split>.png there."""
    target = resolve_device(device)
    model, info = load_checkpoint(checkpoint, target)
    index = read_cache_index(cache_path)
    trained_on = info["cache"]
    if (index.config_hash, index.n_paths, index.L0) != (trained_on["config_hash"], trained_on["n_paths"], trained_on["L0"]):
        raise InputError(f"cache {cache_path!r} (config_hash {index.config_hash[:12]}, P = {index.n_paths}, L0 = {index.L0}) does not match "
                         f"the checkpoint's training cache (config_hash {trained_on['config_hash'][:12]}, P = {trained_on['n_paths']}, L0 = {trained_on['L0']})")
    if index.n_classes > model.config.n_classes:
        raise InputError(f"cache {cache_path!r} has labels up to {index.n_classes - 1}; the model knows {model.config.n_classes} classes")
    config = TrainConfig.from_dict(info["train_config"])
    maps = select_maps(index, split, config.fractions, config.split_seed)
    if len(maps) == 0:
        raise InputError(f"cache {cache_path!r} has no done, labelled maps in the {split!r} split")
    dataset = CacheDataset(index, maps, dtype=next(model.parameters()).dtype, input_paths=config.input_channels(index),
                           **_regions(index, model.config))
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers)
    with reproducible(0, target, threads):
        results = classification_metrics(*predict(model, loader, target), model.config.n_classes)
    metrics = {"checkpoint": str(checkpoint), "cache": _cache_summary(index), "split": split, **results}
    if out_dir is not None:
        _write_report(out_dir, metrics, metrics, split, f"_{split}")
    return metrics
