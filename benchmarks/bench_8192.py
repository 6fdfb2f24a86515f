"""One L = 8192 map (the bandlimit of a HEALPix nside 4096 map) through ``scatter-preprocess`` on
this machine: time, the worker's peak memory against 8x the float64 input map, and the
equivariance of the cached coefficients at depth 1 and 2.

The map is a seeded Gaussian field with a red spectrum C_l = (l + 1)^-2 (the CMB table of
pipeline/data stops at l = 4100), bandlimited to L = 8192, written as a float32 Gauss-Legendre
.npy (8192 x 16383, with its sidecar). ``scatter-preprocess --workers 1`` scatters it on the
cores of this machine as threads (``planning.local_layout``) while the RSS of the command's
process tree is sampled from outside. Equivariance: the same coefficients' map rotated exactly
by one Haar-random rotation, scattered in this process; ||S(R f) - R S(f)|| / ||S(f)|| per channel
kind and depth against the cached S(f). Prints a table, writes benchmarks/results/bench_8192.json.

With ``--grid healpix`` the map is a HEALPix RING FITS file of nside L / 2 (float32, as Planck
ships them) and the CLI's iterative analysis is timed with the rest; its results go to
benchmarks/results/bench_8192_healpix.json. ``--no-equivariance`` skips the in-process rotated
scattering (as long again as the CLI's).

    .venv/bin/python benchmarks/bench_8192.py --workdir /tmp          # ~30-60 min on 2 cores
    .venv/bin/python benchmarks/bench_8192.py --grid healpix --no-equivariance --workdir /tmp
    .venv/bin/python benchmarks/bench_8192.py --L 512 --workdir /tmp  # smoke run
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_scale import MB, run_cli  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.scattering.transform import ScatteringTransform  # noqa: E402
from pipeline.sphere.grids import HealpixGrid, RingGrid  # noqa: E402
from pipeline.sphere.harmonic import alm_to_map, map_to_alm  # noqa: E402
from pipeline.sphere.rotations import random_rotation, rotate_alm, rotate_real  # noqa: E402
from pipeline.store.cache import Cache  # noqa: E402
from pipeline.testing import random_alm, relative_error_by_channel  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_8192.json"


@click.command()
@click.option("--L", "L", default=8192, show_default=True)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="Where the 512 MB map and the cache go.")
@click.option("--seed", default=8192, show_default=True)
@click.option("--grid", "grid_kind", type=click.Choice(["gl", "healpix"]), default="gl", show_default=True)
@click.option("--equivariance/--no-equivariance", default=True, show_default=True)
def main(L: int, workdir: Path | None, seed: int, grid_kind: str, equivariance: bool) -> None:
    rng = np.random.default_rng(seed)
    config = ScatteringConfig(L=L)
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench_8192_", dir=workdir) as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        alm = random_alm(rng, L, 1.0 / np.arange(1, L + 1) ** 2)
        if grid_kind == "gl":
            grid = RingGrid.for_bandlimit("gl", L)
            values = alm_to_map(alm, grid, L, nthreads=threads).astype(np.float32)
            source = tmp / "sky.npy"
            np.save(source, values)
            (tmp / "sky.json").write_text(json.dumps({"grid": "gl"}))
            alm = map_to_alm(values.astype(np.float64), grid, L, nthreads=threads).alm  # the coefficients of the stored float32 map
        else:
            values = alm_to_map(alm, HealpixGrid(L // 2, "RING"), L, nthreads=threads).astype(np.float32)
            source = tmp / "sky.fits"
            write_healpix_fits(source, values, L // 2)
        input_float64_mb = values.size * 8 / MB
        del values
        print(f"map written in {time.perf_counter() - start:.0f} s", flush=True)
        row = run_cli(source, L, tmp / "cache.zarr")
        print(f"scatter-preprocess: {row['task_s']:.0f} s per map, worker peak {row['cache_peak_rss_mb']:.0f} MiB "
              f"(8x the float64 input map: {8 * input_float64_mb:.0f} MiB)", flush=True)
        errors, angles = {}, random_rotation(rng)
        if equivariance:
            cached = Cache.open(str(tmp / "cache.zarr")).group["coefficients"][0]
            transform = ScatteringTransform(config, nthreads=threads)
            start = time.perf_counter()
            rotated = transform.from_alm(rotate_alm(alm, L, angles, nthreads=threads)).coefficients
            errors = relative_error_by_channel(rotated, rotate_real(cached, config.L0, angles), transform.plan.kinds, transform.paths)
            print(f"rotated map scattered in-process in {time.perf_counter() - start:.0f} s", flush=True)
    result = {"L": L, "grid": grid_kind, "config": config.to_dict(), "threads": threads, "input_float64_mb": input_float64_mb,
              "memory_target_mb": 8 * input_float64_mb, **row,
              "within_memory_target": max(row["cache_peak_rss_mb"], row["sampled_worker_peak_rss_mb"]) <= 8 * input_float64_mb,
              "equivariance": {f"{k} {d}": e for (k, d), e in errors.items()}, "rotation": list(angles) if errors else None}
    print(f"\nL = {L}, {threads} threads: task {row['task_s']:.0f} s, CLI {row['cli_wall_s']:.0f} s; worker peak "
          f"{max(row['cache_peak_rss_mb'], row['sampled_worker_peak_rss_mb']):.0f} MiB = "
          f"{max(row['cache_peak_rss_mb'], row['sampled_worker_peak_rss_mb']) / input_float64_mb:.2f}x the float64 input map")
    for name, error in result["equivariance"].items():
        print(f"  equivariance {name}: {error:.2e}")
    path = RESULTS if grid_kind == "gl" else RESULTS.with_name("bench_8192_healpix.json")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


def write_healpix_fits(path: Path, values: np.ndarray, nside: int) -> None:
    """A full-sky RING map as a float32 FITS table with the HEALPix header keywords."""
    from astropy.io import fits

    hdu = fits.BinTableHDU.from_columns([fits.Column(name="TEMPERATURE", format="E", array=values)])
    for key, value in (("PIXTYPE", "HEALPIX"), ("ORDERING", "RING"), ("NSIDE", nside), ("INDXSCHM", "IMPLICIT")):
        hdu.header[key] = value
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)


if __name__ == "__main__":
    main()
