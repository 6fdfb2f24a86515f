"""Shared helpers for the end-to-end pipeline tests: small generated inputs and CLI runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import healpy as hp
import numpy as np
import zarr

from pipeline.sphere.grids import HealpixGrid, RingGrid
from pipeline.sphere.harmonic import alm_to_map
from pipeline.store.format import DATA_ARRAYS
from pipeline.testing import random_alm

BIN = Path(sys.executable).parent
L, J0, NSIDE = 32, 3, 16
CONFIG_ARGS = ["--L", str(L), "--J0", str(J0)]
STABLE_RECORDS = ("source", "label", "split", "metadata", "sha256", "error", "analysis_residual", "masked_fraction", "status")


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run one of the installed console scripts, as a user would."""
    command = [str(BIN / args[0]), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def write_inputs(folder: Path, seed: int = 7) -> dict[str, dict]:
    """HEALPix FITS (RING and NESTED copies of one map), a NESTED .npy with a sidecar, a
    Gauss-Legendre .npy, and two more RING maps. Returns name -> {alm, grid, values}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    maps = {}
    a = random_alm(rng, L)
    ring = alm_to_map(a, HealpixGrid(NSIDE, "RING"), L)
    nest = hp.reorder(ring, r2n=True)
    hp.write_map(folder / "sky_ring.fits", ring, dtype=np.float64, overwrite=True)
    hp.write_map(folder / "sky_nest.fits", nest, nest=True, dtype=np.float64, overwrite=True)
    np.save(folder / "sky_nest.npy", nest)
    (folder / "sky_nest.json").write_text(json.dumps({"grid": "healpix", "ordering": "NESTED"}))
    maps["sky_ring.fits"] = {"alm": a, "grid": HealpixGrid(NSIDE, "RING"), "values": ring}
    maps["sky_nest.fits"] = {"alm": a, "grid": HealpixGrid(NSIDE, "NESTED"), "values": nest}
    maps["sky_nest.npy"] = {"alm": a, "grid": HealpixGrid(NSIDE, "NESTED"), "values": nest}
    b = random_alm(rng, L)
    gl = alm_to_map(b, RingGrid.for_bandlimit("gl", L), L)
    np.save(folder / "gl.npy", gl)
    (folder / "gl.json").write_text(json.dumps({"grid": "gl"}))
    maps["gl.npy"] = {"alm": b, "grid": RingGrid.for_bandlimit("gl", L), "values": gl}
    for k in range(2):
        c = random_alm(rng, L)
        values = alm_to_map(c, HealpixGrid(NSIDE, "RING"), L)
        hp.write_map(folder / f"extra{k}.fits", values, dtype=np.float64, overwrite=True)
        maps[f"extra{k}.fits"] = {"alm": c, "grid": HealpixGrid(NSIDE, "RING"), "values": values}
    return maps


def done_maps(store: Path) -> int:
    """How many maps of a store being written are done so far (0 while it is being created)."""
    try:
        return int((zarr.open_group(str(store), mode="r", use_consolidated=False)["maps/status"][:] == 1).sum())
    except (KeyError, FileNotFoundError, ValueError):
        return 0


def store_contents(path: Path) -> dict[str, np.ndarray]:
    """Everything that must be identical between two runs, read with plain zarr."""
    g = zarr.open_group(str(path), mode="r")
    out = {name: g[name][:] for name in DATA_ARRAYS}
    out.update({f"maps/{name}": g[f"maps/{name}"][:] for name in STABLE_RECORDS})
    out["paths"] = g["paths"][:]
    return out


CROSS_PROCESS_ROUNDING = 1e-13
"""Bound on |a - b| / max|b| between coefficients of the same map computed in two different worker
processes. Within one process a map always gives the same bytes, but across Dask worker processes
we observed rare last-bit differences (1.8e-17 of the array maximum, one path of one map in 16, at
L = 128; root cause not found, see the issue 3 note), so computed floats of stores from different
runs agree to rounding, not bit for bit; every other record (status, sources, hashes, errors) must
match exactly."""


def assert_same_store(a: Path, b: Path) -> None:
    ca, cb = store_contents(a), store_contents(b)
    assert ca.keys() == cb.keys()
    for name in ca:
        assert ca[name].shape == cb[name].shape, name
        if ca[name].dtype.kind == "f":
            scale = np.nanmax(np.abs(cb[name]), initial=0.0)
            np.testing.assert_array_equal(np.isnan(ca[name]), np.isnan(cb[name]), err_msg=name)
            np.testing.assert_allclose(ca[name], cb[name], rtol=0, atol=CROSS_PROCESS_ROUNDING * scale, err_msg=name)
        else:
            assert np.array_equal(ca[name], cb[name]), name


@contextmanager
def dask_cluster(n_workers: int = 2, scheduler_file: Path | None = None):
    """A real `dask scheduler` (writing `scheduler_file` if given) and `n_workers` single-threaded
    `dask worker` processes on 127.0.0.1; yields the scheduler address once every worker has joined."""
    from dask.distributed import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dask = str(BIN / "dask")
    file_option = ["--scheduler-file", str(scheduler_file)] if scheduler_file else []
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", *file_option], **quiet)]
    try:
        time.sleep(1.0)
        procs += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], **quiet) for _ in range(n_workers)]
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
