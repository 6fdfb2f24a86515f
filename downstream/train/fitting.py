"""The optimisation loop of the downstream classifiers: seeded and deterministic runs, AdamW
with early stopping on the validation loss, and restarts of a collapsed run.

A run has collapsed when, at its best epoch, it predicts one class for every validation map
although the validation maps hold several: the signature of a head that the first optimiser
steps silenced (docs/cmb-experiment.md section 5). Restarts are decided on validation maps only:
another initialisation is tried while every attempt so far has collapsed, and the attempt kept is
the first that did not collapse (else the one with the lowest validation loss).
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
    without improvement and restores the best epoch's weights (``best_epoch`` of the history).
    Returns the per-epoch history."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history, best_loss, best_state, stale = [], math.inf, None, 0
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        row = {"epoch": epoch, **_train_epoch(model, train_loader, optimizer, device, f"epoch {epoch}/{config.epochs}", progress)}
        val = classification_metrics(*predict(model, val_loader, device), model.config.n_classes)
        confusion = np.array(val["confusion"])
        row.update(val_loss=val["loss"], val_accuracy=val["accuracy"], val_classes=int((confusion.sum(1) > 0).sum()),
                   val_classes_predicted=int((confusion.sum(0) > 0).sum()), seconds=time.perf_counter() - start)
        history.append(row)
        if progress:
            tqdm.write(f"epoch {epoch}: train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.3f}, "
                       f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.3f}")
        loss = comparable_loss(row["val_loss"])
        if loss < best_loss or best_state is None:
            best_loss, stale = loss, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    return history


def comparable_loss(loss: float) -> float:
    """A loss to compare with others: NaN counts as infinite, so it is never the best."""
    return math.inf if math.isnan(loss) else loss


def best_epoch(history: list[dict]) -> dict:
    """The epoch whose weights ``fit`` keeps: the lowest validation loss (NaN counts as infinite)."""
    return min(history, key=lambda row: comparable_loss(row["val_loss"]))


def collapsed(history: list[dict]) -> bool:
    """Whether a run's kept epoch predicts one class for every validation map although they hold several."""
    row = best_epoch(history)
    return row["val_classes_predicted"] <= 1 < row["val_classes"]


def attempt_seed(seed: int, attempt: int) -> int:
    """Seed of initialisation and shuffling of restart `attempt` (0: `seed` itself, so a run
    that does not collapse is unchanged; later ones hashed from (seed, attempt), distinct from
    every other run's first seed with overwhelming probability)."""
    if attempt == 0:
        return seed
    return int(np.random.SeedSequence([seed, attempt]).generate_state(1, np.uint64)[0] >> np.uint64(1))
