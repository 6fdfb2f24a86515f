"""Fixtures of the mask tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def scheduler():
    """An in-process Dask cluster: a run starts in a fraction of a second."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        yield cluster.scheduler_address
