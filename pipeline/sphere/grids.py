"""Sampling grids on the sphere, declared explicitly (never guessed from a shape).

Ring grids (Gauss-Legendre, McEwen-Wiaux, Clenshaw-Curtis, Driscoll-Healy, Fejer-1) have sampling
theorems: a bandlimit-L signal is analysed exactly. HEALPix has none; its analysis is iterative
(see ``pipeline.sphere.harmonic``). Conventions follow ducc0's geometries; docs/harmonic-conventions.md sections 3-4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pipeline.errors import InputError

RING_SCHEMES = ("gl", "mw", "cc", "dh", "f1")
"""Ring-grid schemes. 'f1' is the cell-centred equirectangular grid (an H x 2H 360-degree image
with pixel centres half a pixel from the poles); 'dh' is the Driscoll-Healy grid (first ring on
the north pole)."""

_DUCC_GEOMETRY = {"gl": "GL", "mw": "MW", "cc": "CC", "dh": "DH", "f1": "F1"}


def _theta_bandlimit(scheme: str, ntheta: int) -> int:
    """Largest L (lmax + 1) that `ntheta` rings of `scheme` analyse exactly (ducc0's limits)."""
    if scheme in ("gl", "mw", "f1"):
        return ntheta
    if scheme == "cc":
        return ntheta - 1
    return ntheta // 2  # dh: lmax = (ntheta - 2) // 2


def _ntheta_for(scheme: str, L: int) -> int:
    """Fewest rings of `scheme` that analyse bandlimit L exactly."""
    return {"gl": L, "mw": L, "f1": L, "cc": L + 1, "dh": 2 * L}[scheme]


@dataclass(frozen=True)
class RingGrid:
    """An iso-latitude grid of `ntheta` rings x `nphi` equispaced longitudes (first at phi = 0),
    stored as a (ntheta, nphi) array, north pole first."""

    scheme: str
    ntheta: int
    nphi: int

    def __post_init__(self) -> None:
        if self.scheme not in RING_SCHEMES:
            raise InputError(f"unknown grid scheme {self.scheme!r}: expected one of {', '.join(RING_SCHEMES)}")
        L_theta = _theta_bandlimit(self.scheme, self.ntheta)
        if L_theta < 1 or self.nphi < 2 * L_theta - 1:
            raise InputError(
                f"grid shape ({self.ntheta}, {self.nphi}) matches no {self.scheme!r} grid: expected "
                f"(ntheta, nphi) with ntheta >= {_ntheta_for(self.scheme, 1)} and nphi >= "
                f"2*L - 1 for the ring bandlimit L = {max(L_theta, 1)} "
                f"(e.g. {self.canonical_shape(self.scheme, max(L_theta, 1))})"
            )

    @staticmethod
    def canonical_shape(scheme: str, L: int) -> tuple[int, int]:
        """The smallest (ntheta, nphi) of `scheme` exact for bandlimit L."""
        return (_ntheta_for(scheme, L), 2 * L - 1)

    @classmethod
    def for_bandlimit(cls, scheme: str, L: int) -> "RingGrid":
        if scheme not in RING_SCHEMES:
            raise InputError(f"unknown grid scheme {scheme!r}: expected one of {', '.join(RING_SCHEMES)}")
        return cls(scheme, *cls.canonical_shape(scheme, L))

    @classmethod
    def from_shape(cls, scheme: str, shape: tuple[int, ...]) -> "RingGrid":
        if len(shape) != 2:
            raise InputError(f"a {scheme!r} grid map must be 2-D (ntheta, nphi), got shape {tuple(shape)}")
        return cls(scheme, int(shape[0]), int(shape[1]))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ntheta, self.nphi)

    @property
    def npix(self) -> int:
        return self.ntheta * self.nphi

    @property
    def max_bandlimit(self) -> int:
        """Largest L this grid analyses exactly."""
        return min(_theta_bandlimit(self.scheme, self.ntheta), (self.nphi + 1) // 2)

    @property
    def ducc_geometry(self) -> str:
        return _DUCC_GEOMETRY[self.scheme]

    def describe(self) -> dict:
        return {"kind": "ring", "scheme": self.scheme, "ntheta": self.ntheta, "nphi": self.nphi}


@dataclass(frozen=True)
class HealpixGrid:
    """A full-sky HEALPix grid (Gorski et al. 2005) with explicit pixel ordering."""

    nside: int
    ordering: Literal["RING", "NESTED"]

    def __post_init__(self) -> None:
        if self.ordering not in ("RING", "NESTED"):
            raise InputError(f"HEALPix ordering must be RING or NESTED, got {self.ordering!r}")
        if self.nside < 1:
            raise InputError(f"HEALPix nside must be >= 1, got {self.nside}")
        if self.ordering == "NESTED" and self.nside & (self.nside - 1):
            raise InputError(f"NESTED ordering needs nside a power of two, got nside = {self.nside}")

    @classmethod
    def from_npix(cls, npix: int, ordering: str) -> "HealpixGrid":
        nside = math.isqrt(npix // 12) if npix >= 12 else 0
        if npix < 12 or 12 * nside * nside != npix:
            raise InputError(f"{npix} pixels is not a HEALPix map: expected npix = 12 * nside**2")
        return cls(nside, ordering)

    @property
    def npix(self) -> int:
        return 12 * self.nside * self.nside

    @property
    def shape(self) -> tuple[int]:
        return (self.npix,)

    @property
    def max_bandlimit(self) -> int:
        """Largest L accepted: 2 * nside, where iterative analysis reaches the stated accuracy."""
        return 2 * self.nside

    def describe(self) -> dict:
        return {"kind": "healpix", "nside": self.nside, "ordering": self.ordering}


Grid = RingGrid | HealpixGrid


def check_bandlimit(grid: Grid, L: int) -> None:
    """Raise if `grid` cannot support bandlimit L."""
    if L > grid.max_bandlimit:
        what = f"HEALPix nside {grid.nside}" if isinstance(grid, HealpixGrid) else f"{grid.scheme!r} grid {grid.shape}"
        raise InputError(f"L = {L} is above what the {what} supports: allowed 2 <= L <= {grid.max_bandlimit}")
