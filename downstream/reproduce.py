"""The experiments' commands, end to end (``make reproduce-cmb``, ``reproduce-digits``,
``reproduce-lensing`` and their quick variants): thin click shells over ``downstream.cmb``,
``downstream.digits`` and ``downstream.lensing``, imported (with torch) only when a command runs.
The pipeline's own commands are in ``cli.py``.
"""

from __future__ import annotations

import click

from pipeline.errors import user_errors


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="L = 256 and fewer maps (a few minutes) instead of the full L = 1024 run.")
@click.option("--n-per-class", type=int, help="Override the number of maps per class (Gaussian, and non-Gaussian per f).")
@click.option("--seeds", "n_seeds", type=int, help="Override the number of training seeds of each learned method.")
@click.option("--workers", type=int, help="Dask worker processes (default: number of cores).")
@click.option("--out", "out_dir", help="Results folder (default results/cmb or results/cmb-quick).")
@click.option("--data", "data_dir", help="Folder for maps and caches (default data/cmb).")
@click.option("--no-progress", is_flag=True)
@user_errors
def cmb_main(quick, n_per_class, n_seeds, workers, out_dir, data_dir, no_progress):
    """The CMB benchmark end to end: maps -> scattering cache and statistics -> every method at every f -> report."""
    from downstream.cmb.experiment import CMBExperiment, run

    overrides = {k: v for k, v in dict(n_per_class=n_per_class, n_seeds=n_seeds, workers=workers, out_dir=out_dir,
                                        data_dir=data_dir).items() if v is not None}
    exp = CMBExperiment.quick(**overrides) if quick else CMBExperiment(**overrides)
    metrics = run(exp, progress=not no_progress)
    f95 = metrics["f95"]
    shown = ", ".join(f"{m} {f95[m]['f95']:.3g}" if f95[m]["f95"] is not None else f"{m} not reached"
                      for m in ("scattering_cnn", "scattering_cnn_modulus", "skewness", "optimal_cubic"))
    click.echo(f"f95: {shown}; report: {exp.out_dir}/report.md")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="500 digits, 2 seeds, fewer epochs (minutes) instead of all 1797 digits and 3 seeds.")
@click.option("--n-digits", type=int, help="Override the number of digits (50-1797; each gives an upright and a rotated image).")
@click.option("--seeds", "n_seeds", type=int, help="Override the number of training seeds of each method and orientation.")
@click.option("--epochs", type=int, help="Override the most training epochs.")
@click.option("--workers", type=int, help="Worker processes (default: number of cores).")
@click.option("--out", "out_dir", help="Results folder (default results/digits or results/digits-quick).")
@click.option("--data", "data_dir", help="Folder for images and caches (default data/digits).")
@click.option("--no-progress", is_flag=True)
@user_errors
def digits_main(quick, n_digits, n_seeds, epochs, workers, out_dir, data_dir, no_progress):
    """The digits experiment end to end: 360-degree PNG images -> scattering cache -> models trained upright
    or rotated -> NR/NR, NR/R, R/R table and report."""
    from downstream.digits.experiment import DigitsExperiment, run

    overrides = {k: v for k, v in dict(n_digits=n_digits, n_seeds=n_seeds, epochs=epochs, workers=workers, out_dir=out_dir,
                                        data_dir=data_dir).items() if v is not None}
    exp = DigitsExperiment.quick(**overrides) if quick else DigitsExperiment(**overrides)
    metrics = run(exp, progress=not no_progress)
    shown = ", ".join(f"{m} {t['NR/NR']['accuracy']:.3f} / {t['NR/R']['accuracy']:.3f}" for m, t in metrics["accuracy"].items())
    click.echo(f"NR/NR / NR/R: {shown}; report: {exp.out_dir}/report.md")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="L = 64, 100 maps per class, shifts 0.4 and 0.8, 2 seeds (minutes) instead of L = 128, 400 per class, shifts 0.4, 0.8, 1.6, 5 seeds.")
@click.option("--n-per-class", type=int, help="Override the number of maps per class.")
@click.option("--seeds", "n_seeds", type=int, help="Override the number of training seeds of each learned method.")
@click.option("--epochs", type=int, help="Override the most training epochs.")
@click.option("--workers", type=int, help="Worker processes (default: number of cores).")
@click.option("--out", "out_dir", help="Results folder (default results/lensing or results/lensing-quick).")
@click.option("--data", "data_dir", help="Folder for shear maps and caches (default data/lensing).")
@click.option("--no-progress", is_flag=True)
@user_errors
def lensing_main(quick, n_per_class, n_seeds, epochs, workers, out_dir, data_dir, no_progress):
    """The weak-lensing experiment end to end: Gaussian vs lognormal convergence -> shear maps -> spin-2
    scattering caches -> scattering classifiers vs shear spectra vs convergence moments -> report."""
    from downstream.lensing.experiment import LensingExperiment, run

    overrides = {k: v for k, v in dict(n_per_class=n_per_class, n_seeds=n_seeds, epochs=epochs, workers=workers, out_dir=out_dir,
                                        data_dir=data_dir).items() if v is not None}
    exp = LensingExperiment.quick(**overrides) if quick else LensingExperiment(**overrides)
    metrics = run(exp, progress=not no_progress)
    shown = "; ".join(f"lambda = {shift}: " + ", ".join(f"{m} {t['accuracy']:.3f}" for m, t in table.items())
                      for shift, table in metrics["accuracy"].items())
    click.echo(f"test accuracy: {shown}; report: {exp.out_dir}/report.md")
