"""Preprocessing runs: plan which maps need computing, run them on Dask, write them to the cache.

The planner is pure (which maps, at which cache indices, in which batches); the executor submits
one task per batch of pending maps to a dask.distributed cluster (a LocalCluster of
single-threaded worker processes by default, or any running scheduler by address) and writes the
results from this process as they arrive, so the store has exactly one writer and durable
progress lives in the store: rerunning the same command resumes (docs/pipeline-rules.md).
Every task finished since the last write goes into the next one: a write costs ~13 ms plus ~1 ms
per map (one read-modify-write per shared chunk), so a writer that falls behind many workers
catches up by writing more maps at once instead of queueing.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.errors import ClusterLost, InputError, describe
from pipeline.io.inputs import InputSpec
from pipeline.run.cluster import dask_client
from pipeline.run.map_masks import file_weights
from pipeline.run.masked import MASKED_SPECTRA, masked_sky
from pipeline.run.options import InputOptions, RunOptions
from pipeline.run.planning import batches, largest_batch, local_layout
from pipeline.run.tasks import scatter_files
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.fields import channel_table
from pipeline.store.cache import Cache
from pipeline.store.format import DONE, MapResult
from pipeline.store.inspection import Problem, changed_masks, find_problems
from pipeline.store.lock import StoreLock
from pipeline.store.probe import holds_nothing, interrupted_creation, is_cache

KILL_AFTER_ENV = "SCATTER_TEST_KILL_AFTER"
"""Fault-injection hook for tests: "N" SIGKILLs this process after the write that brings the maps
fully written to N or more (a write holds every task finished since the previous one); "N:data"
after the data of the write holding the N-th map are written but before their statuses (a torn
write)."""


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


def task_results(future, items: list[tuple[int, str]]) -> list[MapResult]:
    """The results of a finished task; a task that failed as a whole (its worker died repeatedly,
    e.g. killed for memory, or an error outside any one map) fails each of its maps, one line each.
    A cancelled task (the cluster was lost) gives no result: its maps stay pending."""
    if future.status == "finished":
        try:
            return future.result()
        except CancelledError:  # the cluster went away before the result was fetched
            return []
    if future.status == "cancelled":
        return []
    reason = describe(future.exception()) if future.status == "error" else future.status  # e.g. "lost"
    return [MapResult(index=index, error=f"{source}: the task computing it failed ({reason})") for index, source in items]


def _mask(config: ScatteringConfig, inputs: InputOptions) -> tuple[dict, np.ndarray | None] | None:
    """The mask's summary and the channels' contamination maps for a new cache (None without a
    mask; no contamination maps when masks differ between maps: each map's are stored with it).
    A bad shared mask is refused here, before any map is computed."""
    if inputs.mask is None:
        return None
    if inputs.mask.per_map:
        if inputs.mask.path is not None:
            file_weights(inputs.mask)
        return inputs.mask.to_dict() | {"masked_spectra": MASKED_SPECTRA}, None
    sky = masked_sky(inputs.mask, config)
    return sky.summary(inputs.mask) | {"masked_spectra": MASKED_SPECTRA}, sky.contamination


def _refuse_old_masked_spectra(cache: Cache, url: str) -> None:
    """A masked cache written before its spectra were decoupled is not extended: new maps would not match."""
    mask = cache.group.attrs.get("mask")
    if mask and mask.get("masked_spectra") != MASKED_SPECTRA:
        raise InputError(f"{url} was written before masked spectra were decoupled from the valid regions (its masked_power_spectra "
                         f"are pseudo-C_l / f_valid): new maps would not match them; use another output or --overwrite")


def open_or_create_cache(url: str, config: ScatteringConfig, inputs: InputOptions, overwrite: bool) -> Cache:
    """Resume a cache made with the same configuration, or create one; refuse a mismatch. An output
    that holds anything but a scattering cache (a folder of maps, another Zarr store, a file,
    objects under a bucket prefix) is never written into or replaced, with or without --overwrite
    (zarr's overwrite mode clears everything under the path). A cache killed while it was being
    created, before it held any map, is created again by the same command."""
    stored = inputs.to_dict()
    if holds_nothing(url):
        return Cache.create(url, config, stored, overwrite=overwrite, fields=inputs.reader.field_set, mask=_mask(config, inputs))
    if not is_cache(url):
        raise InputError(f"{url} exists and is not a scattering cache: choose a new output path (--overwrite replaces only a cache)")
    interrupted = interrupted_creation(url)
    if overwrite or (interrupted and interrupted.get("config") == config.to_dict() and interrupted.get("input") == stored):
        return Cache.create(url, config, stored, overwrite=True, fields=inputs.reader.field_set, mask=_mask(config, inputs))
    cache = Cache.open(url, mode="r+")
    if cache.config != config:
        hint = ""
        if replace(config, odd=cache.config.odd) == cache.config:
            kinds = ",".join(cache.config.odd) or "none"
            hint = f" (this cache has {'no sign-aware channels' if not cache.config.odd else 'odd = ' + kinds}: --odd {kinds} resumes it)"
        raise InputError(
            f"{url} was written with another configuration ({cache.config.to_dict()}, hash "
            f"{cache.config.hash()[:12]}), not {config.to_dict()} (hash {config.hash()[:12]}): "
            f"use another output or --overwrite{hint}"
        )
    if cache.input_options != stored:
        raise InputError(
            f"{url} was written with other input options ({cache.input_options}), not {stored}: "
            f"use another output or --overwrite"
        )
    _refuse_old_masked_spectra(cache, url)
    expected = channel_table(config, inputs.reader.field_set)
    if (cache.layout.paths, cache.layout.kinds) != (expected.paths, expected.kinds) or cache.layout.fields != (
            expected.fields or ("",) * len(expected.paths)):
        raise InputError(f"{url} holds other channels than this configuration computes (paths, kinds or fields differ; "
                         f"e.g. written by another version with other defaults): use another output or --overwrite")
    return cache


def preprocess(
    specs: list[InputSpec],
    url: str,
    config: ScatteringConfig,
    inputs: InputOptions = InputOptions(),
    run: RunOptions = RunOptions(),
    *,
    overwrite: bool = False,
) -> RunSummary:
    """Scatter every input of `specs` not yet done into the cache at `url` (created, resumed or
    appended to), holding the store's lock for the whole run. Maps with mask files of their own
    make the masks differ between maps (docs/masks.md section 1); a done map whose own mask file
    changed since it was scattered is computed again."""
    if any(s.mask for s in specs):
        inputs = inputs.with_own_masks()
    with StoreLock(url):
        cache = open_or_create_cache(url, config, inputs, overwrite)
        indices = cache.add_maps(specs)
        changed = sorted({p.index for p in changed_masks(cache, indices)})
        if changed:
            cache.begin_run()
            cache.mark_pending(changed)
        return _run(cache, url, indices, None, inputs, run, n_requested=len(specs))


@dataclass(frozen=True)
class RepairReport:
    """What ``repair`` found, which maps it recomputed, and the problems that remain."""

    found: list[Problem]
    recomputed: list[int]
    remaining: list[Problem]


def repair(url: str, *, check_inputs: bool = False, run: RunOptions = RunOptions()) -> RepairReport:
    """Verify the cache at `url` (with `check_inputs`, also re-hash every input) and recompute
    exactly the maps with problems, with the cache's own configuration and input options;
    nothing is added. Store-wide problems (no map index) are reported, not repaired."""
    found = find_problems(Cache.open(url), check_inputs)
    bad = sorted({p.index for p in found if p.index is not None})
    if not bad:
        return RepairReport(found, [], found)
    with StoreLock(url):
        cache = Cache.open(url, mode="r+")
        _refuse_old_masked_spectra(cache, url)
        _run(cache, url, list(range(cache.n_maps)), bad, InputOptions.from_dict(cache.input_options), run, len(bad))
    return RepairReport(found, bad, find_problems(Cache.open(url), check_inputs))


def _run(cache: Cache, url: str, indices: list[int], only_indices: list[int] | None, inputs: InputOptions,
         run: RunOptions, n_requested: int) -> RunSummary:
    """Compute the pending maps among `indices` (or exactly `only_indices`) and write them."""
    cache.begin_run()
    dropped = cache.drop_unreadable_chunks()
    status = cache.status()
    if only_indices is not None:
        cache.mark_pending(only_indices)
        pending = sorted(set(only_indices) | set(dropped))
    else:
        pending = [i for i in indices if status[i] != DONE]
    sources, masks = cache.sources(), cache.own_masks()
    failures: list[str] = []
    written = computed = lost = 0
    kill_after, _, kill_stage = os.environ.get(KILL_AFTER_ENV, "0").partition(":")
    kill_after = int(kill_after)
    config = cache.config
    if pending:
        from dask.base import tokenize
        from dask.distributed import as_completed
        from tqdm import tqdm

        remote = bool(run.scheduler or run.scheduler_file)
        workers, threads = (None, run.threads_per_worker or 1) if remote else \
            local_layout(config.L, os.cpu_count() or 1, run.workers, run.threads_per_worker)
        with dask_client(run.scheduler, workers, run.scheduler_file) as client:
            futures, items_of = [], {}
            for batch in batches(pending, sum(client.nthreads().values()), run.maps_per_task or largest_batch(config.L)):
                items, own = [(i, sources[i]) for i in batch], [masks[i] for i in batch]
                key = f"scatter-{batch[0]}-{tokenize(items, own, config.to_dict(), inputs.to_dict())}"
                futures.append(client.submit(scatter_files, items, config, inputs, threads, own, key=key))
                items_of[key] = items
            with tqdm(total=len(pending), unit="map", disable=not run.progress, desc="scattering") as bar:
                for finished in as_completed(futures).batches():
                    results = []
                    for future in finished:
                        returned = task_results(future, items_of[future.key])
                        lost += 0 if returned else len(items_of[future.key])
                        results += returned
                    torn = kill_after and kill_stage == "data" and written < kill_after <= written + len(results)
                    cache.write(results, before_status=(lambda: os.kill(os.getpid(), signal.SIGKILL)) if torn else None)
                    written += len(results)
                    computed += sum(not r.error for r in results)
                    bar.update(len(results))
                    failures += [r.error for r in results if r.error]
                    if failures and run.fail_fast:
                        for f in futures:
                            f.cancel()
                        break
                    if kill_after and not kill_stage and written >= kill_after:
                        os.kill(os.getpid(), signal.SIGKILL)
    cache.finish()
    if lost and not (failures and run.fail_fast):
        raise ClusterLost(f"the Dask cluster was lost (its scheduler, or the connection to it, went away): {lost} map(s) "
                          f"stay pending, {computed} computed and stored; rerun the same command to compute the rest")
    skipped = 0 if only_indices is not None else len(indices) - len(pending)
    return RunSummary(url, n_requested, computed, skipped, failures)
