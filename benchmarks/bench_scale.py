"""Depth-2 scattering at full scale: L = 4096 maps through the real CLI, and how cost grows with L.

1. CLI at L = 4096: a seeded Gaussian CMB map (the Planck 2018 C_l of pipeline/data, written by
   ``pipeline.cmb.dataset.write_map``) as an nside 2048 HEALPix FITS (float32, RING) and as an L = 4096
   Gauss-Legendre .npy (float32, sidecar {"grid": "gl"}); each is scattered by
   ``scatter-preprocess --workers 1`` into its own cache while the RSS of every process of the
   command's tree is sampled from outside (the Dask worker is the largest). The cache's own
   per-map records (maps/seconds, maps/peak_rss_mb) are read back. Target: <= 4 GiB per worker.
2. Cost growth: time and peak memory per map for L = 256 ... 4096 (``bench_scattering.measure``:
   transform from a Gauss-Legendre map, one thread, each L in a fresh process), the log-log
   least-squares exponent of time (and memory) vs L, and a plot with the fitted lines.

Prints tables, writes benchmarks/results/bench_scale.json (sections are merged, so a partial run
keeps the other section) and benchmarks/results/scale.png. The L = 4096 runs take minutes each.

    .venv/bin/python benchmarks/bench_scale.py                      # both parts (~30 min on 2 cores)
    .venv/bin/python benchmarks/bench_scale.py --cli-L 0            # cost growth only
    .venv/bin/python benchmarks/bench_scale.py --L 0                # the L = 4096 CLI runs only
    .venv/bin/python benchmarks/bench_scale.py --L 256 --L 512 --cli-L 256   # smoke run
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_scattering import measure_in_fresh_process  # noqa: E402
from pipeline.cmb.dataset import write_map  # noqa: E402
from pipeline.cmb.plan import MapSpec, healpix_nside  # noqa: E402
from pipeline.cmb.simulation import GAUSSIAN  # noqa: E402
from pipeline.cmb.spectra import CL_TABLE_PATH  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.store.cache import Cache  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_scale.json"
PLOT = RESULTS.with_name("scale.png")
TARGET_WORKER_GIB = 4.0
MB = 2.0**20


class TreeMemorySampler:
    """Peak RSS of each process in the tree of `pid` (and of the whole tree), sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.root, self.interval = psutil.Process(pid), interval
        self.peak_by_pid: dict[int, tuple[str, int]] = {}
        self.peak_total = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    name = " ".join(p.cmdline())[:120] or p.name()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                if rss > self.peak_by_pid.get(p.pid, ("", 0))[1]:
                    self.peak_by_pid[p.pid] = (name, rss)
            self.peak_total = max(self.peak_total, total)
            time.sleep(self.interval)

    def __enter__(self) -> "TreeMemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def largest(self) -> tuple[str, float]:
        """Command line and peak RSS (MiB) of the process with the largest peak (the worker)."""
        name, rss = max(self.peak_by_pid.values(), key=lambda v: v[1])
        return name, rss / MB


def make_maps(L: int, directory: Path, seed: int) -> dict[str, Path]:
    """The same seeded Gaussian CMB sky at bandlimit L on HEALPix (nside L/2) and on Gauss-Legendre."""
    paths = {}
    for grid in ("healpix", "gl"):
        spec = MapSpec(L, grid, GAUSSIAN, 0.0, seed, seed, 0, str(CL_TABLE_PATH))
        write_map(spec, directory)
        paths[grid] = directory / spec.filename
    return paths


def run_cli(source: Path, L: int, store: Path) -> dict:
    """`scatter-preprocess SOURCE -o STORE --L L --workers 1`, its wall time and memory."""
    command = [str(Path(sys.executable).parent / "scatter-preprocess"), str(source), "-o", str(store),
               "--L", str(L), "--workers", "1", "--no-progress"]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeMemorySampler(process.pid) as sampler:
        output, _ = process.communicate()
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{output}")
    maps = Cache.open(str(store)).group["maps"]
    records = {name: maps[name][:] for name in ("seconds", "analysis_residual", "peak_rss_mb")}
    worker, worker_mb = sampler.largest()
    return {
        "command": " ".join(["scatter-preprocess", source.name, "-o", store.name, *command[4:]]),
        "input_mb": source.stat().st_size / MB,
        "cli_wall_s": wall,
        "task_s": float(records["seconds"][0]),
        "analysis_residual": float(records["analysis_residual"][0]),
        "cache_peak_rss_mb": float(records["peak_rss_mb"][0]),
        "sampled_worker_peak_rss_mb": worker_mb,
        "sampled_worker": worker,
        "sampled_tree_peak_rss_mb": sampler.peak_total / MB,
        "within_target": max(worker_mb, float(records["peak_rss_mb"][0])) <= TARGET_WORKER_GIB * 1024,
    }


def cli_runs(L: int, seed: int, workdir: Path | None) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench_scale_", dir=workdir) as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        maps = make_maps(L, tmp, seed)
        print(f"generated L = {L} maps in {time.perf_counter() - start:.0f} s", flush=True)
        rows = []
        for grid, source in maps.items():
            row = {"grid": grid, "L": L} | ({"nside": healpix_nside(L)} if grid == "healpix" else {})
            rows.append(row | run_cli(source, L, tmp / f"cache_{grid}.zarr"))
            print(f"  {grid}: {rows[-1]['task_s']:.1f} s per map, worker peak {rows[-1]['cache_peak_rss_mb']:.0f} MiB", flush=True)
        return rows


def fit_exponent(L: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares of log y = p log L + c: (p, c)."""
    p, c = np.polyfit(np.log(L), np.log(y), 1)
    return float(p), float(c)


def growth(Ls: tuple[int, ...], J0: int, seed: int) -> dict:
    rows = []
    for L in sorted(Ls):
        big = L >= 2048
        start = time.perf_counter()
        row = measure_in_fresh_process(ScatteringConfig(L=L, J0=J0), 1 if big else 3, 1 if big else 3, 1, seed + L)
        # Largest resident set of any child so far (this loop's children grow with L: it is this one's).
        row["process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        row["peak_memory_mb"] = row["peak_memory_over_input"] * row["input_map_mb"]
        rows.append(row)
        print(f"  L = {L}: {row['scattering_s']:.3f} s per map, measured in {time.perf_counter() - start:.0f} s", flush=True)
    L = np.array([r["L"] for r in rows], float)
    fits = {}
    if len(rows) >= 2:
        for key in ("scattering_s", "sht_pair_s", "peak_memory_mb"):
            fits[key] = dict(zip(("exponent", "log_prefactor"), fit_exponent(L, np.array([r[key] for r in rows]))))
        large = L >= 1024
        if large.sum() >= 2:
            fits["scattering_s_L_ge_1024"] = dict(zip(("exponent", "log_prefactor"), fit_exponent(
                L[large], np.array([r["scattering_s"] for r in rows])[large])))
    return {"J0": J0, "nthreads": 1, "rows": rows, "fits": fits}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, fits = result["rows"], result["fits"]
    L = np.array([r["L"] for r in rows], float)
    line = np.geomspace(L.min(), L.max(), 50)
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
    for ax, key, label, marker in (
        (ax_t, "scattering_s", "depth-2 scattering", "o"),
        (ax_t, "sht_pair_s", "one SHT pair (forward + inverse)", "s"),
        (ax_m, "peak_memory_mb", "peak memory increase per map", "o"),
    ):
        fit = fits[key]
        ax.loglog(L, [r[key] for r in rows], marker, label=f"{label}: ~ L^{fit['exponent']:.2f}")
        ax.loglog(line, np.exp(fit["log_prefactor"]) * line ** fit["exponent"], "--", color=ax.lines[-1].get_color(), lw=1)
    ax_m.loglog(L, [r["input_map_mb"] for r in rows], "^", label="input map (float64, GL grid)")
    ax_t.set(xlabel="bandlimit L", ylabel="seconds per map (1 thread)", title="Time per map")
    ax_m.set(xlabel="bandlimit L", ylabel="MiB", title="Peak memory per map")
    for ax in (ax_t, ax_m):
        ax.set_xticks(L, [str(int(v)) for v in L])
        ax.minorticks_off()
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Multiresolution depth-2 scattering (lam 2, J0 {result['J0']}, oversampling 2); dashed: log-log least squares")
    fig.savefig(path, dpi=120)


def print_tables(results: dict) -> None:
    if "cli" in results:
        print(f"\nscatter-preprocess --workers 1 at L = {results['cli'][0]['L']} (target <= {TARGET_WORKER_GIB:g} GiB per worker)")
        print(f"{'input':>16} {'file MiB':>9} {'task s':>8} {'CLI s':>8} {'cache RSS':>10} {'sampled':>9} {'tree':>8} {'residual':>9} ok")
        for r in results["cli"]:
            name = f"healpix {r['nside']}" if r["grid"] == "healpix" else f"gl {r['L']}"
            print(f"{name:>16} {r['input_mb']:>9.0f} {r['task_s']:>8.1f} {r['cli_wall_s']:>8.1f} {r['cache_peak_rss_mb']:>10.0f} "
                  f"{r['sampled_worker_peak_rss_mb']:>9.0f} {r['sampled_tree_peak_rss_mb']:>8.0f} {r['analysis_residual']:>9.1e} {r['within_target']}")
    if "growth" in results:
        g = results["growth"]
        print(f"\nCost growth (J0 {g['J0']}, 1 thread, GL input); memory in MiB")
        print(f"{'L':>6} {'SHT pair s':>10} {'scatter s':>10} {'ratio':>6} {'mem incr':>9} {'process':>8} {'map':>7} {'eq d1':>9} {'eq d2':>9}")
        for r in g["rows"]:
            e = r["equivariance"]
            print(f"{r['L']:>6} {r['sht_pair_s']:>10.4f} {r['scattering_s']:>10.3f} {r['ratio']:>6.2f} {r['peak_memory_mb']:>9.1f} "
                  f"{r['process_peak_rss_mb']:>8.0f} {r['input_map_mb']:>7.1f} {e['1']:>9.2e} {e['2']:>9.2e}")
        for key, fit in g["fits"].items():
            print(f"  fitted exponent of {key} vs L: {fit['exponent']:.2f}")


@click.command()
@click.option("--L", "Ls", type=int, multiple=True, default=(256, 512, 1024, 2048, 4096), show_default=True,
              help="Bandlimits of the cost-growth ladder (--L 0: skip it).")
@click.option("--J0", "J0", type=int, default=ScatteringConfig(L=256).J0, show_default=True)
@click.option("--cli-L", "cli_L", type=int, default=4096, show_default=True, help="Bandlimit of the CLI runs (0: skip).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="Where the big temporary maps go (default: $TMPDIR).")
@click.option("--seed", type=int, default=7, show_default=True)
def main(Ls, J0, cli_L, workdir, seed):
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if cli_L:
        results["cli"] = cli_runs(cli_L, seed, workdir)
    Ls = tuple(L for L in Ls if L > 0)
    if Ls:
        results["growth"] = growth(Ls, J0, seed)
        if len(Ls) >= 2:
            plot(results["growth"], PLOT)
            print(f"wrote {PLOT}")
    print_tables(results)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
