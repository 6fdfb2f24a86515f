"""Report of the CMB benchmark (``downstream.cmb.experiment``; docs/cmb-experiment.md
sections 5-8)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

NAMES = {
    "scattering_cnn": "sign-aware scattering + equivariant CNN",
    "scattering_mlp": "sign-aware scattering invariants + MLP",
    "scattering_cnn_modulus": "modulus scattering + equivariant CNN",
    "scattering_mlp_modulus": "modulus scattering invariants + MLP",
    "lowres_cnn": "equivariant CNN on the map at L0",
    "scattering_mlp_signed_square": "MLP, modulus + signed-square channels",
    "scattering_mlp_cross": "MLP, modulus + cross channels",
    "power_spectrum": "power spectrum (16 log bins)",
    "skewness": "pixel skewness",
    "kurtosis": "pixel kurtosis",
    "band_moments": "skewness and kurtosis of the wavelet bands",
    "minkowski": "Minkowski functionals (map and high-passed)",
    "optimal_cubic": "optimal cubic estimator",
    "scattering_linear": "sign-aware scattering channel means + logistic regression",
    "scattering_linear_modulus": "modulus scattering channel means + logistic regression",
}
SIMPLE = ("skewness", "kurtosis", "band_moments", "minkowski")


def _fmt(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.4g}"


def _ratio_line(f95: dict, method: str) -> str:
    value, cubic = f95[method]["f95"], f95["optimal_cubic"]["f95"]
    if value is None or cubic is None:
        return f"The ratio f95(`{method}`) / f95(optimal cubic) is undefined: one of them is not reached within the sweep."
    ratio = value / cubic
    verdict = "within" if ratio <= 2 else "not within"
    return f"f95(`{method}`) / f95(optimal cubic) = {ratio:.2f}: {verdict} a factor 2."


def _chance_line(rows: list[dict]) -> str:
    """Whether the power-spectrum classifier stays within chance +- 2 sigma at every f."""
    spectrum = [r for r in rows if r["method"] == "power_spectrum"]
    outside = [r["f"] for r in spectrum if abs(r["accuracy"] - 0.5) > 2 * math.sqrt(0.25 / r["n_test"])]
    return ("The power-spectrum classifier is within chance (+- 2 sigma of 50 %) at every f."
            if not outside else f"The power-spectrum classifier is outside chance +- 2 sigma at f = {outside}.")


def _cut_sky_section(metrics: dict) -> str:
    """Full and cut sky side by side: f95 and accuracy per f of every method run on both."""
    cut = metrics["cut_sky"]
    mask, rows = cut["mask"], cut["accuracy_vs_f"]
    fs = sorted({r["f"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    full = {(r["method"], r["f"]): r for r in metrics["accuracy_vs_f"]}
    by = {(r["method"], r["f"]): r for r in rows}
    f95, f95_cut = metrics["f95"], cut["f95"]
    fractions = np.array(mask["valid_fractions"])
    table = "\n".join(f"| `{m}` | {_fmt(f95[m]['f95'])} ({_fmt(f95[m]['low'])} - {_fmt(f95[m]['high'])}) | "
                      f"{_fmt(f95_cut[m]['f95'])} ({_fmt(f95_cut[m]['low'])} - {_fmt(f95_cut[m]['high'])}) |" for m in methods)
    curve = "\n".join(f"| `{m}` | " + " | ".join(f"{full[m, f]['accuracy']:.3f} / {by[m, f]['accuracy']:.3f}" for f in fs) + " |"
                      for m in methods)
    return f"""## Full sky and cut sky side by side (docs/cmb-experiment.md section 9)

The same maps and splits through a mask shared by every map: Galactic band |b| < {mask['cut_deg']:g} deg of the maps'
equator plus {mask['n_holes']} point-source holes of radius {mask['hole_deg']:g} deg (directions from seed {mask['seed']}),
apodised {mask['apodisation']} {mask['width_deg']:g} deg: **{100 * mask['observed_fraction']:.1f} % of the sky observed**.
Each scattering channel is trusted only where its propagated contamination is below {mask['tolerance']:g}
(docs/masks.md): valid sky per channel {100 * fractions.min():.1f} - {100 * fractions.max():.1f} % (median
{100 * float(np.median(fractions)):.1f} %; {cut['channels_without_valid_region']} channels without a valid region). The MLP pools each
channel over its own valid region, the CNN over the region where every channel it reads is valid ({100 * cut['common_valid_fraction']:.2f} % of
the sky for all channels), both without rotation augmentation, input means or head normalisation (section 5 of docs/cmb-experiment.md); the linear read-out uses each channel's mean over its valid region; the power spectrum is the masked map's pseudo-spectrum; skewness and kurtosis are over the
observed pixels. Band moments, Minkowski functionals and the optimal cubic estimator are not run on the cut sky.

| method | f95 full sky (interval) | f95 cut sky (interval) |
|---|---|---|
{table}

Accuracy, full sky / cut sky:

| method | {' | '.join(f'f = {f:g}' for f in fs)} |
|{'---|' * (len(fs) + 1)}
{curve}

- Cut sky: {_chance_line(rows)}

![full and cut sky](accuracy_vs_f_cut_sky.png)

"""


def _comparisons(metrics: dict) -> list[str]:
    f95 = metrics["f95"]
    lines = [_ratio_line(f95, m) for m in ("scattering_cnn", "scattering_mlp", "scattering_linear")]
    cnn = f95["scattering_cnn"]["f95"]
    linear = f95["scattering_linear"]["f95"]
    n_train = next(r["n_train"] for r in metrics["accuracy_vs_f"] if r["method"] == "scattering_cnn")
    if linear is not None and (cnn is None or linear < cnn):
        lines.append(f"The cache's channels hold more than the CNN uses: a linear read-out of their means reaches 95 % at "
                     f"f = {linear:.3g}, the CNN at {_fmt(cnn)}; the limit is in the learned classifiers as configured "
                     f"(trained on {n_train} maps), not in the channels.")
    beaten = [m for m in SIMPLE if cnn is not None and (f95[m]["f95"] is None or cnn < f95[m]["f95"])]
    lines.append(f"Simple statistics with a larger f95 than the sign-aware CNN: {', '.join(beaten) or 'none'} "
                 f"(of {', '.join(SIMPLE)}).")
    by = {(r["method"], r["f"]): r for r in metrics["accuracy_vs_f"]}
    fs = sorted({r["f"] for r in metrics["accuracy_vs_f"]})
    gains = [by["scattering_cnn", f]["accuracy"] - by["scattering_mlp", f]["accuracy"] for f in fs]
    spread = [max(by["scattering_cnn", f]["accuracy_std"], by["scattering_mlp", f]["accuracy_std"]) for f in fs]
    if all(abs(g) <= 2 * s + 1e-12 for g, s in zip(gains, spread)):
        lines.append("The equivariant CNN adds nothing measurable over the invariant MLP on this task: at every f their "
                     "mean accuracies differ by at most twice the larger seed spread.")
    else:
        lines.append("CNN minus MLP accuracy per f: " + ", ".join(f"{f:g}: {g:+.3f}" for f, g in zip(fs, gains)) + ".")
    lines.append(_chance_line(metrics["accuracy_vs_f"]))
    return lines


def _read_back(trainings: dict) -> str:
    """The note on trainings a resumed run read back: their time is not in its totals."""
    return (f" ({trainings['read_back']} of the {trainings['jobs']} trainings were read back from an earlier "
            "run and their time is not in these totals)") if trainings["read_back"] else ""


def _restarts(trainings: dict) -> str:
    """Which trainings collapsed (one class predicted for every validation map) and were trained
    again (``downstream.train.fitting``); each attempt's validation loss is in metrics.json."""
    if "restarted" not in trainings:
        return ""
    restarted = trainings["restarted"]
    listed = "; ".join(f"`{r['method']}` seed {r['seed']} f = {r['f']:g}: {len(r['collapsed'])} initialisations, "
                       f"{'one kept that did not collapse' if not r['collapsed'][r['kept']] else 'all collapsed'}" for r in restarted)
    return (f"A network that collapsed (one class predicted for every validation map) was trained again from a new "
            f"initialisation, at most twice: {len(restarted)} of the {trainings['jobs']} trainings" + (f" ({listed})." if restarted else "."))


def write_report(exp, metrics: dict, out: Path, cl: np.ndarray) -> None:
    rows, f95 = metrics["accuracy_vs_f"], metrics["f95"]
    fs = sorted({r["f"] for r in rows})
    by = {(r["method"], r["f"]): r for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    nl = metrics["f_nl_per_f"]
    f95_table = "\n".join(
        f"| {NAMES[m]} (`{m}`) | {_fmt(f95[m]['f95'])} | {_fmt(f95[m]['low'])} - {_fmt(f95[m]['high'])} | "
        f"{_fmt(None if f95[m]['f95'] is None else abs(exp.f_nl(f95[m]['f95'])))} |" for m in methods)
    header = " | ".join(f"f = {f:g}" for f in fs)
    curve = "\n".join(f"| `{m}` | " + " | ".join(
        f"{by[m, f]['accuracy']:.3f}" + (f" +- {by[m, f]['accuracy_std']:.3f}" if by[m, f]["n_seeds"] > 1 else "") for f in fs) + " |"
        for m in methods)
    val = "\n".join(f"| `{m}` | " + " | ".join(f"{by[m, f]['val_accuracy']:.3f}" for f in fs) + " |"
                    for m in methods if m.startswith("scattering_mlp"))
    seconds, maps = metrics["seconds"], metrics["maps"]
    n_test = by[methods[0], fs[0]]["n_test"]
    learned_train = by["scattering_cnn", fs[0]]["n_train"]
    text = f"""# Gaussian vs non-Gaussian CMB maps at L = {exp.L}: scattering against the statistics cosmologists use

All numbers come from one run (`metrics.json`); seeds are recorded; the test maps were only predicted.

**What the maps are.** Simulated full-sky CMB temperature maps, noise-free, unlensed, bandlimit
L = {exp.L} (`{exp.grid}` grid), LCDM spectrum of Planck 2018. The non-Gaussian class is a temperature-space
local toy model, T = G + f (G^2 - sigma^2) / sigma, spectrum-matched to the Gaussian class analytically
(docs/cmb-experiment.md section 3); it is not the primordial local f_NL model propagated through transfer functions.
f in f_NL units, Sachs-Wolfe limit (Delta T / T0 = -Phi / 3, so f = -3 f_NL sigma_T / T0, T0 = 2.7255 K,
sigma_T = {math.sqrt(sum((2 * l + 1) * cl[l] for l in range(len(cl))) / (4 * math.pi)):.1f} muK): valid only at
low l, shown to place the amplitudes, not as a constraint. Planck 2018 measured f_NL^local = -0.9 +- 5.1.

- Maps: {maps['gaussian']} Gaussian maps shared by every f, {maps['non_gaussian_per_f']} non-Gaussian maps per f;
  per class {maps['split_per_class']['train']} train, {maps['split_per_class']['val']} val, {maps['split_per_class']['test']} test
  (by seed), so **{n_test} test maps at every f**. Learned methods train on {learned_train} maps (train split) and stop early on
  the val split; classical ones fit on train + val ({by['skewness', fs[0]]['n_train']} maps) with the penalty chosen by 5-fold
  cross-validation on them. Learned methods: {exp.n_seeds} training seeds each (mean +- standard deviation over seeds);
  on the full sky heads batch-normalise their invariants, and the CNNs' heads also read the input channels' means (docs/cmb-experiment.md section 5).
  {_restarts(metrics['trainings'])}
- Scattering: {metrics['scattering']}. Modulus scattering coefficients of depth >= 1 are even in the map (unchanged by
  T -> -T), so they see this f only at second order; the sign-aware channels (`signed_square`, `cross`,
  docs/scattering.md section 7) are odd in the map. The modulus-only methods use the modulus channels of the same cache.
- Time on this machine: maps + scattering + statistics {seconds['maps_scattering_statistics'] / 60:.1f} min, training and
  classical fits {seconds['training_and_classical'] / 60:.1f} min, total {seconds['total'] / 60:.1f} min{_read_back(metrics['trainings'])}.

## f95: the amplitude at which each method reaches 95 % test accuracy

Fitted accuracy(f) = Phi((f/a)^k / 2) by binomial likelihood; interval: bootstrap over test maps and seeds (2.5-97.5 %);
"not reached": above the largest f measured (docs/cmb-experiment.md section 8).

| method | f95 | 95 % interval | abs f_NL equivalent |
|---|---|---|---|
{f95_table}

""" + "\n".join(f"- {line}" for line in _comparisons(metrics)) + f"""

## Accuracy versus f (test maps; f_NL equivalents: {', '.join(f'{f:g} -> {nl[repr(f)]:.0f}' for f in fs)})

| method | {header} |
|{'---|' * (len(fs) + 1)}
{curve}

![accuracy vs f](accuracy_vs_f.png)

""" + (_cut_sky_section(metrics) if "cut_sky" in metrics else "") + f"""## Which sign-aware channels: validation accuracy of the invariant MLP (the choice of the default)

| channels | {header} |
|{'---|' * (len(fs) + 1)}
{val}

## What this does not show

- Nothing about real skies: no noise, beam, foregrounds or lensing; """ + ("a toy mask (a straight band and round holes)" if "cut_sky" in metrics else "no mask") + f"""; one toy non-Gaussian model.
- The optimal cubic estimator is optimal for this model's first-order bispectrum; other models would need their own.
- Test maps: {n_test} per f; a difference in accuracy below ~{2 * math.sqrt(0.25 / n_test):.2f} at 50 % (less near 100 %) is not resolved.

## Figures

![example maps](example_maps.png)
![scattering channels](scattering_maps.png)
"""
    (out / "report.md").write_text(text)
