"""The optimisation loop of the downstream classifiers: seeded and deterministic runs, AdamW
with early stopping on the validation loss, and restarts of a run that learned nothing.

A restart is decided on validation maps only: a run whose best validation loss is not
RESTART_MARGIN below the chance loss (a constant prediction of the training classes' frequencies)
has a head that the first optimiser steps silenced (docs/cmb-experiment.md section 5); another
initialisation is then tried, and the attempt with the lowest validation loss is kept.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from downstream.train.config import TrainConfig

RESTART_MARGIN = 0.01
"""A run has learned something when its best validation loss is below (1 - RESTART_MARGIN) x the chance loss."""


@contextmanager
def reproducible(seed: int, device: torch.device, threads: int = 0):
    """For the block: seed torch, switch on deterministic algorithms (warn-only off CPU) and,
    if `threads` > 0, use that many CPU threads; previous settings are restored afterwards."""
    previous = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    torch.set_num_threads(threads or previous[1])
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])


def _logits(model: nn.Module, x, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The model on a batch: coefficients, or (coefficients, regions) from a cache with per-map masks."""
    inputs = x if isinstance(x, (tuple, list)) else (x,)
    return model(*(t.to(device, dtype) for t in inputs))


def predict(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) over a loader, on CPU."""
    model.eval()
    dtype = next(model.parameters()).dtype
    logits, labels = [], []
    with torch.no_grad():
        for x, y in loader:
            logits.append(_logits(model, x, device, dtype).cpu())
            labels.append(y)
    return torch.cat(logits), torch.cat(labels)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, n_classes: int) -> dict:
    """Number of maps, mean cross-entropy, accuracy and confusion matrix [true][predicted]."""
    predicted = logits.argmax(dim=1)
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)
    confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    return {
        "n": len(labels),
        "loss": float(F.cross_entropy(logits.double(), labels)),
        "accuracy": float((predicted == labels).double().mean()),
        "confusion": confusion.tolist(),
    }


def _train_epoch(model, loader, optimizer, device, desc: str, progress: bool) -> dict:
    model.train()
    dtype = next(model.parameters()).dtype
    total, correct, n = 0.0, 0, 0
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch")
    for x, y in bar:
        y = y.to(device)
        logits = _logits(model, x, device, dtype)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        correct += int((logits.argmax(dim=1) == y).sum())
        n += len(y)
        bar.set_postfix(loss=f"{total / n:.4f}")
    return {"train_loss": total / n, "train_accuracy": correct / n}


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader, config: TrainConfig,
        device: torch.device, progress: bool = True) -> list[dict]:
    """AdamW with early stopping on the validation loss: stops after `config.patience` epochs
    without improvement and restores the best epoch's weights. Returns the per-epoch history."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history, best_loss, best_state, stale = [], math.inf, None, 0
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        row = {"epoch": epoch, **_train_epoch(model, train_loader, optimizer, device, f"epoch {epoch}/{config.epochs}", progress)}
        val = classification_metrics(*predict(model, val_loader, device), model.config.n_classes)
        row.update(val_loss=val["loss"], val_accuracy=val["accuracy"], seconds=time.perf_counter() - start)
        history.append(row)
        if progress:
            tqdm.write(f"epoch {epoch}: train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.3f}, "
                       f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.3f}")
        if row["val_loss"] < best_loss or best_state is None:
            best_loss, stale = row["val_loss"], 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    return history


def chance_loss(train_labels: np.ndarray, val_labels: np.ndarray) -> float:
    """Cross-entropy on the validation labels of the constant prediction of the training split's
    class frequencies (log 2 for two balanced classes); inf when a validation class has no training map."""
    classes, counts = np.unique(np.asarray(train_labels), return_counts=True)
    frequency = dict(zip(classes.tolist(), (counts / counts.sum()).tolist()))
    val_labels = np.asarray(val_labels).tolist()
    if not val_labels or any(label not in frequency for label in val_labels):
        return math.inf
    return -float(np.mean([math.log(frequency[label]) for label in val_labels]))


def learned_nothing(best_val_loss: float, chance: float) -> bool:
    """Whether a run's best validation loss is not RESTART_MARGIN below the chance loss."""
    return not best_val_loss < (1.0 - RESTART_MARGIN) * chance


def attempt_seed(seed: int, attempt: int) -> int:
    """Seed of initialisation and shuffling of restart `attempt` (0: `seed` itself, so a run
    without restarts is unchanged; later ones hashed from (seed, attempt), distinct from every
    other run's first seed with overwhelming probability)."""
    if attempt == 0:
        return seed
    return int(np.random.SeedSequence([seed, attempt]).generate_state(1, np.uint64)[0] >> np.uint64(1))
