"""Finished jobs kept (downstream.train.job_store): exact round trip on disk, a record that cannot
be read or lacks a field counts as absent, the key changes with every part of a job's identity,
and when one job fails every job that finished is still kept and the rest are cancelled."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from downstream.train.job_store import JobStore, code_digest, job_key, keep_finished

FIELDS = ("maps", "predicted", "val_accuracy", "epochs_run", "seconds")


def test_a_record_reads_back_exactly(tmp_path):
    store = JobStore(tmp_path / "training")
    result = {"maps": np.array([3, 1, 4]), "predicted": np.array([0, 1, 1], dtype=np.int8), "val_accuracy": 0.75,
              "epochs_run": 12, "seconds": 1.5}
    store.save("k", result)
    back = store.load("k", FIELDS)
    assert set(back) == set(result) and not list((tmp_path / "training").glob(".*"))  # no temporary file left
    for name in ("maps", "predicted"):
        assert back[name].dtype == result[name].dtype and np.array_equal(back[name], result[name])
    assert (back["val_accuracy"], back["epochs_run"], back["seconds"]) == (0.75, 12, 1.5)
    assert isinstance(back["epochs_run"], int) and isinstance(back["seconds"], float)


def test_a_missing_or_damaged_record_is_absent(tmp_path):
    store = JobStore(tmp_path)
    assert store.load("nothing", FIELDS) is None
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "empty.npz").write_bytes(b"")
    with open(tmp_path / "array.npz", "wb") as file:
        np.save(file, np.zeros(3))  # a bare array, not a record
    store.save("partial", {"maps": np.arange(3)})
    assert all(store.load(key, FIELDS) is None for key in ("cut", "empty", "array", "partial"))
    assert store.load("partial", ("maps",)) is not None


def test_the_key_depends_on_every_part_of_the_identity():
    identity = {"cache_config_hash": "abc", "maps": [1, 2], "train": {"epochs": 3, "seed": 0}}
    keys = {job_key(identity), job_key({**identity, "cache_config_hash": "abd"}), job_key({**identity, "maps": [1, 3]}),
            job_key({**identity, "train": {"epochs": 4, "seed": 0}})}
    assert len(keys) == 4
    assert job_key(dict(reversed(identity.items()))) == job_key(identity)  # not the order of the keys
    assert len(code_digest()) == 64


def _job(i: int) -> int:
    time.sleep(0.02)
    if i == 1:
        raise ValueError("job 1 failed")
    return i * i


def test_when_a_job_fails_the_finished_ones_are_kept_and_the_rest_cancelled():
    kept = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = {pool.submit(_job, i): i for i in range(10)}
        with pytest.raises(ValueError, match="^job 1 failed$"):
            keep_finished(pool, futures, kept.__setitem__)
    finished = {i for future, i in futures.items() if future.done() and not future.cancelled() and future.exception() is None}
    assert 0 in kept and 1 not in kept and set(kept) == finished and all(kept[i] == i * i for i in kept)
    assert sum(future.cancelled() for future in futures) >= 7  # at most job 2 had started when job 1 failed
