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


def local_layout(n_maps: int, cores: int, workers: int | None = None, threads: int | None = None) -> tuple[int, int]:
    """(worker processes, threads per map) of a local cluster for `n_maps` pending maps on `cores`
    cores; what the user set is kept. The rule (README, "Threads"): maps in parallel first, since
    separate processes scale almost perfectly and a map's transform only partly; so as many
    workers as maps, up to the cores, and the cores left over shared out as threads, so that
    workers x threads = cores. One big map on 2 cores: 1 worker x 2 threads; many maps: 2 x 1."""
    cores = max(1, cores)
    if workers is None:
        workers = max(1, min(cores if threads is None else max(1, cores // threads), n_maps))
    if threads is None:
        threads = max(1, cores // workers)
    return workers, threads
