"""Peak resident memory of a block of code, sampled from /proc (counts ducc0's C++ buffers too)."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

_PAGE = os.sysconf("SC_PAGE_SIZE")


def current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


@contextmanager
def peak_rss_increase(interval: float = 0.002):
    """Yields a dict whose 'bytes' is set, on exit, to peak RSS during the block minus RSS before."""
    result = {"bytes": 0}
    start = current_rss()
    peak = [start]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], current_rss())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result["bytes"] = max(peak[0], current_rss()) - start
