"""Figures of a training run: learning curves and confusion matrix (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_learning_curves(history: list[dict], path: str | Path) -> Path:
    """Loss and accuracy per epoch, training and validation, from `train`'s history."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
    for ax, key in zip(axes, ("loss", "accuracy")):
        for split in ("train", "val"):
            ax.plot(epochs, [h[f"{split}_{key}"] for h in history], marker="o", ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_confusion(confusion: list[list[int]], path: str | Path, title: str = "") -> Path:
    """Confusion matrix (rows: true class, columns: predicted class) with counts."""
    matrix = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(1.2 * len(matrix) + 2, 1.2 * len(matrix) + 1.5), constrained_layout=True)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="black" if count <= matrix.max() / 2 else "white")
    ax.set_xticks(range(len(matrix)))
    ax.set_yticks(range(len(matrix)))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
