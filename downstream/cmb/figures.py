"""Figures of the CMB benchmark (``downstream.cmb.experiment``; docs/cmb-experiment.md sections 5-8):
example maps of both classes, the scattering channels of one map, accuracy versus f."""

from __future__ import annotations

import math
from pathlib import Path

from downstream.cmb.report import NAMES
from downstream.data.index import CacheIndex, open_cache, read_cache_index, select_maps
from downstream.train.plots import new_figure
from pipeline.io.readers import ReaderOptions, read_map
from pipeline.sphere.alm import real_to_complex
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import alm_to_map

CLASS_NAMES = ("Gaussian", "non-Gaussian")


def plot_example_maps(index: CacheIndex, path: Path) -> None:
    """The first test map of each class, read back from its input file (equirectangular view of the rings)."""
    test = select_maps(index, "test")
    sources = open_cache(index.path)["maps/source"]
    options = ReaderOptions.from_dict(open_cache(index.path).attrs["input"]["reader"])
    fig, axes = new_figure(1, 2, figsize=(11, 3.2))
    for label, ax in enumerate(axes):
        i = next(int(i) for i in test if index.labels[i] == label)
        sky = read_map(str(sources[i]), options).values
        image = ax.imshow(sky, cmap="RdBu_r", aspect="auto", extent=(0, 360, -90, 90))
        ax.set_title(f"{CLASS_NAMES[label]} (map {i})")
        ax.set_xlabel("longitude [deg]")
        ax.set_ylabel("ring (north to south)")
        fig.colorbar(image, ax=ax, label="T [muK]")
    fig.savefig(path, dpi=110)


def plot_scattering_maps(index: CacheIndex, path: Path) -> None:
    """Channels of one non-Gaussian test map, two of each kind, synthesised at L0."""
    L0, paths, kinds = index.L0, index.paths, index.kinds
    picks = [i for kind in ("modulus", "signed_square", "cross") for i in [k for k, x in enumerate(kinds) if x == kind][-2:]]
    i = next(int(i) for i in select_maps(index, "test") if index.labels[i] == 1)
    coefficients = open_cache(index.path)["coefficients"][i]
    grid = RingGrid.for_bandlimit("gl", L0)
    fig, axes = new_figure(2, 3, figsize=(11, 4.5))
    for ax, k in zip(axes.T.ravel(), picks):
        image = ax.imshow(alm_to_map(real_to_complex(coefficients[k], L0), grid, L0), cmap="RdBu_r", aspect="auto")
        ax.set_title(f"{kinds[k]} {list(paths[k])}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"Channels of non-Gaussian map {i} (bandlimit L0 = {L0})")
    fig.savefig(path, dpi=110)


def _accuracy_axes(ax, n: int) -> None:
    """The band of chance +- 2 sigma for n test maps, the 95 % line, log f axis, labels, legend."""
    ax.axhspan(0.5 - 2 * math.sqrt(0.25 / n), 0.5 + 2 * math.sqrt(0.25 / n), color="0.9", label=f"chance +- 2 sigma ({n} maps)")
    ax.axhline(0.95, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("non-Gaussian amplitude f")
    ax.set_ylabel("test accuracy (mean over seeds; bars: seed std)")
    ax.set_ylim(0.35, 1.02)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_accuracy_vs_f(metrics: dict, path: Path) -> None:
    from matplotlib import colormaps

    fig, ax = new_figure(figsize=(11, 5.5))
    methods = dict.fromkeys(r["method"] for r in metrics["accuracy_vs_f"] if "_mlp_" not in r["method"] or r["method"].endswith("modulus"))
    colors = colormaps["tab20"].colors
    for k, method in enumerate(methods):
        rows = [r for r in metrics["accuracy_vs_f"] if r["method"] == method]
        ax.errorbar([r["f"] for r in rows], [r["accuracy"] for r in rows], yerr=[r["accuracy_std"] for r in rows],
                    marker="os^vD<>ph*"[k % 10], color=colors[(2 * k) % 20 + (2 * k) // 20],
                    ls="-" if method.startswith(("scattering", "lowres")) else "--", capsize=2, label=NAMES[method])
    _accuracy_axes(ax, min(r["n_test"] for r in metrics["accuracy_vs_f"]))
    fig.savefig(path, dpi=110, bbox_inches="tight")


def plot_full_vs_cut_sky(metrics: dict, path: Path) -> None:
    """Accuracy versus f of the methods run on both skies: full sky solid, cut sky dashed."""
    from matplotlib import colormaps

    cut = metrics["cut_sky"]
    methods = list(dict.fromkeys(r["method"] for r in cut["accuracy_vs_f"]))
    fig, ax = new_figure(figsize=(11, 5.5))
    for k, method in enumerate(methods):
        for rows, style, sky in ((metrics["accuracy_vs_f"], "-", "full sky"), (cut["accuracy_vs_f"], "--", "cut sky")):
            mine = [r for r in rows if r["method"] == method]
            ax.errorbar([r["f"] for r in mine], [r["accuracy"] for r in mine], yerr=[r["accuracy_std"] for r in mine],
                        marker="os^vD<>ph*"[k % 10], color=colormaps["tab10"].colors[k % 10], ls=style, capsize=2,
                        label=f"{NAMES[method]}, {sky}")
    ax.set_title(f"Full sky (solid) and cut sky (dashed): observed {100 * cut['mask']['observed_fraction']:.1f} % of the sky")
    _accuracy_axes(ax, min(r["n_test"] for r in cut["accuracy_vs_f"]))
    fig.savefig(path, dpi=110, bbox_inches="tight")


def write_figures(cache: str, metrics: dict, out: Path) -> None:
    index = read_cache_index(cache)
    plot_example_maps(index, out / "example_maps.png")
    plot_scattering_maps(index, out / "scattering_maps.png")
    plot_accuracy_vs_f(metrics, out / "accuracy_vs_f.png")
    if "cut_sky" in metrics:
        plot_full_vs_cut_sky(metrics, out / "accuracy_vs_f_cut_sky.png")
