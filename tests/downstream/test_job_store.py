"""Finished training jobs on disk (downstream.train.job_store): exact round trip, a record that
cannot be read counts as absent, and the key changes with every part of a job's identity."""

from __future__ import annotations

import numpy as np

from downstream.train.job_store import JobStore, job_key


def test_a_record_reads_back_exactly(tmp_path):
    store = JobStore(tmp_path / "training")
    result = {"maps": np.array([3, 1, 4]), "predicted": np.array([0, 1, 1], dtype=np.int8), "val_accuracy": 0.75,
              "epochs_run": 12, "seconds": 1.5}
    store.save("k", result)
    back = store.load("k")
    assert set(back) == set(result) and not list((tmp_path / "training").glob(".*"))  # no temporary file left
    for name in ("maps", "predicted"):
        assert back[name].dtype == result[name].dtype and np.array_equal(back[name], result[name])
    assert (back["val_accuracy"], back["epochs_run"], back["seconds"]) == (0.75, 12, 1.5)
    assert isinstance(back["epochs_run"], int) and isinstance(back["seconds"], float)


def test_a_missing_or_damaged_record_is_absent(tmp_path):
    store = JobStore(tmp_path)
    assert store.load("nothing") is None
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "empty.npz").write_bytes(b"")
    assert store.load("cut") is None and store.load("empty") is None


def test_the_key_depends_on_every_part_of_the_identity():
    identity = {"cache_config_hash": "abc", "maps": [1, 2], "train": {"epochs": 3, "seed": 0}}
    keys = {job_key(identity), job_key({**identity, "cache_config_hash": "abd"}), job_key({**identity, "maps": [1, 3]}),
            job_key({**identity, "train": {"epochs": 4, "seed": 0}})}
    assert len(keys) == 4
    assert job_key(dict(reversed(identity.items()))) == job_key(identity)  # not the order of the keys
