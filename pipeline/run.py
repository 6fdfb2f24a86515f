"""Preprocessing runs: plan which maps need computing, run them on Dask, write them to the cache.

The planner is pure (which maps, at which cache indices, in which batches); the executor submits
one task per batch of pending maps to a dask.distributed cluster (a LocalCluster of
single-threaded worker processes by default, or any running scheduler by address) and writes the
results from this process as they arrive, so the store has exactly one writer and durable
progress lives in the store: rerunning the same command resumes (pitfalls.md, Dask + Zarr 2-5, 8).
Every task finished since the last write goes into the next one: a write costs ~13 ms plus ~1 ms
per map (one read-modify-write per shared chunk), so a writer that falls behind many workers
catches up by writing more maps at once instead of queueing.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

from distributed.diagnostics.plugin import WorkerPlugin

from pipeline.cache import DONE, Cache, MapResult
from pipeline.config import ScatteringConfig
from pipeline.errors import InputError, describe
from pipeline.harmonic import HEALPIX_EPSILON
from pipeline.inputs import InputSpec
from pipeline.lock import StoreLock, local_store_path
from pipeline.readers import ReaderOptions
from pipeline.scattering import scattering_plan
from pipeline.tasks import scatter_files

MALLOC_TRIM_ENV = "MALLOC_TRIM_THRESHOLD_"
KILL_AFTER_ENV = "SCATTER_TEST_KILL_AFTER"
"""Fault-injection hook for tests: "N" SIGKILLs this process after the write that brings the maps
fully written to N or more (a write holds every task finished since the previous one); "N:data"
after the data of the write holding the N-th map are written but before their statuses (a torn
write)."""
SECONDS_PER_MAP_AT_1024 = 1.0
"""Rough cost of one map at L = 1024 on one core (benchmarks/PERFORMANCE.md), scaled as L**3."""
TASK_SECONDS = 1.0
"""Most work per task aimed at by ``largest_batch``."""
MAX_MAPS_PER_TASK = 64


@dataclass(frozen=True)
class RunSummary:
    cache_url: str
    n_requested: int
    n_computed: int
    n_skipped: int
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def largest_batch(L: int) -> int:
    """Most maps per task: about TASK_SECONDS of work, so that the per-task costs of the scheduler
    and of the single writer (at L = 256, ~26 ms per one-map task against ~45 ms of work) are
    shared by several maps, while a lost task or an interrupted run loses little."""
    by_cost = TASK_SECONDS / (SECONDS_PER_MAP_AT_1024 * (L / 1024) ** 3)
    return max(1, min(MAX_MAPS_PER_TASK, math.floor(by_cost)))


def batches(indices: list[int], n_workers: int, largest: int) -> list[list[int]]:
    """Consecutive runs of the pending indices, one per task, in submission order. Guided
    self-scheduling (Polychronopoulos & Kuck 1987): each batch takes 1 / (2 x workers) of the maps
    still unassigned, at most `largest`, so batches shrink towards the end and the workers finish
    together instead of one waiting on another's last big task."""
    out, start = [], 0
    while start < len(indices):
        size = max(1, min(largest, math.ceil((len(indices) - start) / (2 * max(n_workers, 1)))))
        out.append(indices[start : start + size])
        start += size
    return out


def task_results(future, items: list[tuple[int, str]]) -> list[MapResult]:
    """The results of a finished task; a task that failed as a whole (its worker died repeatedly,
    e.g. killed for memory, or an error outside any one map) fails each of its maps, one line each."""
    if future.status == "finished":
        return future.result()
    reason = describe(future.exception()) if future.status == "error" else future.status  # or "cancelled", "lost"
    return [MapResult(index=index, error=f"{source}: the task computing it failed ({reason})") for index, source in items]


def input_description(reader_options: ReaderOptions, healpix_epsilon: float) -> dict:
    """How inputs are read: part of what must match for a cache to be resumed."""
    return {"reader": reader_options.to_dict(), "healpix_epsilon": healpix_epsilon}


def _holds_nothing(url: str) -> bool:
    path = local_store_path(url)
    if path is None:  # an fsspec URL: any object under its prefix counts
        from zarr.core.sync import sync
        from zarr.storage import FsspecStore

        return sync(FsspecStore.from_url(url, read_only=True).is_empty(""))
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def open_or_create_cache(
    url: str, config: ScatteringConfig, inputs: dict, overwrite: bool
) -> Cache:
    """Resume a cache made with the same configuration, or create one; refuse a mismatch. An output
    that holds anything but a scattering cache (a folder of maps, another Zarr store, a file,
    objects under a bucket prefix) is never written into or replaced, with or without --overwrite
    (zarr's overwrite mode clears everything under the path)."""
    paths = [node.path for node in scattering_plan(config)]
    if _holds_nothing(url):
        return Cache.create(url, config, paths, inputs, overwrite=overwrite)
    if not Cache.is_cache(url):
        raise InputError(f"{url} exists and is not a scattering cache: choose a new output path (--overwrite replaces only a cache)")
    if overwrite:
        return Cache.create(url, config, paths, inputs, overwrite=True)
    cache = Cache.open(url, mode="r+")
    if cache.config != config:
        raise InputError(
            f"{url} was written with another configuration ({cache.config.to_dict()}, hash "
            f"{cache.config.hash()[:12]}), not {config.to_dict()} (hash {config.hash()[:12]}): "
            f"use another output or --overwrite"
        )
    if cache.input_options != inputs:
        raise InputError(
            f"{url} was written with other input options ({cache.input_options}), not {inputs}: "
            f"use another output or --overwrite"
        )
    return cache


QUIET_CLUSTER_CONFIG = {
    f"distributed.nanny.pre-spawn-environ.{MALLOC_TRIM_ENV}": None,
    "distributed.worker.profile.enabled": False,  # statistical profiler (100 samples/s) for dashboards
    "distributed.admin.tick.interval": "1s",  # event-loop health check, every 20 ms in each server
    "distributed.admin.system-monitor.interval": "5s",  # host metrics for dashboards
    "distributed.worker.memory.monitor-interval": "1s",  # pause/terminate thresholds, checked 10/s
}
"""Dask settings of the local cluster. An idle 2-worker cluster used 134 ms of CPU per second
with Dask's defaults (7 % of this 2-core machine, taken from the maps) and 16 ms/s with these.
The local cluster serves no dashboard, which is what the profiler and host metrics feed."""


@contextmanager
def local_cluster(n_workers: int):
    """A LocalCluster of `n_workers` single-threaded worker processes with glibc's default malloc
    and Dask's periodic bookkeeping turned down (QUIET_CLUSTER_CONFIG). Its scheduler serves no
    dashboard, and its small HTTP server (health checks) listens on a free local port: on Dask's
    default 8787 a second run at the same time printed "Port 8787 is already in use".

    Dask's nanny spawns workers with MALLOC_TRIM_THRESHOLD_=65536 (any explicit value also turns
    off glibc's adaptive mmap threshold); with it the transform, which allocates and frees large
    arrays all the time, ran 40 % slower per map at L = 1024 (benchmarks/PERFORMANCE.md). The
    variable is also kept out of this process's environment while the cluster lives (nannies copy
    it into os.environ, and restarted workers inherit os.environ)."""
    import dask
    from dask.distributed import LocalCluster

    saved = os.environ.pop(MALLOC_TRIM_ENV, None)
    try:
        with dask.config.set(QUIET_CLUSTER_CONFIG), LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster:
            yield cluster
    finally:
        if saved is not None:
            os.environ[MALLOC_TRIM_ENV] = saved


def note_slow_malloc(client) -> None:
    """One line on stderr when a cluster's workers run with the malloc setting ``local_cluster`` avoids."""
    values = sorted({v for v in client.run(os.environ.get, MALLOC_TRIM_ENV).values() if v is not None})
    if values:
        print(f"note: the workers run with {MALLOC_TRIM_ENV}={','.join(values)} (Dask's nanny default), which slows the "
              f"transform ~40 %; see README 'Running on a cluster'", file=sys.stderr)


@contextmanager
def dask_client(scheduler: str | None, workers: int | None):
    """A client of the given scheduler, or of a fresh ``local_cluster`` (one worker per core by default)."""
    from dask.distributed import Client

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            note_slow_malloc(client)
            yield client
        return
    with local_cluster(workers or os.cpu_count() or 1) as cluster, Client(cluster) as client:
        client.register_plugin(QuietWorkerLogs())
        yield client


class QuietWorkerLogs(WorkerPlugin):
    """Worker plugin for the local cluster: its workers share this command's stderr, where Dask's
    own log lines (e.g. a heartbeat racing the shutdown, logged with a traceback) would read as our
    failure. Task problems reach the user through the results, never through worker logs."""

    def setup(self, worker) -> None:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)


def preprocess(
    specs: list[InputSpec],
    url: str,
    config: ScatteringConfig,
    reader_options: ReaderOptions = ReaderOptions(),
    *,
    healpix_epsilon: float = HEALPIX_EPSILON,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    fail_fast: bool = False,
    progress: bool = True,
    only_indices: list[int] | None = None,
    batch_size: int | None = None,
) -> RunSummary:
    """Scatter every input not yet done into the cache at `url`.

    only_indices: recompute exactly these cache indices (used by ``verify --repair``).
    batch_size: most maps per Dask task (default ``largest_batch``; see ``batches``).
    """
    with StoreLock(url):
        return _run(specs, url, config, reader_options, healpix_epsilon, scheduler, workers, overwrite, fail_fast,
                    progress, only_indices, batch_size)


def _run(specs, url, config, reader_options, healpix_epsilon, scheduler, workers, overwrite, fail_fast, progress,
         only_indices, batch_size) -> RunSummary:
    cache = open_or_create_cache(url, config, input_description(reader_options, healpix_epsilon), overwrite)
    indices = cache.add_maps(specs) if only_indices is None else list(range(cache.n_maps))  # a repair adds nothing
    cache.begin_run()
    dropped = cache.drop_unreadable_chunks()
    status = cache.status()
    if only_indices is not None:
        cache.mark_pending(only_indices)
        pending = sorted(set(only_indices) | set(dropped))
    else:
        pending = [i for i in indices if status[i] != DONE]
    sources = cache.sources()
    failures: list[str] = []
    written = computed = 0
    kill_after, _, kill_stage = os.environ.get(KILL_AFTER_ENV, "0").partition(":")
    kill_after = int(kill_after)
    if pending:
        from dask.base import tokenize
        from dask.distributed import as_completed
        from tqdm import tqdm

        with dask_client(scheduler, workers) as client:
            futures, items_of = [], {}
            for batch in batches(pending, sum(client.nthreads().values()), batch_size or largest_batch(config.L)):
                items = [(i, sources[i]) for i in batch]
                key = f"scatter-{batch[0]}-{tokenize(items, config.to_dict(), reader_options.to_dict(), healpix_epsilon)}"
                futures.append(client.submit(scatter_files, items, config, reader_options, healpix_epsilon, key=key))
                items_of[key] = items
            with tqdm(total=len(pending), unit="map", disable=not progress, desc="scattering") as bar:
                for finished in as_completed(futures).batches():
                    results = [r for future in finished for r in task_results(future, items_of[future.key])]
                    torn = kill_after and kill_stage == "data" and written < kill_after <= written + len(results)
                    cache.write(results, before_status=(lambda: os.kill(os.getpid(), signal.SIGKILL)) if torn else None)
                    written += len(results)
                    computed += sum(not r.error for r in results)
                    bar.update(len(results))
                    failures += [r.error for r in results if r.error]
                    if failures and fail_fast:
                        for f in futures:
                            f.cancel()
                        break
                    if kill_after and not kill_stage and written >= kill_after:
                        os.kill(os.getpid(), signal.SIGKILL)
    cache.finish()
    return RunSummary(url, len(specs), computed, len(indices) - len(pending), failures)
