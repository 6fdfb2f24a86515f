"""Preprocessing runs: plan which maps need computing, run them on Dask, write them to the cache.

The planner is pure (which maps, at which cache indices); the executor submits one task per
pending map to a dask.distributed cluster (a LocalCluster of single-threaded worker processes by
default, or any running scheduler by address) and writes each result from this process as it
arrives, so the store has exactly one writer and durable progress lives in the store: rerunning
the same command resumes (pitfalls.md, Dask + Zarr 2-5, 8).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

from distributed.diagnostics.plugin import WorkerPlugin

from pipeline.cache import DONE, Cache
from pipeline.config import ScatteringConfig
from pipeline.errors import InputError
from pipeline.harmonic import HEALPIX_EPSILON
from pipeline.inputs import InputSpec
from pipeline.lock import StoreLock
from pipeline.readers import ReaderOptions
from pipeline.scattering import scattering_plan
from pipeline.tasks import scatter_file

MALLOC_TRIM_ENV = "MALLOC_TRIM_THRESHOLD_"
KILL_AFTER_ENV = "SCATTER_TEST_KILL_AFTER"
"""Fault-injection hook for tests: "N" SIGKILLs this process after N maps are fully written;
"N:data" after the data of the N-th map are written but before its status (a torn map)."""


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


def input_description(reader_options: ReaderOptions, healpix_epsilon: float) -> dict:
    """How inputs are read: part of what must match for a cache to be resumed."""
    return {"reader": reader_options.to_dict(), "healpix_epsilon": healpix_epsilon}


def open_or_create_cache(
    url: str, config: ScatteringConfig, inputs: dict, overwrite: bool
) -> Cache:
    """Resume a cache made with the same configuration, or create one; refuse a mismatch."""
    paths = [node.path for node in scattering_plan(config)]
    if overwrite or not Cache.exists(url):
        return Cache.create(url, config, paths, inputs, overwrite=overwrite)
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


@contextmanager
def local_cluster(n_workers: int):
    """A LocalCluster of `n_workers` single-threaded worker processes with glibc's default malloc.

    Dask's nanny spawns workers with MALLOC_TRIM_THRESHOLD_=65536 (any explicit value also turns
    off glibc's adaptive mmap threshold); with it the transform, which allocates and frees large
    arrays all the time, ran 40 % slower per map at L = 1024 (benchmarks/PERFORMANCE.md). The
    variable is also kept out of this process's environment while the cluster lives (nannies copy
    it into os.environ, and restarted workers inherit os.environ)."""
    import dask
    from dask.distributed import LocalCluster

    saved = os.environ.pop(MALLOC_TRIM_ENV, None)
    try:
        with dask.config.set({f"distributed.nanny.pre-spawn-environ.{MALLOC_TRIM_ENV}": None}), LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
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
) -> RunSummary:
    """Scatter every input not yet done into the cache at `url`.

    only_indices: recompute exactly these cache indices (used by ``verify --repair``).
    """
    with StoreLock(url) as lock:
        return _run(specs, url, config, reader_options, healpix_epsilon, scheduler, workers, overwrite, fail_fast,
                    progress, only_indices, lock)


def _run(specs, url, config, reader_options, healpix_epsilon, scheduler, workers, overwrite, fail_fast, progress,
         only_indices, lock: StoreLock) -> RunSummary:
    cache = open_or_create_cache(url, config, input_description(reader_options, healpix_epsilon), overwrite)
    indices = cache.add_maps(specs)
    status = cache.status()
    if only_indices is not None:
        cache.mark_pending(only_indices)
        pending = sorted(only_indices)
    else:
        pending = [i for i in indices if status[i] != DONE]
    sources = cache.sources()
    failures: list[str] = []
    written = computed = 0
    kill_after, _, kill_stage = os.environ.get(KILL_AFTER_ENV, "0").partition(":")
    kill_after = int(kill_after)
    if pending:
        from dask.distributed import as_completed
        from tqdm import tqdm

        with dask_client(scheduler, workers) as client:
            futures = [
                client.submit(scatter_file, i, sources[i], config, reader_options, healpix_epsilon, key=f"scatter-{i}-{config.hash()[:8]}")
                for i in pending
            ]
            with tqdm(total=len(futures), unit="map", disable=not progress, desc="scattering") as bar:
                for future in as_completed(futures):
                    result = future.result()
                    torn = kill_after and kill_stage == "data" and written + 1 == kill_after
                    cache.write(result, before_status=(lambda: os.kill(os.getpid(), signal.SIGKILL)) if torn else None)
                    lock.refresh()
                    written += 1
                    computed += not result.error
                    bar.update()
                    if result.error:
                        failures.append(result.error)
                        if fail_fast:
                            for f in futures:
                                f.cancel()
                            break
                    if kill_after and not kill_stage and written >= kill_after:
                        os.kill(os.getpid(), signal.SIGKILL)
    cache.finish()
    return RunSummary(url, len(specs), computed, len(indices) - len(pending), failures)
