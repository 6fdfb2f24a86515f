"""Figures and report of the CMB experiment (``downstream.cmb.experiment``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from downstream.data.index import CacheIndex, open_cache, read_cache_index, select_maps
from downstream.train.plots import new_figure, plot_confusion, plot_learning_curves
from pipeline.cmb.spectra import load_cl
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


def plot_spectra(index: CacheIndex, L: int, path: Path) -> dict:
    """Mean D_l of each class over the test maps with its standard error, against the theory; and
    their ratio to it."""
    test = select_maps(index, "test")
    spectra = open_cache(index.path)["input_power_spectra"].get_orthogonal_selection((test, slice(None)))
    labels = index.labels[test]
    l = np.arange(L)
    theory = load_cl()[:L]
    scale = l * (l + 1) / (2 * np.pi)
    fig, (top, bottom) = new_figure(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ratios = {}
    for label in (0, 1):
        cls = spectra[labels == label]
        mean, _err = cls.mean(0), cls.std(0) / np.sqrt(len(cls))
        top.plot(l[2:], (scale * mean)[2:], lw=1, label=f"{CLASS_NAMES[label]} ({len(cls)} maps)")
        ratio = mean[2:] / theory[2:]
        bottom.plot(l[2:], ratio, lw=0.8, label=CLASS_NAMES[label])
        ratios[CLASS_NAMES[label]] = float(np.mean(ratio))
    top.plot(l[2:], (scale * theory)[2:], "k--", lw=1, label="theory (CAMB, Planck 2018)")
    n_class = len(spectra) // 2
    cosmic = np.sqrt(2 / ((2 * l[2:] + 1) * max(n_class, 1)))
    bottom.fill_between(l[2:], 1 - 2 * cosmic, 1 + 2 * cosmic, color="0.85", label="2 sigma cosmic variance of the mean")
    top.set_ylabel("D_l = l(l+1)C_l / 2pi [muK^2]")
    top.legend()
    bottom.set_ylabel("mean C_l / theory")
    bottom.set_xlabel("l")
    bottom.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return ratios


def plot_scattering_maps(index: CacheIndex, path: Path) -> None:
    """S[p] f of one test map for a few paths of each depth, synthesised on a Gauss-Legendre grid at L0."""
    L0, paths = index.L0, index.paths
    picks = [0] + [i for i, p in enumerate(paths) if len(p) == 1][-2:] + [i for i, p in enumerate(paths) if len(p) == 2][-3:]
    i = next(int(i) for i in select_maps(index, "test") if index.labels[i] == 1)
    coefficients = open_cache(index.path)["coefficients"][i]
    grid = RingGrid.for_bandlimit("gl", L0)
    fig, axes = new_figure(2, 3, figsize=(11, 4.5))
    for ax, k in zip(axes.ravel(), picks):
        image = ax.imshow(alm_to_map(real_to_complex(coefficients[k], L0), grid, L0), cmap="viridis", aspect="auto")
        ax.set_title(f"S{list(paths[k])}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"Scattering coefficients of non-Gaussian map {i} (bandlimit L0 = {L0})")
    fig.savefig(path, dpi=110)


def plot_accuracy_vs_f(sweep: list[dict], path: Path) -> None:
    f = [row["f"] for row in sweep]
    fig, ax = new_figure(figsize=(6, 4))
    ax.plot(f, [row["scattering_cnn_test_accuracy"] for row in sweep], "o-", label="scattering + equivariant CNN")
    ax.plot(f, [row["power_spectrum_test_accuracy"] for row in sweep], "s--", label="power spectrum only")
    ax.axhline(0.5, color="0.6", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("non-Gaussian amplitude f")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0.3, 1.02)
    ax.legend()
    fig.savefig(path, dpi=110)


def write_figures(exp, cache: str, metrics: dict, out: Path) -> None:
    index = read_cache_index(cache)
    plot_example_maps(index, out / "example_maps.png")
    metrics["mean_spectrum_over_theory"] = plot_spectra(index, exp.L, out / "power_spectra.png")
    plot_scattering_maps(index, out / "scattering_maps.png")
    cnn = metrics["models"]["scattering_cnn"]
    plot_learning_curves(cnn["history"], out / "learning_curves.png")
    plot_confusion(cnn["test"]["confusion"], out / "confusion.png", f"scattering CNN, test accuracy {cnn['test']['accuracy']:.3f}")
    if metrics["accuracy_vs_f"]:
        plot_accuracy_vs_f(metrics["accuracy_vs_f"], out / "accuracy_vs_f.png")


def write_report(exp, metrics: dict, out: Path) -> None:
    m = metrics["models"]
    rows = [
        ("Scattering + equivariant spherical CNN", m["scattering_cnn"]),
        ("Scattering invariants + MLP", m["scattering_invariant_mlp"]),
        (f"Spherical CNN on the maps degraded to L0 = {metrics['scattering']['L'] and exp.scattering().L0}", m["lowres_map_cnn"]),
        ("Power spectrum (all l < L) + logistic regression", m["power_spectrum"]),
    ]
    table = "\n".join(f"| {name} | {r['val']['accuracy']:.3f} | {r['test']['accuracy']:.3f} | {r['test']['n']} |" for name, r in rows)
    sweep = "\n".join(f"| {s['f']:g} | {s['n_per_class']} | {s['scattering_cnn_test_accuracy']:.3f} | {s['power_spectrum_test_accuracy']:.3f} |"
                      for s in metrics["accuracy_vs_f"])
    seconds = metrics["seconds"]
    text = f"""# Gaussian vs non-Gaussian CMB maps at L = {exp.L}

All numbers below come from one run (`metrics.json`), seeds recorded; the test split was only evaluated.

- Maps: {exp.n_per_class} per class, bandlimit L = {exp.L}, `{exp.grid}` grid, float32 .npy files generated from
  `SeedSequence({exp.seed})` (per-map seeds in the manifest); non-Gaussian amplitude **f = {exp.f:g}**
  (local type, T = G + f (G^2 - sigma^2)/sigma, spectrum-matched to the Gaussian class analytically).
- Split per class (by seed): 70 % train, 15 % validation (early stopping), 15 % test.
- Scattering: {json.dumps(metrics['scattering'])}; {len(json.loads(json.dumps(metrics['models']['scattering_cnn']['history'])))} epochs run for the CNN.
- Time on this machine: maps + scattering {seconds['maps_and_scattering'] / 60:.1f} min, total {seconds['total'] / 60:.1f} min.

| model | val accuracy | test accuracy | test maps |
|---|---|---|---|
{table}

Mean power spectrum of each class over the theory C_l (averaged over l): {json.dumps(metrics['mean_spectrum_over_theory'])}.
The power-spectrum classifier sees only C_l; its accuracy near 0.5 shows the classes share one spectrum, so what
separates them is higher-order statistics, which the scattering coefficients capture.

## Accuracy versus f

| f | maps per class | scattering CNN test accuracy | power spectrum test accuracy |
|---|---|---|---|
{sweep}

![accuracy vs f](accuracy_vs_f.png)

## Figures

![example maps](example_maps.png)
![power spectra](power_spectra.png)
![scattering coefficient maps](scattering_maps.png)
![learning curves](learning_curves.png)
![confusion matrix](confusion.png)
"""
    (out / "report.md").write_text(text)
