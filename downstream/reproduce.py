"""The experiments' commands, end to end (``make reproduce-cmb``, ``reproduce-digits``,
``reproduce-lensing`` and their quick variants): thin click shells over ``downstream.cmb``,
``downstream.digits`` and ``downstream.lensing``, imported (with torch) only when a command runs.
The pipeline's own commands are in ``cli.py``.
"""

from __future__ import annotations

import click

from pipeline.errors import user_errors


def _common(name: str, data: str):
    """The options every experiment command shares (seeds, workers, folders, progress)."""
    def decorate(command):
        for option in reversed([
            click.option("--seeds", "n_seeds", type=int, help="Override the number of training seeds of each learned method."),
            click.option("--workers", type=int, help="Worker processes (default: number of cores)."),
            click.option("--out", "out_dir", help=f"Results folder (default results/{name} or results/{name}-quick)."),
            click.option("--data", "data_dir", help=f"Folder for {data} and caches (default data/{name})."),
            click.option("--no-progress", is_flag=True),
        ]):
            command = option(command)
        return command
    return decorate


def _run(experiment, quick: bool, no_progress: bool, **overrides):
    """Build the experiment (quick or full) with the options given, run it: (experiment, metrics)."""
    from importlib import import_module

    module = import_module(experiment.rsplit(".", 1)[0])
    cls = getattr(module, experiment.rsplit(".", 1)[1])
    overrides = {k: v for k, v in overrides.items() if v is not None}
    exp = cls.quick(**overrides) if quick else cls(**overrides)
    return exp, module.run(exp, progress=not no_progress)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="L = 256 and fewer maps (a few minutes) instead of the full L = 1024 run.")
@click.option("--n-per-class", type=int, help="Override the number of maps per class (Gaussian, and non-Gaussian per f).")
@click.option("--mask", type=click.Choice(["galactic"]),
              help="Also run the maps on a cut sky (galactic: |b| < 20 deg + 100 holes of 0.5 deg), side by side; "
                   "results in results/cmb[-quick]-<mask> unless --out.")
@_common("cmb", "maps")
@user_errors
def cmb_main(quick, no_progress, mask, **options):
    """The CMB benchmark end to end: maps -> scattering cache and statistics -> every method at every f -> report."""
    if mask is not None:
        from downstream.cmb.cut_sky import named_mask

        options["cut_sky"] = named_mask(mask)
        options["out_dir"] = options["out_dir"] or f"results/cmb{'-quick' if quick else ''}-{mask}"
    exp, metrics = _run("downstream.cmb.experiment.CMBExperiment", quick, no_progress, **options)
    f95 = metrics["f95"]
    shown = ", ".join(f"{m} {f95[m]['f95']:.3g}" if f95[m]["f95"] is not None else f"{m} not reached"
                      for m in ("scattering_cnn", "scattering_cnn_modulus", "skewness", "optimal_cubic"))
    click.echo(f"f95: {shown}; report: {exp.out_dir}/report.md")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="500 digits, 2 seeds, fewer epochs (minutes) instead of all 1797 digits and 3 seeds.")
@click.option("--n-digits", type=int, help="Override the number of digits (50-1797; each gives an upright and a rotated image).")
@click.option("--epochs", type=int, help="Override the most training epochs.")
@_common("digits", "images")
@user_errors
def digits_main(quick, no_progress, **options):
    """The digits experiment end to end: 360-degree PNG images -> scattering cache -> models trained upright
    or rotated -> NR/NR, NR/R, R/R table and report."""
    exp, metrics = _run("downstream.digits.experiment.DigitsExperiment", quick, no_progress, **options)
    shown = ", ".join(f"{m} {t['NR/NR']['accuracy']:.3f} / {t['NR/R']['accuracy']:.3f}" for m, t in metrics["accuracy"].items())
    click.echo(f"NR/NR / NR/R: {shown}; report: {exp.out_dir}/report.md")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="L = 64, 100 maps per class, shifts 0.4 and 0.8, 2 seeds (minutes) instead of L = 128, 400 per class, shifts 0.4, 0.8, 1.6, 5 seeds.")
@click.option("--n-per-class", type=int, help="Override the number of maps per class.")
@click.option("--epochs", type=int, help="Override the most training epochs.")
@_common("lensing", "shear maps")
@user_errors
def lensing_main(quick, no_progress, **options):
    """The weak-lensing experiment end to end: Gaussian vs lognormal convergence -> shear maps -> spin-2
    scattering caches -> scattering classifiers vs shear spectra vs convergence moments -> report."""
    exp, metrics = _run("downstream.lensing.experiment.LensingExperiment", quick, no_progress, **options)
    shown = "; ".join(f"lambda = {shift}: " + ", ".join(f"{m} {t['accuracy']:.3f}" for m, t in table.items())
                      for shift, table in metrics["accuracy"].items())
    click.echo(f"test accuracy: {shown}; report: {exp.out_dir}/report.md")
