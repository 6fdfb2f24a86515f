"""Finished training jobs kept on disk, so that a long experiment stopped part way (Ctrl-C, a lost
session, a crash) loses no training it has finished: a rerun with the same inputs reads them back
instead of training again.

A job is identified by everything its result depends on, hashed: the cache's configuration hash
and mask, the sources of the maps it uses, its ``TrainConfig`` and this format's version. A record
is one ``<key>.npz`` written atomically (a temporary file renamed), holding the job's arrays and
numbers; a record that cannot be read is treated as absent and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

JOB_STORE_VERSION = 1


def job_key(identity: dict) -> str:
    """sha256 of the job's identity (plain JSON), the format version included."""
    text = json.dumps({"job_store_version": JOB_STORE_VERSION, **identity}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class JobStore:
    """The finished jobs of one experiment in `directory` (created on the first save)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> dict | None:
        """The saved result of job `key` (arrays as arrays, numbers as Python scalars), or None."""
        try:
            with np.load(self._path(key), allow_pickle=False) as saved:
                return {name: saved[name].item() if saved[name].ndim == 0 else saved[name] for name in saved.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None

    def save(self, key: str, result: dict) -> None:
        """Write the result of job `key` (values: numbers or numeric arrays) atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{key}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **{name: np.asarray(value) for name, value in result.items()})
        os.replace(tmp, self._path(key))
