"""Throughput of scatter-preprocess: maps/s with 1 and 2 local workers, overhead over the bare
transform, peak memory per worker. Prints a table, writes benchmarks/results/bench_pipeline.json.

The bare transform is timed in this process on the same maps (read + analyse + scatter, one
thread). The pipeline runs on an already started LocalCluster of the same kind the command makes
(processes, one thread each), warmed by a first small run, so its wall time is steady-state
throughput: overhead = pipeline time x workers / bare time - 1. Cluster start-up is reported apart.

    python benchmarks/bench_pipeline.py                      # L = 256 and 1024
    python benchmarks/bench_pipeline.py --L 256 --maps 8     # quick
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_scattering import white_alm  # noqa: E402
from pipeline.config import ScatteringConfig  # noqa: E402
from pipeline.grids import RingGrid  # noqa: E402
from pipeline.harmonic import alm_to_map  # noqa: E402
from pipeline.inputs import expand_inputs  # noqa: E402
from pipeline.readers import ReaderOptions  # noqa: E402
from pipeline.run import local_cluster, preprocess  # noqa: E402
from pipeline.tasks import scatter_file  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_pipeline.json"


def write_maps(folder: Path, L: int, n: int) -> list[str]:
    rng = np.random.default_rng(L)
    grid = RingGrid.for_bandlimit("gl", L)
    for k in range(n):
        np.save(folder / f"map{k:04d}.npy", alm_to_map(white_alm(rng, L), grid, L).astype(np.float32))
        (folder / f"map{k:04d}.json").write_text(json.dumps({"grid": "gl"}))
    return sorted(str(p) for p in folder.glob("*.npy"))


def measure(L: int, n_maps: int, workers: tuple[int, ...]) -> dict:
    config = ScatteringConfig(L=L)
    options = ReaderOptions()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = write_maps(tmp, L, n_maps)
        scatter_file(0, files[0], config, options)  # warm the filter bank, as a worker's first task does
        start = time.perf_counter()
        for i, f in enumerate(files):
            scatter_file(i, f, config, options)
        bare = (time.perf_counter() - start) / n_maps
        row = {"L": L, "maps": n_maps, "bare_transform_s_per_map": bare, "runs": []}
        for n in workers:
            start = time.perf_counter()
            with local_cluster(n) as cluster:
                startup = time.perf_counter() - start
                address = cluster.scheduler_address
                preprocess(expand_inputs(files[:n]), str(tmp / "warm.zarr"), config, options, scheduler=address, progress=False)
                shutil.rmtree(tmp / "warm.zarr")
                store = tmp / f"cache{n}.zarr"
                start = time.perf_counter()
                summary = preprocess(expand_inputs(files), str(store), config, options, scheduler=address, progress=False)
                wall = time.perf_counter() - start
            assert summary.ok and summary.n_computed == n_maps
            peak = float(np.max(zarr.open_group(str(store), mode="r")["maps/peak_rss_mb"][:]))
            row["runs"].append({"workers": n, "wall_s": wall, "cluster_startup_s": startup, "maps_per_s": n_maps / wall,
                                "overhead": wall * n / (bare * n_maps) - 1, "peak_rss_mb_per_worker": peak})
            shutil.rmtree(store)
        one = next((r for r in row["runs"] if r["workers"] == 1), None)
        for r in row["runs"]:
            r["speedup_vs_1_worker"] = r["maps_per_s"] / one["maps_per_s"] if one else None
    return row


@click.command()
@click.option("--L", "Ls", type=int, multiple=True, default=(256, 1024), show_default=True)
@click.option("--maps", "n_maps", type=int, default=0, help="maps per L (default: 200 at L <= 256, 32 above: 8-30 s of work per run)")
def main(Ls, n_maps):
    rows = [measure(L, n_maps or (200 if L <= 256 else 32), (1, 2)) for L in Ls]
    print(f"\n{'L':>6} {'maps':>5} {'bare s/map':>10} {'workers':>7} {'maps/s':>8} {'speedup':>8} {'overhead':>9} {'peak RSS MB':>11} {'start-up s':>10}")
    for row in rows:
        for r in row["runs"]:
            print(f"{row['L']:>6} {row['maps']:>5} {row['bare_transform_s_per_map']:>10.3f} {r['workers']:>7} {r['maps_per_s']:>8.2f} "
                  f"{r['speedup_vs_1_worker']:>8.2f} {100 * r['overhead']:>8.1f}% {r['peak_rss_mb_per_worker']:>11.0f} {r['cluster_startup_s']:>10.1f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
