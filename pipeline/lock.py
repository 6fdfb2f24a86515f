"""One writer per cache: an exclusive lock file beside the store that a killed run cannot leave stuck.

The lock (``<store>.lock`` beside the store, so that creating or overwriting the store never
touches it; plain JSON: pid, host, start time) is created atomically
(O_CREAT | O_EXCL). A second run on the same store refuses with a clear message while the owner
lives; a lock whose owner is dead (same host, pid gone) or silent for longer than
``STALE_AFTER_S`` (another host; the owner refreshes it as it writes) is taken over.
Local stores only: for remote (fsspec) stores the user must not start two runs at once.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from pipeline.errors import InputError

STALE_AFTER_S = 600.0


def local_store_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    return None if "://" in url else Path(url)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StoreLock:
    def __init__(self, url: str):
        root = local_store_path(url)
        self.path = None if root is None else root.with_name(root.name + ".lock")
        self.url = url
        self._last_refresh = 0.0

    def _owner_is_gone(self, owner: dict) -> bool:
        if owner.get("host") == socket.gethostname():
            return not _alive(int(owner.get("pid", -1)))
        return time.time() - self.path.stat().st_mtime > STALE_AFTER_S

    def __enter__(self) -> "StoreLock":
        if self.path is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    owner = json.loads(self.path.read_text() or "{}")
                except (OSError, json.JSONDecodeError):
                    owner = {}
                if owner and not self._owner_is_gone(owner):
                    raise InputError(
                        f"{self.url} is being written by another run (pid {owner.get('pid')} on {owner.get('host')}): "
                        f"wait for it to finish; if that run is dead, delete {self.path}"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its owner was killed
                continue
            with os.fdopen(fd, "w") as f:
                f.write(record)
            self._last_refresh = time.time()
            return self
        raise InputError(f"could not take the lock {self.path}: another run is starting on the same store")

    def refresh(self) -> None:
        """Show other hosts that the owner is alive (at most every 30 s)."""
        if self.path is not None and time.time() - self._last_refresh > 30:
            os.utime(self.path)
            self._last_refresh = time.time()

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
