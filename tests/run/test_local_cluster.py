"""The default local cluster spawns workers without Dask's malloc override, with Dask's own
logging silenced and its periodic bookkeeping turned down, and a cluster whose workers have the
override gets a one-line note (pipeline.run.cluster.local_cluster, README 'Running on a cluster')."""

import logging
import os
import warnings

import pytest
from dask.distributed import Client, LocalCluster

from pipeline.run.cluster import MALLOC_TRIM_ENV, QUIET_CLUSTER_CONFIG, dask_client, local_cluster, note_slow_malloc

pytestmark = pytest.mark.cluster


def test_local_cluster_workers_keep_the_default_malloc(capsys, monkeypatch):
    monkeypatch.setenv(MALLOC_TRIM_ENV, "65536")  # as left behind by any earlier nanny in this process
    with local_cluster(2) as cluster, Client(cluster) as client:
        assert list(client.run(os.environ.get, MALLOC_TRIM_ENV).values()) == [None, None]
        note_slow_malloc(client)
    assert capsys.readouterr().err == ""
    assert os.environ[MALLOC_TRIM_ENV] == "65536"


def test_workers_with_the_nanny_malloc_setting_get_a_note(capsys):
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
        note_slow_malloc(client)
    assert capsys.readouterr().err == (
        "note: the workers run with MALLOC_TRIM_THRESHOLD_=65536 (Dask's nanny default), which slows the "
        "transform ~40 %; see README 'Running on a cluster'\n"
    )


def test_local_cluster_workers_log_nothing_below_critical():
    """Workers share the command's stderr: Dask's shutdown races must not print tracebacks there."""
    with dask_client(None, 1) as client:
        levels = client.run(lambda: logging.getLogger("distributed.worker").getEffectiveLevel())
    assert list(levels.values()) == [logging.CRITICAL]


def test_local_cluster_workers_run_with_quiet_bookkeeping_and_no_profiler():
    """QUIET_CLUSTER_CONFIG reaches the worker processes (the profiler cost the most CPU)."""
    import dask

    keys = [k for k in QUIET_CLUSTER_CONFIG if not k.startswith("distributed.nanny")]
    with local_cluster(1) as cluster, Client(cluster) as client:
        seen = client.run(lambda: [dask.config.get(k) for k in keys])
        profiling = client.run(lambda dask_worker: dask_worker.periodic_callbacks.get("profile"))
    assert list(seen.values()) == [[QUIET_CLUSTER_CONFIG[k] for k in keys]]
    assert list(profiling.values()) == [None]


def test_local_clusters_side_by_side_warn_about_no_port():
    """Two runs at once (or 8787 taken by anything): nothing about ports on the user's stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with local_cluster(1) as first, local_cluster(1) as second:
            assert first.scheduler.http_server.port != second.scheduler.http_server.port
    assert [str(w.message) for w in caught if "already in use" in str(w.message)] == []
