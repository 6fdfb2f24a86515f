"""The Gaussian vs lognormal shear dataset on disk (docs/lensing-experiment.md section 2): the pure
planner (which maps, seeds and splits) and its executor (one Dask task per missing map).

Seeds as in ``pipeline.cmb.plan.map_seeds``: class c's maps come from
``SeedSequence(seed).spawn(2)[c].spawn(n)``, map i drawn with ``default_rng(s)``, s the 63-bit
integer its child generates (recorded in provenance and manifest; it alone reproduces the map).
Split, per class: maps ranked by seed, the first round(0.6 n) train, the next round(0.2 n) val,
the rest test (seeds are hash outputs: a seeded uniform, class-balanced split).

Files, in one directory (manifest paths are relative to it):
- ``lensing_L{L}_{class}_{s}.npy``: float64 (2, L, 2L - 1), the shear (g1, g2) on the
  Gauss-Legendre grid of bandlimit L, the exact synthesis of its l < L coefficients;
- ``<stem>.json``: the reader's sidecar {"grid": "gl", "fields": ["G1", "G2"], "pol_convention": "COSMO"};
- ``<stem>.provenance.json``: class, label, seed, seed sequence, L, model, method version (a map
  is reused only when all match), software versions, wall time; written last, atomically, as the
  map's completion record;
- ``manifest_lensing_L{L}_n{n}_seed{seed}.csv``: path,label,split,seed (0 Gaussian, 1 lognormal).
"""

from __future__ import annotations

import io
import json
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dask
import ducc0
import numpy as np
from dask.diagnostics import ProgressBar

from pipeline.cmb.dataset import map_status
from pipeline.cmb.plan import assign_splits, map_seeds
from pipeline.errors import InputError
from pipeline.io.atomic import write_atomic, write_csv_atomic
from pipeline.lensing.simulation import CLASS_NAMES, GAUSSIAN, LOGNORMAL, convergence_alm, shear_maps
from pipeline.lensing.spectra import LognormalModel, lensing_spectra

if TYPE_CHECKING:
    from distributed import Client

SPLITS = (("train", 0.60), ("val", 0.20), ("test", 0.20))
MANIFEST_COLUMNS = ("path", "label", "split", "seed")
SIDECAR = {"grid": "gl", "fields": ["G1", "G2"], "pol_convention": "COSMO"}
GENERATOR = "sphere-scatter pipeline.lensing.dataset"
METHOD_VERSION = 1
"""Bumped whenever the simulation recipe changes, so that maps made by an older one are not reused."""


@dataclass(frozen=True)
class LensingDatasetConfig:
    """What determines a dataset: bandlimit L, maps per class, the root seed of the SeedSequence
    and the convergence model."""

    L: int = 64
    n_per_class: int = 100
    seed: int = 0
    model: LognormalModel = LognormalModel()

    def __post_init__(self) -> None:
        for name, low in (("L", 3), ("n_per_class", 1), ("seed", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.model, LognormalModel):
            raise InputError(f"model must be a LognormalModel, got {self.model!r}")

    @property
    def manifest_name(self) -> str:
        return f"manifest_lensing_L{self.L}_n{self.n_per_class}_seed{self.seed}.csv"


@dataclass(frozen=True)
class MapSpec:
    """One map to simulate: class `label`, its integer seed and where it came from (root seed, spawn index)."""

    L: int
    label: int
    seed: int
    root_seed: int
    index: int
    model: LognormalModel

    @property
    def stem(self) -> str:
        return f"lensing_L{self.L}_{CLASS_NAMES[self.label]}_{self.seed}"

    @property
    def filename(self) -> str:
        return self.stem + ".npy"

    def sidecar(self) -> dict:
        """The reader's sidecar (``pipeline.io``): grid, field names, polarisation convention."""
        return dict(SIDECAR)

    def provenance(self) -> dict:
        """The provenance keys that must match for a map on disk to be reused."""
        return SIDECAR | {
            "generator": GENERATOR,
            "method_version": METHOD_VERSION,
            "quantity": "shear gamma (not reduced shear), dimensionless: Kaiser-Squires E = f_l kappa, B = 0",
            "L": self.L,
            "class": CLASS_NAMES[self.label],
            "label": self.label,
            "seed": self.seed,
            "seed_sequence": {"entropy": self.root_seed, "spawn_key": [self.label, self.index]},
            "model": asdict(self.model),
        }


def plan_maps(config: LensingDatasetConfig) -> list[MapSpec]:
    """All maps of the dataset: the Gaussian class, then the lognormal class, in spawn order."""
    specs = [
        MapSpec(config.L, label, seed, config.seed, i, config.model)
        for label in (GAUSSIAN, LOGNORMAL)
        for i, seed in enumerate(map_seeds(config.seed, label, config.n_per_class))
    ]
    if len({s.seed for s in specs}) != len(specs):  # 63-bit hashes: practically impossible
        raise RuntimeError(f"seed collision among the {len(specs)} maps of root seed {config.seed}")
    return specs


def write_map(spec: MapSpec, directory: str | Path, *, nthreads: int = 1) -> float:
    """Simulate one shear map and write it, its sidecar and its provenance record (in that order,
    each atomically). Returns the wall time in seconds. The same spec writes the same bytes."""
    start = time.perf_counter()
    directory = Path(directory)
    provenance = directory / f"{spec.stem}.provenance.json"
    provenance.unlink(missing_ok=True)
    kappa = convergence_alm(lensing_spectra(spec.L, spec.model), spec.label, spec.seed, nthreads=nthreads)
    buffer = io.BytesIO()
    np.save(buffer, shear_maps(kappa, spec.L, nthreads=nthreads), allow_pickle=False)
    write_atomic(directory / spec.filename, buffer.getvalue())
    write_atomic(directory / f"{spec.stem}.json", json.dumps(spec.sidecar()).encode())
    seconds = time.perf_counter() - start
    software = {"numpy": np.__version__, "ducc0": ducc0.__version__}
    write_atomic(provenance, json.dumps(spec.provenance() | {"software": software, "seconds": seconds}, indent=1).encode())
    return seconds


def write_manifest(specs: list[MapSpec], path: str | Path) -> Path:
    """Write the manifest CSV (path,label,split,seed; paths relative to the manifest's folder)."""
    rows = []
    for label in (GAUSSIAN, LOGNORMAL):
        of_class = [s for s in specs if s.label == label]
        rows += [(s.filename, s.label, split, s.seed) for s, split in zip(of_class, assign_splits([s.seed for s in of_class], SPLITS))]
    return write_csv_atomic(Path(path), MANIFEST_COLUMNS, rows)


def generate_dataset(
    config: LensingDatasetConfig,
    directory: str | Path,
    *,
    workers: int | None = None,
    progress: bool = False,
    scheduler: str | Client = "threads",
    nthreads: int = 1,
    overwrite: bool = False,
) -> Path:
    """Simulate every map of `config` not yet in `directory` (one Dask task each; a map on disk
    with matching provenance is reused), write the manifest and return its path. `scheduler`: any
    Dask scheduler ("threads": ducc0 releases the GIL, "processes", "synchronous", or a
    ``distributed.Client``); `workers`: the local scheduler's worker count; each task uses
    `nthreads` ducc0 threads. Maps made with other settings stop the run unless `overwrite`.
    `progress` shows Dask's progress bar (local schedulers)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    specs = plan_maps(config)
    status = [map_status(s, directory) for s in specs]
    stale = [s.filename for s, st in zip(specs, status) if st == "stale"]
    if stale and not overwrite:
        raise InputError(
            f"{len(stale)} map(s) in {directory} were made with other settings (e.g. {stale[0]}): "
            "pass overwrite=True to regenerate them"
        )
    tasks = [
        dask.delayed(write_map)(s, str(directory), nthreads=nthreads, dask_key_name=f"lensing-{s.stem}")
        for s, st in zip(specs, status) if st != "done"
    ]
    options = {} if workers is None else {"num_workers": workers}
    with ProgressBar() if progress else nullcontext():
        dask.compute(*tasks, scheduler=scheduler, **options)
    return write_manifest(specs, directory / config.manifest_name)
