"""The maps of the accuracy-versus-f sweep, in one cache, with their classical statistics
(docs/cmb-experiment.md sections 4 and 7).

One Gaussian class serves every f (its maps do not depend on f, ``pipeline.cmb.plan``); the
non-Gaussian maps are made per f. All of them are listed in one manifest (columns path, label,
split, seed, f) and scattered into one cache, so a Gaussian map is simulated and scattered once.
The statistics of ``downstream.cmb.statistics`` are computed once per map (from the map file,
at its full bandlimit) and kept beside the cache, resumably.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import zarr
from tqdm.auto import tqdm

from downstream.cmb.cut_sky import CUT_SKY_STATISTICS, CutSky
from downstream.cmb.statistics import STATISTICS, cut_sky_statistics, map_statistics
from downstream.data.index import read_cache_index
from downstream.train.job_store import keep_finished
from pipeline.cmb import CMBDatasetConfig, generate_dataset
from pipeline.cmb.plan import MANIFEST_COLUMNS
from pipeline.cmb.spectra import load_cl
from pipeline.io.atomic import write_csv_atomic, write_npz_atomic
from pipeline.io.inputs import expand_inputs
from pipeline.io.mask_files import MaskOptions
from pipeline.io.readers import read_map
from pipeline.run import RunOptions, preprocess
from pipeline.run.options import InputOptions
from pipeline.scattering.config import ScatteringConfig
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import map_to_alm

STATISTICS_VERSION = 1
"""Bumped when a statistic's definition changes, so that stored values are recomputed."""
SAVE_EVERY_SECONDS = 60.0
"""How often the map statistics computed so far are written to the cache's statistics file."""


def sweep_manifest(datasets: list[CMBDatasetConfig], directory: Path, progress: bool, workers: int | None) -> Path:
    """Generate (or reuse) the maps of every dataset, then write one manifest of their union."""
    rows: dict[str, list[str]] = {}
    for config in datasets:
        manifest = generate_dataset(config, directory, num_workers=workers, progress=progress).manifest
        with open(manifest, newline="") as handle:
            for row in csv.DictReader(handle):
                rows.setdefault(row["path"], [row[c] for c in MANIFEST_COLUMNS])
    first = datasets[0]
    fs = "-".join(f"{c.f!r}" for c in datasets)
    path = directory / f"manifest_cmb_L{first.L}_{first.grid}_sweep_f{fs}_n{first.n_per_class}_seed{first.seed}.csv"
    return write_csv_atomic(path, MANIFEST_COLUMNS, sorted(rows.values(), key=lambda r: (int(r[1]), float(r[4]), r[0])))


def scatter_sweep(manifest: Path, config: ScatteringConfig, workers: int | None, progress: bool,
                  mask: Path | None = None) -> str:
    """Scatter every map of the manifest into one cache beside it (resumable); with `mask`, through
    that mask file (default mask options) into a cache named after it."""
    suffix = "" if mask is None else f"_{mask.stem}"
    cache = str(manifest.with_name(f"{manifest.stem}_J0{config.J0}{suffix}.zarr"))
    inputs = InputOptions() if mask is None else InputOptions(mask=MaskOptions.for_file(mask))
    summary = preprocess(expand_inputs([str(manifest)]), cache, config, inputs, RunOptions(workers=workers, progress=progress))
    if not summary.ok:
        raise RuntimeError(f"{len(summary.failures)} maps failed to scatter: {summary.failures[0]}")
    return cache


@dataclass(frozen=True)
class SweepMaps:
    """What each done map of the cache is: label, split, amplitude f (0 for Gaussian), source."""

    labels: np.ndarray
    splits: np.ndarray
    f: np.ndarray
    sources: np.ndarray

    def pair(self, f: float) -> np.ndarray:
        """Indices of the Gaussian maps and the non-Gaussian maps of amplitude f."""
        return np.flatnonzero((self.labels == 0) | ((self.labels == 1) & np.isclose(self.f, f, rtol=1e-12, atol=0)))


def sweep_maps(cache: str) -> SweepMaps:
    index = read_cache_index(cache)
    group = zarr.open_group(cache, mode="r", use_consolidated=False)
    metadata = [json.loads(m) for m in group["maps/metadata"][:]]
    f = np.array([float(m.get("f", "nan")) for m in metadata])
    labels = np.where(index.done, index.labels, -1)
    return SweepMaps(labels, index.splits, f, np.array([str(s) for s in group["maps/source"][:]]))


@lru_cache(maxsize=2)
def _observed_on_exact_grid(cut: CutSky, L: int) -> np.ndarray:
    return cut.on(RingGrid("gl", 2 * L, 4 * L))


def _statistics_of(source: str, config: ScatteringConfig, cut: CutSky | None) -> dict[str, np.ndarray]:
    data = read_map(source)
    alm = map_to_alm(data.values, data.grid, config.L).alm
    if cut is not None:
        return cut_sky_statistics(alm, config.L, _observed_on_exact_grid(cut, config.L))
    return map_statistics(alm, config, load_cl())


def _chunk(sources: list[str], config: ScatteringConfig, cut: CutSky | None) -> list[dict[str, np.ndarray]]:
    return [_statistics_of(s, config, cut) for s in sources]


def _save_statistics(store: Path, recorded: str, known: dict[str, dict[str, np.ndarray]], names: tuple[str, ...]) -> None:
    """Write every map's statistics to `store` atomically (a temporary file renamed)."""
    sources = sorted(known)
    write_npz_atomic(store, version=STATISTICS_VERSION, config=recorded, sources=np.array(sources),
                     **{name: np.stack([known[s][name] for s in sources]) for name in names})


def map_statistics_table(cache: str, config: ScatteringConfig, workers: int | None, progress: bool,
                         cut: CutSky | None = None) -> dict[str, np.ndarray]:
    """{statistic: (n_maps, dim)} for every map of the cache (NaN for maps not done), computed in
    `workers` processes and stored in ``<cache>.statistics.npz`` (every SAVE_EVERY_SECONDS and when
    the run stops, so a failed or interrupted run keeps every chunk of maps that finished); a rerun
    computes only what is missing. With `cut`, the cut-sky statistics (``downstream.cmb.cut_sky``) instead of the full-sky ones."""
    maps = sweep_maps(cache)
    names = STATISTICS if cut is None else CUT_SKY_STATISTICS
    recorded = json.dumps(config.to_dict() if cut is None else {"scattering": config.to_dict(), "cut_sky": cut.to_dict()})
    store = Path(f"{cache}.statistics.npz")
    known: dict[str, dict[str, np.ndarray]] = {}
    if store.is_file():
        with np.load(store) as saved:
            if int(saved["version"]) == STATISTICS_VERSION and str(saved["config"]) == recorded:
                for i, source in enumerate(saved["sources"]):
                    known[str(source)] = {name: saved[name][i] for name in names}
    todo = [str(s) for s, label in zip(maps.sources, maps.labels) if label >= 0 and str(s) not in known]
    chunks = [todo[i : i + 16] for i in range(0, len(todo), 16)]
    saved = time.monotonic()

    def keep(chunk: tuple[str, ...], values: list[dict[str, np.ndarray]]) -> None:
        nonlocal saved
        known.update(zip(chunk, values))
        if time.monotonic() - saved > SAVE_EVERY_SECONDS:
            _save_statistics(store, recorded, known, names)
            saved = time.monotonic()

    try:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_chunk, chunk, config, cut): tuple(chunk) for chunk in chunks}
            keep_finished(pool, futures, keep, lambda finished: tqdm(finished, total=len(chunks), desc="map statistics",
                                                                      disable=not progress))
    finally:  # a failed or interrupted run keeps every chunk that finished
        if known:
            _save_statistics(store, recorded, known, names)
    table = {}
    for name in names:
        dim = len(next(iter(known.values()))[name]) if known else 1
        rows = np.full((len(maps.sources), dim), np.nan)
        for i, source in enumerate(maps.sources):
            if str(source) in known:
                rows[i] = known[str(source)][name]
        table[name] = rows
    return table
