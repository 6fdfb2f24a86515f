"""Figures and report of the lensing experiment (``downstream.lensing.experiment``;
docs/lensing-experiment.md section 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from downstream.lensing.methods import LINEAR, METHODS, SCATTERING
from downstream.lensing.statistics import read_shear, shear_eb
from downstream.train.plots import new_figure
from pipeline.lensing.simulation import kaiser_squires_convergence
from pipeline.sphere.harmonic import ring_grid_synthesis

NAMES = {
    "scattering_cnn": "E/B scattering + equivariant CNN",
    "scattering_mlp": "E/B scattering invariants + MLP",
    "scattering_cnn_modulus": "spin-2 modulus scattering + equivariant CNN",
    "scattering_mlp_modulus": "spin-2 modulus scattering invariants + MLP",
    "scattering_linear": "E/B scattering channel means + logistic regression",
    "scattering_linear_modulus": "spin-2 modulus channel means + logistic regression",
    "shear_spectra": "shear power spectrum C_l^EE + logistic regression",
    "convergence_moments": "moments of the Kaiser-Squires convergence + logistic regression",
}
CLASSES = ("Gaussian", "lognormal")


def plot_accuracy(metrics: dict, path: Path) -> None:
    """Test accuracy per method: error bars = std over seeds (learned) or the binomial error (classical)."""
    rows = [metrics["accuracy"][m] for m in METHODS]
    fig, ax = new_figure(figsize=(8, 3.8))
    ax.bar(range(len(METHODS)), [r["accuracy"] for r in rows], yerr=[r["accuracy_std"] or r["binomial_se"] for r in rows], capsize=3,
           color=["C0" if m in SCATTERING else "C2" if m in LINEAR else "C1" for m in METHODS])
    ax.axhline(0.5, color="gray", ls=":", lw=1, label="chance")
    ax.set_xticks(range(len(METHODS)), [NAMES[m].replace(" + ", "\n+ ") for m in METHODS], fontsize=7)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0.4, 1.0)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def plot_examples(sources: list[str], labels: np.ndarray, path: Path) -> None:
    """One map of each class: the Kaiser-Squires convergence and the shear modulus |gamma|."""
    fig, axes = new_figure(2, 2, figsize=(9, 4.6), squeeze=False)
    for row, label in enumerate((0, 1)):
        shear = read_shear(sources[int(np.flatnonzero(labels == label)[0])])
        L = shear.shape[1]
        kappa = ring_grid_synthesis(kaiser_squires_convergence(shear_eb(shear), L), L, L, 2 * L - 1)
        for col, (values, what) in enumerate(((kappa, "convergence (Kaiser-Squires)"), (np.hypot(*shear), "|shear|"))):
            image = axes[row, col].imshow(values, extent=(0, 360, -90, 90), cmap="RdBu_r" if col == 0 else "viridis")
            axes[row, col].set_title(f"{CLASSES[label]}: {what}", fontsize=9)
            fig.colorbar(image, ax=axes[row, col], shrink=0.8)
    fig.savefig(path, dpi=110)


def plot_spectra(features: dict, labels: np.ndarray, splits: np.ndarray, path: Path) -> None:
    """Mean shear spectrum C_l^EE of each class over the train maps, with its standard error:
    the two classes' spectra agree (by construction), so the spectrum cannot tell them apart."""
    fig, ax = new_figure(figsize=(6, 3.8))
    for label in (0, 1):
        cl = features["cl_ee"][(labels == label) & (splits == "train")]
        ell = np.arange(2, cl.shape[1])
        mean, se = cl.mean(0)[2:], cl.std(0, ddof=1)[2:] / np.sqrt(len(cl))
        ax.fill_between(ell, mean - 2 * se, mean + 2 * se, alpha=0.3, color=f"C{label}")
        ax.loglog(ell, mean, color=f"C{label}", label=f"{CLASSES[label]} ({len(cl)} train maps, +-2 s.e.)")
    ax.set_xlabel("l")
    ax.set_ylabel("C_l^EE of the shear")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def write_figures(sources: list[str], features: dict, labels: np.ndarray, splits: np.ndarray, metrics: dict, out: Path) -> None:
    plot_accuracy(metrics, out / "accuracy.png")
    plot_examples(sources, labels, out / "examples.png")
    plot_spectra(features, labels, splits, out / "spectra.png")


def _cell(row: dict, learned: bool) -> str:
    spread = f"+- {row['accuracy_std']:.3f} (seeds: {', '.join(f'{v:.3f}' for v in row['accuracy_seeds'])})" if learned else "(one fit)"
    return f"{row['accuracy']:.3f} {spread} | {row['binomial_se']:.3f}"


def _mean_pm(row: dict) -> str:
    return f"{row['accuracy']:.3f} +- {row['accuracy_std']:.3f}"


def _adds(table: dict) -> str:
    """Whether the CNN beats the invariant read-outs of the same cache by more than their errors."""
    cnn = table["scattering_cnn"]
    others = [table[m] for m in ("scattering_mlp", "scattering_linear")]
    margin = max(o["accuracy"] + 2 * max(o["accuracy_std"], o["binomial_se"]) for o in others)
    if cnn["accuracy"] - 2 * cnn["accuracy_std"] > margin:
        return "the CNN is above both beyond two standard errors."
    return "the CNN is not above the invariant read-outs beyond two standard errors: on this task it adds nothing measurable."


def write_report(exp, metrics: dict, out: Path) -> None:
    table, maps = metrics["accuracy"], metrics["maps"]
    n_test = table[METHODS[0]]["n_test"]
    spectra = table["shear_spectra"]
    chance = abs(spectra["accuracy"] - 0.5) <= 2 * 0.5 / np.sqrt(n_test)
    best_classical = max(("shear_spectra", "convergence_moments"), key=lambda m: table[m]["accuracy"])
    best_scattering = max((*SCATTERING, *LINEAR), key=lambda m: table[m]["accuracy"])
    lines = [
        "# Weak lensing: Gaussian vs lognormal convergence from the shear alone",
        "",
        f"Data: full-sky, noise-free shear maps (g1, g2) of bandlimit L = {exp.L} on the Gauss-Legendre grid, made from "
        f"convergence fields of two classes with the same expected power spectrum: Gaussian, and lognormal with shift "
        f"lambda = {exp.shift:g} (C_l^g = {exp.amplitude:.3g} l^-1 exp(-l/128)); shear from convergence by the exact "
        "spin-2 (Kaiser-Squires) relation, so B = 0. No shape noise, no mask, no intrinsic alignments, no redshift "
        f"structure: a toy that isolates non-Gaussian information (docs/lensing-experiment.md section 1). {exp.n_per_class} maps "
        f"per class; splits {maps['train']} train / {maps['val']} val / {maps['test']} test.",
        f"Scattering: `scatter-preprocess --fields G1,G2` on the shear files, J0 = {exp.J0} (outputs at L0 = "
        f"{exp.scattering('modulus').L0}), depth 2, oversampling 2; route `modulus` (channels: {metrics['channels']['modulus']}) "
        f"and route `eb` ({metrics['channels']['eb']}). Learned methods: {exp.n_seeds} seeds, at most {exp.epochs} epochs, "
        "early stopping on val; classical methods: logistic regression, penalty by 5-fold cross-validation on the train "
        "maps. Test maps are only predicted.",
        "",
        "## Test accuracy",
        "",
        "| method | accuracy (mean +- std over seeds) | binomial s.e. |",
        "|---|---|---|",
        *[f"| {NAMES[m]} | {_cell(table[m], m in SCATTERING)} |" for m in METHODS],
        "",
        f"- The shear power spectrum is {'within' if chance else 'OUTSIDE'} chance (+- 2 sigma = {2 * 0.5 / np.sqrt(n_test):.3f} "
        f"of 0.5 on {n_test} test maps): {spectra['accuracy']:.3f}.",
        f"- Best classical statistic: {NAMES[best_classical]}, {table[best_classical]['accuracy']:.3f}; best scattering "
        f"method: {NAMES[best_scattering]}, {table[best_scattering]['accuracy']:.3f}.",
        f"- The spin-2 modulus route: CNN {table['scattering_cnn_modulus']['accuracy']:.3f}, MLP "
        f"{table['scattering_mlp_modulus']['accuracy']:.3f}, means {table['scattering_linear_modulus']['accuracy']:.3f}. Its "
        "channels beyond depth 0 are even in the field (|gamma_j| does not change when kappa -> -kappa), while a lognormal "
        "convergence differs from a Gaussian one first by its skewness, an odd statistic (docs/scattering.md section 7); and "
        "|Q_j + iU_j| is blind to a global rotation of the polarisation angle, so E and B are told apart only at depth 0 "
        "(section 8). The E/B route scatters E and B as scalar maps with the sign-aware channels, which are odd: hence the "
        "default `--spin2-route eb`.",
        f"- What the equivariant CNN adds (E/B route): CNN {_mean_pm(table['scattering_cnn'])}, invariant MLP "
        f"{_mean_pm(table['scattering_mlp'])}, channel means {table['scattering_linear']['accuracy']:.3f}; "
        f"{_adds(table)}",
        "",
        "What this does not show: performance with shape noise, masks or tomography; that the lognormal model is a good "
        "description of real convergence; anything about the cosmological parameters. The learned and classical methods "
        "see the same maps and splits, but the classical ones have a handful of features and no seeds.",
        "",
        "Figures: `accuracy.png`, `examples.png` (one map per class), `spectra.png` (mean C_l^EE per class, train maps).",
        "",
        f"Time: scattering caches {', '.join(f'{k} {v:.0f} s' for k, v in metrics['seconds']['scattering_cache'].items())}, "
        f"training {metrics['seconds']['training']:.0f} s, total {metrics['seconds']['total']:.0f} s.",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
