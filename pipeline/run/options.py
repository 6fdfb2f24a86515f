"""The two kinds of run options, kept apart on purpose.

``InputOptions``: how inputs are read and analysed. Two runs may fill one cache only if these are
equal, so they are stored in the cache (attribute ``input``, cache_format.md) and checked on resume.
``RunOptions``: how this run executes (cluster, batch size, progress). They never change a
number, so they are never stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from pipeline.errors import InputError
from pipeline.io.mask_files import MaskOptions
from pipeline.io.readers import ReaderOptions
from pipeline.sphere.harmonic import HEALPIX_EPSILON

MAX_HEALPIX_EPSILON = 1e-3
"""Loosest tolerance accepted for the iterative HEALPix analysis (docs/harmonic-conventions.md
section 4): a larger one leaves errors of the order of a percent in the coefficients."""


def _per_map(mask: MaskOptions | None) -> MaskOptions:
    """`mask` for masks that differ between maps (the default options when there is no shared mask)."""
    return MaskOptions(per_map=True) if mask is None else replace(mask, per_map=True)


@dataclass(frozen=True)
class InputOptions:
    """What must match for a resume: the reader options, the HEALPix analysis tolerance and the
    mask options (docs/masks.md; with bad_pixels='mask' masks differ between maps).

    >>> InputOptions.from_dict(InputOptions().to_dict()) == InputOptions()
    True
    """

    reader: ReaderOptions = field(default_factory=ReaderOptions)
    healpix_epsilon: float = HEALPIX_EPSILON
    mask: MaskOptions | None = None

    def __post_init__(self) -> None:
        eps = self.healpix_epsilon
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and 0 < eps <= MAX_HEALPIX_EPSILON):
            raise InputError(f"healpix_epsilon must be a number in (0, {MAX_HEALPIX_EPSILON:g}], got {eps!r}")
        if self.reader.bad_pixels == "mask":  # each map's bad pixels: a mask of its own
            object.__setattr__(self, "mask", _per_map(self.mask))
        if self.mask is not None and self.reader.fields is not None:
            raise InputError("a mask applies to maps of one field in this version (not with --fields)")

    def with_own_masks(self) -> "InputOptions":
        """These options for maps that have mask files of their own: the masks differ between maps."""
        return replace(self, mask=_per_map(self.mask))

    def to_dict(self) -> dict:
        """The cache's ``input`` attribute (plain JSON); "mask" only when there is one, so caches
        written before masks existed keep resuming."""
        return {"reader": self.reader.to_dict(), "healpix_epsilon": self.healpix_epsilon,
                **({"mask": self.mask.to_dict()} if self.mask else {})}

    @classmethod
    def from_dict(cls, d: dict) -> "InputOptions":
        mask = MaskOptions.from_dict(d["mask"]) if d.get("mask") else None
        return cls(reader=ReaderOptions.from_dict(d["reader"]), healpix_epsilon=float(d["healpix_epsilon"]), mask=mask)


@dataclass(frozen=True)
class RunOptions:
    """How to run: scheduler address, or the scheduler file that ``dask scheduler
    --scheduler-file``, dask-mpi and batch-system launchers write (neither: a local cluster of
    `workers` processes); threads each map's transform uses (None: ``planning.local_layout``'s
    rule on a local cluster, by bandlimit; 1 on a remote one, whose workers should then have as
    many cores each);
    most maps per Dask task (None: ``planning.largest_batch``); stop at the first failed map; show
    a progress bar."""

    scheduler: str | None = None
    workers: int | None = None
    maps_per_task: int | None = None
    fail_fast: bool = False
    progress: bool = True
    scheduler_file: str | None = None
    threads_per_worker: int | None = None

    def __post_init__(self) -> None:
        if self.scheduler and self.scheduler_file:
            raise InputError("--scheduler and --scheduler-file name the scheduler twice: give one of them")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise InputError(f"--threads-per-worker must be >= 1, got {self.threads_per_worker}")
        if self.maps_per_task is not None and self.maps_per_task < 1:
            raise InputError(f"--maps-per-task must be >= 1, got {self.maps_per_task}")
