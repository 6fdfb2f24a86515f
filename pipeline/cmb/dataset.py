"""The Gaussian vs non-Gaussian CMB dataset on disk (docs/cmb-experiment.md sections 2-4).

The executor (``generate_dataset``: one Dask task per missing map) of the pure planner in
``pipeline.cmb.plan`` (which maps, which seeds, which split).

Files, all in one directory (paths in the manifest are relative to it):
- ``cmb_L{L}_{grid}_gaussian_{s}.npy`` / ``cmb_L{L}_{grid}_ng-f{f}_{s}.npy``: the map, float32 in
  muK, on the exact ring grid of bandlimit L (``gl``: Gauss-Legendre, ``mw``: McEwen-Wiaux; shape
  (L, 2L - 1), north pole first, first longitude phi = 0), or with grid ``healpix`` a HEALPix
  FITS file (``.fits``, RING, nside the smallest power of two with 2 nside >= L, column
  TEMPERATURE in uK). The map is the exact synthesis of its l < L coefficients.
- ``<stem>.json``: the sidecar that ``pipeline.io.readers`` reads, with exactly the keys ``grid``
  (and ``ordering`` for HEALPix, whose FITS header says the same).
- ``<stem>.provenance.json``: class, label, f, seed, seed sequence, L, C_l table sha256, method
  version (a map on disk is reused only when all of them match), plus software versions and the
  wall time. Written last (every file is written atomically), it is the map's completion record.
- ``manifest_cmb_L{L}_{grid}_f{f}_n{n}_seed{seed}.csv``: columns path,label,split,seed,f (label 0
  Gaussian, 1 non-Gaussian; f = 0 for Gaussian maps). Split: ``pipeline.cmb.plan.assign_splits``.
"""

from __future__ import annotations

import io
import json
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dask
import ducc0
import numpy as np
from dask.diagnostics import ProgressBar

from pipeline.cmb.plan import GENERATOR, MANIFEST_COLUMNS, CMBDatasetConfig, MapSpec, assign_splits, map_grid, plan_maps
from pipeline.cmb.simulation import GAUSSIAN, NONGAUSSIAN, simulate_alm
from pipeline.cmb.spectra import cmb_spectra
from pipeline.errors import InputError
from pipeline.io.atomic import write_atomic, write_csv_atomic
from pipeline.sphere.grids import HealpixGrid
from pipeline.sphere.harmonic import alm_to_map

if TYPE_CHECKING:
    from distributed import Client

def _healpix_fits_bytes(values: np.ndarray, nside: int) -> bytes:
    """A full-sky HEALPix RING map as FITS (Gorski et al. 2005 header conventions, as healpy writes)."""
    from astropy.io import fits

    column = fits.Column(name="TEMPERATURE", format="E", unit="uK", array=values.astype(np.float32))
    hdu = fits.BinTableHDU.from_columns([column])
    for key, value in (
        ("PIXTYPE", "HEALPIX"), ("ORDERING", "RING"), ("NSIDE", nside), ("FIRSTPIX", 0),
        ("LASTPIX", 12 * nside * nside - 1), ("INDXSCHM", "IMPLICIT"), ("OBJECT", "FULLSKY"),
    ):
        hdu.header[key] = value
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    return buffer.getvalue()


def write_map(spec: MapSpec, directory: str | Path, *, nthreads: int = 1) -> float:
    """Simulate one map and write it, its sidecar and its provenance record (in that order, each
    atomically). Returns the wall time in seconds. Idempotent: the same spec writes the same map."""
    start = time.perf_counter()
    directory = Path(directory)
    provenance = directory / f"{spec.stem}.provenance.json"
    provenance.unlink(missing_ok=True)
    alm = simulate_alm(cmb_spectra(spec.L, spec.cl_table), spec.label, spec.f, spec.seed, nthreads=nthreads)
    grid = map_grid(spec.grid, spec.L)
    values = alm_to_map(alm, grid, spec.L, nthreads=nthreads)
    if isinstance(grid, HealpixGrid):
        data = _healpix_fits_bytes(values, grid.nside)
    else:
        buffer = io.BytesIO()
        np.save(buffer, values.astype(np.float32), allow_pickle=False)
        data = buffer.getvalue()
    write_atomic(directory / spec.filename, data)
    write_atomic(directory / f"{spec.stem}.json", json.dumps(spec.sidecar()).encode())
    seconds = time.perf_counter() - start
    software = {"numpy": np.__version__, "ducc0": ducc0.__version__}
    record = spec.provenance() | {"software": software, "seconds": seconds}
    write_atomic(provenance, json.dumps(record, indent=1).encode())
    return seconds


def map_status(spec, directory: str | Path) -> str:
    """'done' (data, sidecar and a matching provenance record on disk), 'missing', or 'stale'
    (made with other settings), for any map spec with ``filename``, ``stem``, ``sidecar()`` and
    ``provenance()`` (the CMB maps, the lensing maps)."""
    directory = Path(directory)
    files = [directory / name for name in (spec.filename, f"{spec.stem}.json", f"{spec.stem}.provenance.json")]
    if not all(path.is_file() for path in files):
        return "missing"
    try:
        sidecar, record = (json.loads(path.read_text()) for path in files[1:])
    except (OSError, ValueError):
        return "stale"
    matches = sidecar == spec.sidecar() and all(record.get(k) == v for k, v in spec.provenance().items())
    return "done" if matches else "stale"


def write_manifest(specs: list[MapSpec], path: str | Path) -> Path:
    """Write the manifest CSV (path,label,split,seed,f; paths relative to the manifest's folder)."""
    path = Path(path)
    rows = []
    for label in (GAUSSIAN, NONGAUSSIAN):
        of_class = [s for s in specs if s.label == label]
        splits = assign_splits([s.seed for s in of_class])
        rows += [(s.filename, s.label, split, s.seed, repr(s.f)) for s, split in zip(of_class, splits)]
    return write_csv_atomic(path, MANIFEST_COLUMNS, rows)


@dataclass(frozen=True)
class DatasetResult:
    manifest: Path
    generated: int
    reused: int


def generate_dataset(
    config: CMBDatasetConfig,
    directory: str | Path,
    *,
    scheduler: str | Client = "threads",
    num_workers: int | None = None,
    nthreads: int = 1,
    overwrite: bool = False,
    progress: bool = False,
) -> DatasetResult:
    """Simulate every map of `config` not yet in `directory` (one Dask task each), then write the
    manifest. `scheduler` is any Dask scheduler: "threads" (ducc0 releases the GIL), "processes",
    "synchronous" or a ``distributed.Client``; `num_workers` applies to the local ones; each task
    uses `nthreads` ducc0 threads. Maps made with other settings stop the run unless `overwrite`.
    `progress` shows Dask's progress bar (local schedulers)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    specs = plan_maps(config)
    status = [map_status(s, directory) for s in specs]
    stale = [s.filename for s, st in zip(specs, status) if st == "stale"]
    if stale and not overwrite:
        raise InputError(
            f"{len(stale)} map(s) in {directory} were made with other settings (e.g. {stale[0]}): "
            "pass overwrite=True to regenerate them, or delete them with delete_maps"
        )
    todo = [s for s, st in zip(specs, status) if st != "done"]
    tasks = [dask.delayed(write_map)(s, str(directory), nthreads=nthreads, dask_key_name=f"cmb-{s.stem}") for s in todo]
    options = {} if num_workers is None else {"num_workers": num_workers}
    with ProgressBar() if progress else nullcontext():
        dask.compute(*tasks, scheduler=scheduler, **options)
    manifest = write_manifest(specs, directory / config.manifest_name)
    return DatasetResult(manifest, len(todo), len(specs) - len(todo))


def delete_maps(directory: str | Path, *, L: int | None = None) -> int:
    """Delete the simulated maps in `directory` (all, or those of bandlimit L): every map whose
    provenance record says this generator made it, with its sidecar and record, the matching
    manifests and leftover temporary files. Returns the number of maps deleted."""
    directory = Path(directory)
    deleted = 0
    for provenance in directory.glob("cmb_L*.provenance.json"):
        try:
            record = json.loads(provenance.read_text())
        except (OSError, ValueError):
            continue
        if record.get("generator") != GENERATOR or (L is not None and record.get("L") != L):
            continue
        stem = provenance.name.removesuffix(".provenance.json")
        for suffix in (".npy", ".fits", ".json"):
            (directory / f"{stem}{suffix}").unlink(missing_ok=True)
        provenance.unlink()
        deleted += 1
    prefix = "cmb_L" if L is None else f"cmb_L{L}_"
    for pattern in (f"manifest_{prefix}*.csv", f".{prefix}*.tmp", f".manifest_{prefix}*.tmp"):
        for path in directory.glob(pattern):
            path.unlink()
    return deleted
