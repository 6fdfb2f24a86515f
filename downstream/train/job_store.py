"""Finished jobs kept, so that a long experiment stopped part way (Ctrl-C, a lost session, a crash,
a failing job) loses no work it has finished: a rerun with the same inputs reads them back instead
of computing them again.

- ``keep_finished`` collects the results of jobs running in a process pool as they finish; when
  one fails or the run is interrupted, it cancels the jobs not started, lets the running ones end,
  and still hands over every result that finished.
- ``JobStore`` keeps a result on disk under a key of everything it depends on (``job_key``: the
  caller's identity of the job, this format's version, the numpy and torch versions and a digest
  of the training code's sources, so that changed code is never answered with an old result). A
  record is one ``<key>.npz`` written atomically (a temporary file renamed); one that cannot be
  read, or lacks a field the caller needs, is treated as absent and computed again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, Future, as_completed
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.io.atomic import write_npz_atomic

JOB_STORE_VERSION = 1
CODE_PACKAGES = ("downstream.data", "downstream.nn", "downstream.train")
"""The packages whose source decides a training result (their digest is part of every key)."""


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over the Python sources of CODE_PACKAGES, in sorted order."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]
    for package in CODE_PACKAGES:
        for path in sorted((root / package.replace(".", "/")).glob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def job_key(identity: dict) -> str:
    """sha256 of the job's identity (plain JSON) with the format version, numpy and torch versions
    and the training code's digest."""
    import torch

    text = json.dumps({"job_store_version": JOB_STORE_VERSION, "numpy": np.__version__, "torch": torch.__version__,
                       "code": code_digest(), **identity}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class JobStore:
    """The finished jobs of one experiment in `directory` (created on the first save)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load(self, key: str, fields: tuple[str, ...]) -> dict | None:
        """The saved result of job `key` (arrays as arrays, numbers as Python scalars), or None when
        there is none, it cannot be read, or it lacks one of `fields`."""
        try:
            with np.load(self._path(key), allow_pickle=False) as saved:
                record = {name: saved[name].item() if saved[name].ndim == 0 else saved[name] for name in saved.files}
        except Exception:  # noqa: BLE001 - any unreadable record is recomputed, never trusted
            return None
        return record if set(fields) <= set(record) else None

    def save(self, key: str, result: dict) -> None:
        """Write the result of job `key` (values: numbers or numeric arrays) atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        write_npz_atomic(self._path(key), **{name: np.asarray(value) for name, value in result.items()})


def keep_finished(pool: Executor, futures: dict[Future, Hashable], keep: Callable[[Hashable, object], None],
                  progress: Callable | None = None) -> None:
    """Call keep(tag, result) for every future of `futures` (future -> tag) as it finishes. If one
    fails or the caller is interrupted, the futures not started are cancelled, the running ones
    end, those that finished are kept too, and the error is raised. `progress`: wraps the iterator
    of finished futures (e.g. a tqdm bar)."""
    kept: set[Future] = set()
    finished = as_completed(futures)
    try:
        for future in progress(finished) if progress else finished:
            keep(futures[future], future.result())
            kept.add(future)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        for future, tag in futures.items():
            if future not in kept and future.done() and not future.cancelled() and future.exception() is None:
                keep(tag, future.result())
        raise
