"""The store lock (pipeline.store.lock): never two holders, even when holders come and go quickly and
each removes the lock file as it leaves."""

from __future__ import annotations

import subprocess
import sys

CONTENDER = """
import os, sys
from pipeline.errors import InputError
from pipeline.store.lock import StoreLock
store, inside, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
held = overlaps = 0
for _ in range(rounds):
    try:
        with StoreLock(store):
            held += 1
            try:
                fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # only the holder may be inside
            except FileExistsError:
                overlaps += 1
                continue
            os.close(fd)
            os.unlink(inside)
    except InputError:
        pass
print(held, overlaps)
"""


def test_contending_processes_never_hold_the_lock_together(tmp_path):
    store, inside = str(tmp_path / "cache.zarr"), str(tmp_path / "inside")
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, store, inside, "300"], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    counts = [tuple(map(int, p.communicate(timeout=120)[0].split())) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(overlaps for _, overlaps in counts) == 0
    assert sum(held for held, _ in counts) >= 100  # handed over many times, under contention
    assert not (tmp_path / "cache.zarr.lock").exists()
