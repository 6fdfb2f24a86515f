"""The Dask cluster of a run: a quiet local cluster of single-threaded worker processes, or a
client of any running scheduler (README, "Running on a cluster").
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager

from distributed.diagnostics.plugin import WorkerPlugin

from pipeline.errors import InputError, describe

MALLOC_TRIM_ENV = "MALLOC_TRIM_THRESHOLD_"
CONNECT_TIMEOUT = "30s"
"""How long a run waits for a ``--scheduler`` to answer before it ends with one line."""

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


def _connect(scheduler: str | None, scheduler_file: str | None):
    """A client of a running scheduler, named by address or by its scheduler file (JSON with its
    "address", as ``dask scheduler --scheduler-file`` and dask-mpi write it)."""
    from dask.distributed import Client

    if scheduler_file is not None:
        try:
            with open(scheduler_file) as handle:
                scheduler = json.load(handle)["address"]
            if not isinstance(scheduler, str) or not scheduler:
                raise ValueError(f"its address is {scheduler!r}")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(f"cannot read the scheduler file {scheduler_file!r} ({describe(err)}): expected the JSON file "
                             "that 'dask scheduler --scheduler-file' writes; nothing was computed") from None
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError, TypeError) as err:  # nothing listening (after the timeout), or not an address
        raise InputError(f"cannot reach the Dask scheduler at {scheduler!r} ({describe(err)}); nothing was computed") from None


@contextmanager
def dask_client(scheduler: str | None, workers: int | None, scheduler_file: str | None = None):
    """A client of the given scheduler (address or scheduler file), or of a fresh ``local_cluster``
    of `workers` processes (one per core by default)."""
    from dask.distributed import Client

    if scheduler or scheduler_file:
        client = _connect(scheduler, scheduler_file)
        quiet = logging.getLogger("distributed.client")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)  # a lost scheduler is reported by the run (ClusterLost), not by reconnect tracebacks
        try:
            with client:
                note_slow_malloc(client)
                yield client
        finally:
            quiet.setLevel(level)
        return
    with local_cluster(workers or os.cpu_count() or 1) as cluster, Client(cluster) as client:
        client.register_plugin(LocalWorkerSetup())
        yield client


class LocalWorkerSetup(WorkerPlugin):
    """Worker plugin for the local cluster, whose workers share this command's stderr and terminal:
    Dask's own log lines (e.g. a heartbeat racing the shutdown, logged with a traceback) would read
    as our failure, and a Ctrl-C, which the terminal sends to the whole process group, would end
    every worker with a KeyboardInterrupt traceback. So workers log nothing below CRITICAL and
    ignore SIGINT: this command handles it, stores what is done and shuts the cluster down. Task
    problems reach the user through the results, never through worker logs."""

    def setup(self, worker) -> None:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
