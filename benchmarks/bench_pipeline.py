"""Throughput of scatter-preprocess: maps/s with 1 and 2 local workers, overhead over the bare
transform, peak memory per worker. Prints a table, writes benchmarks/results/bench_pipeline.json.

The bare transform is timed in this process on the same maps (read + analyse + scatter, one
thread). The pipeline runs on already started LocalClusters of the same kind the command makes
(processes, one thread each), warmed by a first small run, so its wall time is steady-state
throughput: overhead = pipeline time x workers / bare time - 1. Cluster start-up is reported apart.
This machine's speed drifts by 10 % and more between runs of a few seconds, so each repeat times
the bare transform, 1 worker and 2 workers back to back, and ratios are formed within a repeat;
the table gives their medians and the JSON every repeat.

    python benchmarks/bench_pipeline.py                      # L = 256 and 1024
    python benchmarks/bench_pipeline.py --L 256 --maps 8 --repeats 1    # quick
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
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


def bare_seconds_per_map(files: list[str], config: ScatteringConfig, options: ReaderOptions) -> float:
    start = time.perf_counter()
    for i, f in enumerate(files):
        scatter_file(i, f, config, options)
    return (time.perf_counter() - start) / len(files)


def pipeline_run(files: list[str], store: Path, config, options, address: str) -> dict:
    start = time.perf_counter()
    summary = preprocess(expand_inputs(files), str(store), config, options, scheduler=address, progress=False)
    wall = time.perf_counter() - start
    assert summary.ok and summary.n_computed == len(files)
    peak = float(np.max(zarr.open_group(str(store), mode="r")["maps/peak_rss_mb"][:]))
    shutil.rmtree(store)
    return {"wall_s": wall, "maps_per_s": len(files) / wall, "peak_rss_mb_per_worker": peak}


def measure(L: int, n_maps: int, workers: tuple[int, ...], repeats: int) -> dict:
    config = ScatteringConfig(L=L)
    options = ReaderOptions()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as clusters:
        tmp = Path(tmp)
        files = write_maps(tmp, L, n_maps)
        scatter_file(0, files[0], config, options)  # warm the filter bank, as a worker's first task does
        addresses, startup = {}, {}
        for n in workers:
            start = time.perf_counter()
            addresses[n] = clusters.enter_context(local_cluster(n)).scheduler_address
            startup[n] = time.perf_counter() - start
            preprocess(expand_inputs(files[:n]), str(tmp / "warm.zarr"), config, options, scheduler=addresses[n], progress=False)
            shutil.rmtree(tmp / "warm.zarr")
        row = {"L": L, "maps": n_maps, "cluster_startup_s": startup, "repeats": []}
        for _ in range(repeats):
            bare = bare_seconds_per_map(files, config, options)
            runs = {n: pipeline_run(files, tmp / f"cache{n}.zarr", config, options, addresses[n]) for n in workers}
            for n, r in runs.items():
                r["overhead"] = r["wall_s"] * n / (bare * n_maps) - 1
                r["speedup_vs_1_worker"] = r["maps_per_s"] / runs[1]["maps_per_s"] if 1 in runs else None
            row["repeats"].append({"bare_transform_s_per_map": bare, "runs": {str(n): r for n, r in runs.items()}})
        row["median"] = {
            str(n): {key: float(np.median([rep["runs"][str(n)][key] for rep in row["repeats"]]))
                     for key in ("maps_per_s", "overhead", "speedup_vs_1_worker", "peak_rss_mb_per_worker")}
            for n in workers
        }
        row["median_bare_transform_s_per_map"] = float(np.median([rep["bare_transform_s_per_map"] for rep in row["repeats"]]))
    return row


@click.command()
@click.option("--L", "Ls", type=int, multiple=True, default=(256, 1024), show_default=True)
@click.option("--maps", "n_maps", type=int, default=0, help="maps per L (default: 200 at L <= 256, 32 above: 8-30 s of work per run)")
@click.option("--repeats", type=int, default=5, show_default=True, help="bare / 1 worker / 2 workers back to back, this many times")
def main(Ls, n_maps, repeats):
    rows = [measure(L, n_maps or (200 if L <= 256 else 32), (1, 2), repeats) for L in Ls]
    print(f"\n{'L':>6} {'maps':>5} {'bare s/map':>10} {'workers':>7} {'maps/s':>8} {'speedup':>8} {'overhead':>9} {'peak RSS MB':>11}   per repeat: speedup / overhead")
    for row in rows:
        for n, m in row["median"].items():
            each = " ".join(f"{rep['runs'][n]['speedup_vs_1_worker']:.2f}/{100 * rep['runs'][n]['overhead']:.0f}%" for rep in row["repeats"])
            print(f"{row['L']:>6} {row['maps']:>5} {row['median_bare_transform_s_per_map']:>10.3f} {n:>7} {m['maps_per_s']:>8.2f} "
                  f"{m['speedup_vs_1_worker']:>8.2f} {100 * m['overhead']:>8.1f}% {m['peak_rss_mb_per_worker']:>11.0f}   {each}")
    print("(medians over the repeats; cluster start-up: " + ", ".join(
        f"L = {row['L']}: " + " / ".join(f"{s:.1f} s" for s in row["cluster_startup_s"].values()) for row in rows) + ")")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
