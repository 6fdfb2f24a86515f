"""Atomic file writes: a reader sees the old file or the whole new one, never a partial file
(a unique temporary name in the same folder, then a rename), so interrupted or concurrent runs
cannot leave a damaged map, record or store behind."""

from __future__ import annotations

import csv
import io
import os
import uuid
from pathlib import Path

import numpy as np


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_npz_atomic(path: Path, **arrays) -> None:
    """``np.savez`` of `arrays` to `path`, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def write_csv_atomic(path: Path, header: tuple[str, ...], rows) -> Path:
    """A CSV file of `header` then `rows` ("\\n" line ends) at `path`, atomically (manifests)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(Path(path), text.getvalue().encode())
    return Path(path)
