"""One writer per cache: an exclusive lock beside the store, held with flock(2), so that the
kernel releases it the moment its owner exits or is killed.

The lock file ``<store>.lock`` sits beside the store's resolved path (so that every spelling of a
store, ``./cache.zarr``, an absolute path or a symlink to it, takes the same lock; creating or overwriting the store never
touches it) and holds plain JSON (pid, host, start time) for the message a second run gets. To
take the lock: open (or create) the file, flock it without waiting, then check that the path
still names the file locked (its previous owner may have removed it in between) and start over
if not. The owner removes the file while still holding the lock, so a file left by a killed run is
unlocked and simply taken. Local stores only (NFSv4 carries flock between hosts; a file system
without flock gets a note and no lock): for remote (fsspec) stores the user must not start two
runs at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from pipeline.errors import InputError


def local_store_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    return None if "://" in url else Path(url)


def _owner(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _still_named(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


class StoreLock:
    def __init__(self, url: str):
        root = local_store_path(url)
        if root is not None:
            root = Path(os.path.realpath(root))
        self.path = None if root is None else root.with_name(root.name + ".lock")
        self.url = url
        self._fd: int | None = None

    def __enter__(self) -> "StoreLock":
        if self.path is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _owner(fd)
                os.close(fd)
                raise InputError(
                    f"{self.url} is being written by another run (pid {owner.get('pid', '?')} on {owner.get('host', '?')}): "
                    f"wait for it to finish"
                ) from None
            except OSError as err:  # a file system without flock
                os.close(fd)
                print(f"note: cannot lock {self.path} ({err.strerror}): do not start two runs on {self.url} at once",
                      file=sys.stderr)
                return self
            if _still_named(fd, self.path):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # still locked: nobody else can hold this file now
            os.close(self._fd)
            self._fd = None
