"""Figures of a training run: learning curves and confusion matrix.

Figures are ``matplotlib.figure.Figure`` objects written with their own Agg canvas: no pyplot
state and no global backend switch, so importing this module changes nothing in a notebook.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs):
    """(figure, axes) like ``pyplot.subplots``, outside pyplot (constrained layout)."""
    fig = Figure(figsize=kwargs.pop("figsize", None), constrained_layout=True)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def plot_learning_curves(history: list[dict], path: str | Path) -> Path:
    """Loss and accuracy per epoch, training and validation, from `train`'s history."""
    epochs = [h["epoch"] for h in history]
    fig, axes = new_figure(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "accuracy")):
        for split in ("train", "val"):
            ax.plot(epochs, [h[f"{split}_{key}"] for h in history], marker="o", ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.savefig(path, dpi=120)
    return Path(path)


def plot_confusion(confusion: list[list[int]], path: str | Path, title: str = "") -> Path:
    """Confusion matrix (rows: true class, columns: predicted class) with counts."""
    matrix = np.asarray(confusion)
    fig, ax = new_figure(figsize=(1.2 * len(matrix) + 2, 1.2 * len(matrix) + 1.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="black" if count <= matrix.max() / 2 else "white")
    ax.set_xticks(range(len(matrix)))
    ax.set_yticks(range(len(matrix)))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.savefig(path, dpi=120)
    return Path(path)
