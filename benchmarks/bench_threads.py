"""Threads inside one map: scattering time of one map with 1, 2, ... threads, and one SHT pair's
(README "Threads"; ``--threads-per-worker``). The transform's SHTs run on ducc0's threads; its
grid-sized pointwise work (modulus, products) on one, which bounds the speed-up (Amdahl).

Each thread count is timed in the same process, best of `repeats`, on one white-spectrum map on
the Gauss-Legendre grid. Prints a table and writes benchmarks/results/bench_threads.json.

    python benchmarks/bench_threads.py                    # L = 4096, threads 1..cores (minutes)
    python benchmarks/bench_threads.py --L 1024 --repeats 2
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_scattering import best_time, white_alm  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.scattering.transform import ScatteringTransform  # noqa: E402
from pipeline.sphere.grids import RingGrid  # noqa: E402
from pipeline.sphere.harmonic import alm_to_map, map_to_alm  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_threads.json"


@click.command()
@click.option("--L", "L", default=4096, show_default=True)
@click.option("--J0", "J0", default=5, show_default=True)
@click.option("--repeats", default=1, show_default=True)
@click.option("--max-threads", type=int, default=os.cpu_count(), show_default=True)
def main(L: int, J0: int, repeats: int, max_threads: int) -> None:
    grid = RingGrid.for_bandlimit("gl", L)
    sky = alm_to_map(white_alm(np.random.default_rng(0), L), grid, L, nthreads=max_threads)
    config = ScatteringConfig(L=L, J0=J0)
    rows = []
    for nthreads in range(1, max_threads + 1):
        st = ScatteringTransform(config, nthreads=nthreads)
        pair = best_time(lambda: alm_to_map(map_to_alm(sky, grid, L, nthreads=nthreads).alm, grid, L, nthreads=nthreads), repeats)
        scatter = best_time(lambda: st.from_map(sky, grid), repeats)
        rows.append({"threads": nthreads, "sht_pair_s": pair, "scattering_s": scatter})
    for row in rows:
        row["scattering_speedup"] = rows[0]["scattering_s"] / row["scattering_s"]
        row["sht_pair_speedup"] = rows[0]["sht_pair_s"] / row["sht_pair_s"]
    click.echo(f"L = {L}, J0 = {J0}, default configuration (odd {','.join(config.odd)}); best of {repeats}")
    click.echo(f"{'threads':>8} {'SHT pair s':>11} {'speed-up':>9} {'scattering s':>13} {'speed-up':>9}")
    for r in rows:
        click.echo(f"{r['threads']:>8} {r['sht_pair_s']:>11.2f} {r['sht_pair_speedup']:>9.2f} {r['scattering_s']:>13.1f} {r['scattering_speedup']:>9.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"L": L, "J0": J0, "config": config.to_dict(), "repeats": repeats, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
