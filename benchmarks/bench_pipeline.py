"""Throughput of scatter-preprocess: maps/s with 1 and 2 local workers, overhead over the bare
transform, peak memory per worker, and the single writer's CPU per map by maps per write (what
bounds a large cluster). Prints tables, writes benchmarks/results/bench_pipeline.json.

The bare transform (the task function on the same maps: read + analyse + scatter, one thread) is
timed in a fresh warmed process, and, as the machine's own ceiling for 2 workers, in two such
processes at once (half the maps each, no Dask, no store): on a shared or virtual 2-core machine
two busy cores are often slower each than one, and no pipeline can beat that. (Timed in this
process instead, the bare transform was up to 15 % slower than one pipeline worker: this process
also hosts the clusters' schedulers and nannies.) The pipeline runs on already started
LocalClusters of the same kind the command makes (processes, one thread each), warmed by a first
small run, so its wall time is steady-state throughput: overhead = pipeline time x workers / bare
time - 1. Cluster start-up is reported apart. This machine's speed drifts by 10 % and more between
runs of a few seconds, so each repeat times one bare process, two bare processes, 1 worker and
2 workers back to back, and ratios are formed within a repeat; the table gives their medians and
the JSON every repeat.

    python benchmarks/bench_pipeline.py                      # L = 256 and 1024
    python benchmarks/bench_pipeline.py --L 256 --maps 8 --repeats 1    # quick
"""

from __future__ import annotations

import json
import multiprocessing
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
from pipeline.io.inputs import InputSpec, expand_inputs  # noqa: E402
from pipeline.run.cluster import local_cluster  # noqa: E402
from pipeline.run.options import InputOptions, RunOptions  # noqa: E402
from pipeline.run.runner import preprocess  # noqa: E402
from pipeline.run.tasks import scatter_file  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.sphere.grids import RingGrid  # noqa: E402
from pipeline.sphere.harmonic import alm_to_map  # noqa: E402
from pipeline.store.cache import Cache  # noqa: E402
from pipeline.store.format import MapResult  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_pipeline.json"
WRITES = (1, 4, 16)
"""Maps per Cache.write timed for the writer's CPU cost per map."""


def write_maps(folder: Path, L: int, n: int) -> list[str]:
    rng = np.random.default_rng(L)
    grid = RingGrid.for_bandlimit("gl", L)
    for k in range(n):
        np.save(folder / f"map{k:04d}.npy", alm_to_map(white_alm(rng, L), grid, L).astype(np.float32))
        (folder / f"map{k:04d}.json").write_text(json.dumps({"grid": "gl"}))
    return sorted(str(p) for p in folder.glob("*.npy"))


def _timed_bare_process(files: list[str], L: int, ready, spans) -> None:
    """Child of ``bare_seconds_per_map``: warm, wait for the others, time its maps."""
    config, options = ScatteringConfig(L=L), InputOptions()
    scatter_file(0, files[0], config, options)
    ready.wait()
    start = time.perf_counter()
    for i, f in enumerate(files):
        scatter_file(i, f, config, options)
    spans.put((start, time.perf_counter()))


def bare_seconds_per_map(files: list[str], L: int, n_processes: int) -> float:
    """Wall time per map of the bare transform in `n_processes` fresh, warmed processes started
    together (every n-th map each); the CLOCK_MONOTONIC spans of the processes are comparable."""
    context = multiprocessing.get_context("spawn")
    ready, spans = context.Barrier(n_processes), context.Queue()
    processes = [context.Process(target=_timed_bare_process, args=(files[k::n_processes], L, ready, spans))
                 for k in range(n_processes)]
    for p in processes:
        p.start()
    times = [spans.get() for _ in processes]
    for p in processes:
        p.join()
    return (max(end for _, end in times) - min(start for start, _ in times)) / len(files)


def writer_cpu_per_map(L: int, n_maps: int, maps_per_write: int) -> float:
    """CPU seconds per map that the single writer spends in ``Cache.write`` when each write
    holds `maps_per_write` maps (random results of the configuration's shapes, a fresh store)."""
    config = ScatteringConfig(L=L)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache.create(f"{tmp}/cache.zarr", config, {}, overwrite=False)
        results = [MapResult(index=i, sha256="0" * 64, seconds=1.0, peak_rss_mb=1.0,
                             **{name: rng.standard_normal(shape) for name, shape in cache.layout.row_shapes.items()})
                   for i in range(n_maps)]
        cache.add_maps([InputSpec(source=f"map{i}") for i in range(n_maps)])
        start = time.process_time()
        for first in range(0, n_maps, maps_per_write):
            cache.write(results[first : first + maps_per_write])
        return (time.process_time() - start) / n_maps


def pipeline_run(files: list[str], store: Path, config, options, address: str) -> dict:
    start = time.perf_counter()
    summary = preprocess(expand_inputs(files), str(store), config, options, RunOptions(scheduler=address, progress=False))
    wall = time.perf_counter() - start
    assert summary.ok and summary.n_computed == len(files)
    peak = float(np.max(zarr.open_group(str(store), mode="r")["maps/peak_rss_mb"][:]))
    shutil.rmtree(store)
    return {"wall_s": wall, "maps_per_s": len(files) / wall, "peak_rss_mb_per_worker": peak}


def measure(L: int, n_maps: int, workers: tuple[int, ...], repeats: int) -> dict:
    config = ScatteringConfig(L=L)
    options = InputOptions()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as clusters:
        tmp = Path(tmp)
        files = write_maps(tmp, L, n_maps)
        addresses, startup = {}, {}
        for n in workers:
            start = time.perf_counter()
            addresses[n] = clusters.enter_context(local_cluster(n)).scheduler_address
            startup[n] = time.perf_counter() - start
            preprocess(expand_inputs(files[:n]), str(tmp / "warm.zarr"), config, options, RunOptions(scheduler=addresses[n], progress=False))
            shutil.rmtree(tmp / "warm.zarr")
        row = {"L": L, "maps": n_maps, "cluster_startup_s": startup, "repeats": []}
        for _ in range(repeats):
            bare = bare_seconds_per_map(files, L, 1)
            two_bare = bare_seconds_per_map(files, L, 2)
            runs = {n: pipeline_run(files, tmp / f"cache{n}.zarr", config, options, addresses[n]) for n in workers}
            for n, r in runs.items():
                r["overhead"] = r["wall_s"] * n / (bare * n_maps) - 1
                r["speedup_vs_1_worker"] = r["maps_per_s"] / runs[1]["maps_per_s"] if 1 in runs else None
            if 2 in runs:  # the pipeline's share of what this machine allows two processes at this moment
                runs[2]["speedup_vs_two_bare_processes"] = runs[2]["speedup_vs_1_worker"] / (bare / two_bare)
            row["repeats"].append({"bare_transform_s_per_map": bare, "two_bare_processes_s_per_map": two_bare,
                                   "two_bare_processes_speedup": bare / two_bare, "runs": {str(n): r for n, r in runs.items()}})
        row["median"] = {
            str(n): {key: float(np.median([rep["runs"][str(n)][key] for rep in row["repeats"]]))
                     for key in ("maps_per_s", "overhead", "speedup_vs_1_worker", "peak_rss_mb_per_worker")}
            for n in workers
        }
        for key in ("bare_transform_s_per_map", "two_bare_processes_speedup"):
            row[f"median_{key}"] = float(np.median([rep[key] for rep in row["repeats"]]))
        if 2 in workers:
            row["median_2_workers_vs_two_bare_processes"] = float(np.median(
                [rep["runs"]["2"]["speedup_vs_two_bare_processes"] for rep in row["repeats"]]))
    return row


@click.command()
@click.option("--L", "Ls", type=int, multiple=True, default=(256, 1024), show_default=True)
@click.option("--maps", "n_maps", type=int, default=0, help="maps per L (default: 200 at L <= 256, 32 above: 8-30 s of work per run)")
@click.option("--repeats", type=int, default=5, show_default=True, help="bare / 2 bare processes / 1 worker / 2 workers back to back, this many times")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=RESULTS, show_default=True)
def main(Ls, n_maps, repeats, out):
    if n_maps == 1:
        raise click.BadParameter("at least 2 maps: two bare processes take half each", param_hint="--maps")
    rows = [measure(L, n_maps or (200 if L <= 256 else 32), (1, 2), repeats) for L in Ls]
    print(f"\n{'L':>6} {'maps':>5} {'bare s/map':>10} {'workers':>7} {'maps/s':>8} {'speedup':>8} {'overhead':>9} {'peak RSS MB':>11}   per repeat: speedup / overhead")
    for row in rows:
        for n, m in row["median"].items():
            each = " ".join(f"{rep['runs'][n]['speedup_vs_1_worker']:.2f}/{100 * rep['runs'][n]['overhead']:.0f}%" for rep in row["repeats"])
            print(f"{row['L']:>6} {row['maps']:>5} {row['median_bare_transform_s_per_map']:>10.3f} {n:>7} {m['maps_per_s']:>8.2f} "
                  f"{m['speedup_vs_1_worker']:>8.2f} {100 * m['overhead']:>8.1f}% {m['peak_rss_mb_per_worker']:>11.0f}   {each}")
    for row in rows:
        each = " ".join(f"{rep['two_bare_processes_speedup']:.2f}" for rep in row["repeats"])
        share = " ".join(f"{rep['runs']['2']['speedup_vs_two_bare_processes']:.2f}" for rep in row["repeats"])
        print(f"L = {row['L']}: two independent bare processes at once run {row['median_two_bare_processes_speedup']:.2f}x "
              f"one (per repeat: {each}), the machine's ceiling for 2 workers; 2 workers reach "
              f"{row['median_2_workers_vs_two_bare_processes']:.2f} of it (per repeat: {share})")
    writer = [{"L": L, "maps_per_write": k, "cpu_ms_per_map": 1e3 * writer_cpu_per_map(L, 64, k)} for L in Ls for k in WRITES]
    print("\nthe single writer's CPU per map in Cache.write, by maps per write (each write holds every task finished "
          "since the previous one):")
    for L in Ls:
        print(f"  L = {L}: " + ", ".join(f"{w['maps_per_write']}: {w['cpu_ms_per_map']:.1f} ms" for w in writer if w["L"] == L))
    print("(medians over the repeats; cluster start-up: " + ", ".join(
        f"L = {row['L']}: " + " / ".join(f"{s:.1f} s" for s in row["cluster_startup_s"].values()) for row in rows) + ")")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"throughput": rows, "writer": writer}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
