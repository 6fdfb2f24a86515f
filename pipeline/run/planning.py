"""Batch planning of a run: which pending maps go into which Dask task (pure, no Dask)."""

from __future__ import annotations

import math

SECONDS_PER_MAP_AT_1024 = 1.0
"""Rough cost of one map at L = 1024 on one core (benchmarks/PERFORMANCE.md), scaled as L**3."""
TASK_SECONDS = 1.0
"""Most work per task aimed at by ``largest_batch``."""
MAX_MAPS_PER_TASK = 64


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


LARGE_MAP_L = 2048
"""Maps of at least this bandlimit (HEALPix nside >= 1024) are scattered with all the cores as
threads by default: they take seconds to minutes each and their worker needs GiB of memory."""


def local_layout(L: int, cores: int, workers: int | None = None, threads: int | None = None) -> tuple[int, int]:
    """(worker processes, threads per map) of a local cluster for maps of bandlimit L on `cores`
    cores; what the user set is kept. The rule (README, "Threads"): maps of L < LARGE_MAP_L run one
    per core on one thread each (separate processes scale best); larger maps run one at a time on
    all the cores (two threads on one L = 4096 map: 1.83x, benchmarks/PERFORMANCE.md), which also
    keeps one large map's memory per machine. It depends on L and the cores only, never on how many
    maps are pending, so every run on a cache uses the same thread count and a resumed run's maps
    are the bytes a single run would have written."""
    cores = max(1, cores)
    if threads is None:
        threads = 1 if L < LARGE_MAP_L else max(1, cores // (workers or 1))
    if workers is None:
        workers = max(1, cores // threads)
    return workers, threads
