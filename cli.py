"""Command-line entry points: thin shells over the library (everything is callable from Python).

Exit codes: 0 success; 1 the work ran but some maps failed (scatter-preprocess), or the store is
damaged (scatter-cache verify: an unreadable or missing chunk, data not matching its digest, an
input changed since it was scattered); 2 a user mistake (bad option, bad file, mismatched cache),
reported in one line, no traceback; 3 (scatter-cache verify) the store is sound but some maps
failed on their input or are not computed yet; 130 Ctrl-C and 143 SIGTERM (one line each: rerun
the same command to resume). The experiments' commands (scatter-reproduce-*) are in
``downstream/reproduce.py``.
"""

from __future__ import annotations

import json
import sys

import click

from pipeline.errors import InputError, user_errors
from pipeline.io.mask_files import (
    DEFAULT_APODISATION,
    DEFAULT_MIN_SKY_FRACTION,
    DEFAULT_TOLERANCE,
    DEFAULT_WIDTH_DEG,
    MASK_KINDS,
)
from pipeline.scattering.config import DEFAULT_ODD, PRECISIONS, SPIN2_ROUTES
from pipeline.sphere.fields import POL_CONVENTIONS
from pipeline.sphere.grids import RING_SCHEMES
from pipeline.sphere.harmonic import HEALPIX_EPSILON
from pipeline.sphere.masks import APODISATIONS

EXIT_FAILURES = 1
EXIT_DAMAGED = 1
EXIT_INCOMPLETE = 3


def _odd_kinds(ctx, param, value):
    return () if value.strip() in ("", "none") else tuple(v.strip() for v in value.split(","))


def _field_list(ctx, param, value):
    return None if value is None else tuple(v.strip() for v in value.split(","))


def scattering_options(command):
    """Options that define the scattering configuration (pipeline.scattering.config.ScatteringConfig)."""
    for option in reversed(
        [
            click.option("--L", "L", type=int, required=True, help="Input bandlimit (lmax = L - 1)."),
            click.option("--lam", type=float, default=2.0, show_default=True, help="Wavelet dilation factor (> 1)."),
            click.option("--J0", "J0", type=int, default=5, show_default=True, help="Lowest wavelet scale; outputs have bandlimit L0 = ceil(lam**J0)."),
            click.option("--depth", type=int, default=2, show_default=True, help="Scattering depth (1-3)."),
            click.option("--oversampling", type=float, default=2.0, show_default=True, help="Grid oversampling before each modulus (equivariance vs cost)."),
            click.option("--odd", default=",".join(DEFAULT_ODD), show_default=True, callback=_odd_kinds,
                         help="Sign-aware channel kinds (comma-separated: signed_square, cross), or 'none' for modulus scattering only."),
            click.option("--precision", type=click.Choice(PRECISIONS), default="float64", show_default=True,
                         help="Arithmetic of the oversampled grid passes (input analysis, filters and outputs stay float64)."),
            click.option("--spin2-route", type=click.Choice(SPIN2_ROUTES), default="eb", show_default=True,
                         help="How a spin-2 pair (--fields with Q,U) is scattered: E and B as scalar maps, or the spin-2 wavelet modulus."),
        ]
    ):
        command = option(command)
    return command


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Output Zarr store (local path or fsspec URL).")
@scattering_options
@click.option("--grid", type=click.Choice(["healpix", *RING_SCHEMES, "alm"]), help="Grid of .npy/.npz inputs (FITS: from the header; images: f1, or dh).")
@click.option("--ordering", type=click.Choice(["RING", "NESTED"]), help="HEALPix ordering of .npy/.npz inputs.")
@click.option("--field", help="FITS column holding the map (name or 0-based index).")
@click.option("--fields", callback=_field_list,
              help="Several fields per map, comma-separated names or 0-based indices: FITS columns (T,Q,U), sidecar-named rows of a .npy, image channels (R,G,B).")
@click.option("--spin2", callback=_field_list, help="The two of --fields forming a spin-2 pair (default: Q,U or G1,G2 by name).")
@click.option("--pol-convention", type=click.Choice(POL_CONVENTIONS),
              help="Polarisation convention of the spin-2 pair (default: the FITS POLCCONV keyword or the sidecar; needed if neither says).")
@click.option("--mask", "mask_file", type=click.Path(dir_okay=False),
              help="A mask shared by every map (HEALPix FITS or .npy on the maps' grid; 1 observed, 0 masked); a manifest column 'mask' gives maps their own.")
@click.option("--mask-field", help="FITS column of the mask (name or 0-based index; default: the only one).")
@click.option("--mask-kind", type=click.Choice(MASK_KINDS), help="A binary 0/1 mask (apodised), or weights in [0, 1] used as they are [binary].")
@click.option("--apodisation", type=click.Choice(APODISATIONS), help=f"Taper of a binary mask (NaMaster's C1, C2) [{DEFAULT_APODISATION}].")
@click.option("--apodisation-width", type=float, help=f"Width of the taper in degrees [{DEFAULT_WIDTH_DEG:g}].")
@click.option("--min-sky-fraction", type=float, help=f"Refuse a mask that observes less of the sky [{DEFAULT_MIN_SKY_FRACTION:g}].")
@click.option("--validity-tolerance", type=float,
              help=f"A channel is valid where the mask's propagated rms contamination is below this fraction [{DEFAULT_TOLERANCE:g}].")
@click.option("--npz-key", help="Array of a .npz archive holding the map.")
@click.option("--color", type=click.Choice(["luminance", "R", "G", "B"]),
              help="How a colour image becomes one map: luminance (ITU-R BT.601 luma) or one channel (default: colour refused).")
@click.option("--alpha", type=click.Choice(["refuse", "ignore"]), default="refuse", show_default=True,
              help="Images with an alpha channel: refuse them, or ignore (drop) the channel.")
@click.option("--missing", type=click.Choice(["refuse", "fail"]), default="refuse", show_default=True,
              help="A manifest row whose file does not exist: refuse the run, or record that map as failed and compute the rest.")
@click.option("--bad-pixels", type=click.Choice(["refuse", "fill-mean", "mask"]), default="refuse", show_default=True,
              help="What to do with NaN/inf/UNSEEN pixels: refuse the map, fill them with its mean, or mask them (a mask of the map's own).")
@click.option("--healpix-epsilon", type=float, default=HEALPIX_EPSILON, show_default=True, help="Tolerance of the iterative HEALPix analysis.")
@click.option("--scheduler", help="Address of a running dask.distributed scheduler (default: a local cluster).")
@click.option("--scheduler-file", type=click.Path(), help="The JSON file a running scheduler wrote (dask scheduler --scheduler-file, dask-mpi).")
@click.option("--workers", type=int, help="Local cluster worker processes (default: one per core; for maps of L >= 2048, one on all the cores).")
@click.option("--threads-per-worker", type=int,
              help="Threads of each map's transform (default local: 1, all the cores for L >= 2048; remote: 1).")
@click.option("--maps-per-task", type=int, help="Most maps per Dask task (default: about 1 s of work; batches shrink towards the end).")
@click.option("--overwrite", is_flag=True, help="Replace an existing store written with another configuration.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first map that fails.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@user_errors
def preprocess_main(inputs, output, L, lam, J0, depth, oversampling, odd, precision, spin2_route, grid, ordering, field, fields, spin2,
                    pol_convention, mask_file, mask_field, mask_kind, apodisation, apodisation_width, min_sky_fraction, validity_tolerance, npz_key,
                    color, alpha, missing, bad_pixels, healpix_epsilon, scheduler, scheduler_file, workers, threads_per_worker, maps_per_task,
                    overwrite, fail_fast, no_progress):
    """Scatter INPUTS (files, folders, globs or a manifest .csv) into the cache OUTPUT.

    Rerunning the same command resumes: only maps not yet done are computed.
    """
    from pipeline.io.inputs import expand_inputs
    from pipeline.io.mask_files import MaskOptions
    from pipeline.io.readers import ReaderOptions
    from pipeline.run import InputOptions, RunOptions, preprocess
    from pipeline.scattering.config import ScatteringConfig

    config = ScatteringConfig(L=L, lam=lam, J0=J0, depth=depth, oversampling=oversampling, odd=odd, precision=precision,
                              spin2_route=spin2_route)
    field = int(field) if field is not None and field.isdigit() else field
    reader = ReaderOptions(grid=grid, ordering=ordering, field=field, npz_key=npz_key, bad_pixels=bad_pixels,
                           color=color, alpha=alpha, fields=fields, spin2=spin2, pol_convention=pol_convention)
    run = RunOptions(scheduler=scheduler, workers=workers, maps_per_task=maps_per_task, fail_fast=fail_fast,
                     progress=not no_progress, scheduler_file=scheduler_file, threads_per_worker=threads_per_worker)
    mask_options = {name: value for name, value in dict(
        field=mask_field, kind=mask_kind, apodisation=apodisation, width_deg=apodisation_width, min_sky_fraction=min_sky_fraction,
        tolerance=validity_tolerance).items() if value is not None}
    specs = expand_inputs(inputs, missing)
    own_masks = bad_pixels == "mask" or any(s.mask for s in specs)
    if mask_file is None and mask_options and not own_masks:
        raise InputError("--mask-field, --mask-kind, --apodisation, --apodisation-width, --min-sky-fraction and --validity-tolerance "
                         "apply to masks: give --mask FILE, a manifest column mask or --bad-pixels mask")
    if mask_kind == "weights":
        mask_options.setdefault("apodisation", "none")
    mask = MaskOptions.for_file(mask_file, **mask_options) if mask_file else MaskOptions(per_map=True, **mask_options) if own_masks else None
    input_options = InputOptions(reader, healpix_epsilon, mask)
    summary = preprocess(specs, output, config, input_options, run, overwrite=overwrite)
    click.echo(f"{output}: {summary.n_computed} computed, {summary.n_skipped} already done, "
               f"{len(summary.failures)} failed, of {summary.n_requested} inputs")
    for failure in summary.failures:
        click.echo(f"failed: {failure}", err=True)
    sys.exit(0 if summary.ok else EXIT_FAILURES)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cache_main():
    """Inspect and verify scattering caches."""


def _spread(fractions: list[float]) -> str:
    """Fractions (min, median, max) as percentages "a/b/c" ("-" for no maps)."""
    return "/".join(f"{100 * f:.0f}" for f in fractions) or "-"


@cache_main.command("inspect")
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@user_errors
def inspect_command(store, as_json):
    """Summarise STORE: configuration, paths, maps done / failed / pending."""
    from pipeline.store.cache import Cache
    from pipeline.store.inspection import summary

    s = summary(Cache.open(store))
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    c = s["config"]
    click.echo(f"{store}: L={c['L']} lam={c['lam']:g} J0={c['J0']} depth={c['depth']} oversampling={c['oversampling']:g} precision={c.get('precision', 'float64')} "
               f"odd={','.join(c.get('odd', [])) or 'none'} (config {s['config_hash'][:12]})")
    kinds = ", ".join(f"{n} {k}" for k, n in s["channels_by_kind"].items())
    if s["channels_by_field"]:
        kinds += "; by field: " + ", ".join(f"{n} {f}" for f, n in s["channels_by_field"].items())
    click.echo(f"  {s['n_paths']} channels ({kinds}) at L0={s['L0']}; maps: {s['maps']} ({s['done']} done, {s['failed']} failed, "
               f"{s['pending']} pending); complete: {s['complete']}; updated {s['updated']}")
    if s["per_map_masks"]:
        m, p = s["mask"], s["per_map_masks"]
        own = f"{p['own_mask_files']} of {p['maps']} done maps with a mask file of their own" + (", bad pixels masked" if p["bad_pixels_masked"] else "")
        click.echo(f"  per-map masks ({m['kind']}, apodisation {m['apodisation']} {m['width_deg']:g} deg; shared mask {m['path'] or 'none'}; {own}): "
                   f"observed sky per map (%, min/median/max): {_spread(p['observed_fraction'])}; valid sky per channel "
                   f"(%, min/median/max over maps, contamination < {m['tolerance']:g}): {', '.join(map(_spread, p['valid_fractions']))}")
    elif s["mask"]:
        m = s["mask"]
        valid = ", ".join(f"{100 * f:.0f}" for f in m["valid_fractions"])
        click.echo(f"  mask {m['path']} ({m['kind']}, apodisation {m['apodisation']} {m['width_deg']:g} deg): observed {100 * m['observed_fraction']:.1f} % "
                   f"of the sky, shared by every map; valid sky per channel (%, contamination < {m['tolerance']:g}): {valid}")
    if s["unreadable_status_chunks"]:
        click.echo(f"  {s['unreadable_status_chunks']} chunk(s) of maps/status unreadable: their maps count as pending "
                   f"(scatter-cache verify names them; a run recomputes them)")
    for failure in s["failures"]:
        click.echo(f"  failed: {failure}")


@cache_main.command("verify")
@click.argument("store")
@click.option("--inputs", "check_inputs", is_flag=True,
              help="Also re-read every done map's input file and compare it with its recorded sha256.")
@click.option("--repair", is_flag=True, help="Recompute exactly the maps with problems.")
@click.option("--scheduler", help="Dask scheduler address for --repair.")
@click.option("--workers", type=int, help="Local worker processes for --repair.")
@user_errors
def verify_command(store, check_inputs, repair, scheduler, workers):
    """Check that every done map of STORE is fully stored and checksummed.

    Exit 0: sound and complete; 1: the store is damaged; 3: sound, but maps failed or are pending.
    """
    from pipeline.errors import StoreDamage
    from pipeline.run import RunOptions
    from pipeline.run import repair as repair_cache
    from pipeline.store.cache import Cache
    from pipeline.store.inspection import find_problems

    try:
        cache = Cache.open(store)
    except StoreDamage as err:
        click.echo(f"problem: {err}")
        sys.exit(EXIT_DAMAGED)
    if repair:
        report = repair_cache(store, check_inputs=check_inputs, run=RunOptions(scheduler, workers, progress=False))
        found, problems = report.found, report.remaining
    else:
        found = problems = find_problems(cache, check_inputs)
    for problem in found:
        click.echo(f"problem: {problem}")
    if repair and found:
        click.echo(f"repaired {len(report.recomputed)} map(s); {len(problems)} problem(s) remain")
        for problem in problems:
            click.echo(f"problem: {problem}")
    if not problems:
        click.echo(f"{store}: ok ({cache.n_maps} maps verified)")
    sys.exit(EXIT_DAMAGED if any(p.damage for p in problems) else EXIT_INCOMPLETE if problems else 0)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", "directory", default="data/cmb", show_default=True, help="Folder for the maps and the manifest.")
@click.option("--L", "L", type=int, default=1024, show_default=True)
@click.option("--n-per-class", type=int, default=100, show_default=True)
@click.option("--f", "f", type=float, default=0.02, show_default=True, help="Non-Gaussian amplitude.")
@click.option("--seed", type=int, default=0, show_default=True, help="Root of the per-map SeedSequence.")
@click.option("--grid", type=click.Choice(["gl", "mw", "healpix"]), default="gl", show_default=True)
@click.option("--workers", type=int, help="Parallel map writers (default: number of cores).")
@click.option("--overwrite", is_flag=True, help="Regenerate maps whose recorded provenance differs.")
@user_errors
def simulate_cmb_main(directory, L, n_per_class, f, seed, grid, workers, overwrite):
    """Write Gaussian and non-Gaussian CMB maps (same expected power spectrum) and a manifest.

    Maps already on disk with matching provenance are reused.
    """
    from pipeline.cmb import CMBDatasetConfig, generate_dataset

    config = CMBDatasetConfig(L=L, n_per_class=n_per_class, f=f, seed=seed, grid=grid)
    result = generate_dataset(config, directory, num_workers=workers, overwrite=overwrite, progress=True)
    click.echo(f"{result.manifest}: {result.generated} generated, {result.reused} reused")


def train_main():
    """scatter-train: the click command of ``downstream.train.commands``, imported (with torch) only here."""
    from downstream.train.commands import train

    train()


def evaluate_main():
    """scatter-evaluate: the click command of ``downstream.train.commands``, imported only here."""
    from downstream.train.commands import evaluate

    evaluate()

if __name__ == "__main__":
    preprocess_main()
