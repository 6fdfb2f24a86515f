"""Handwritten digits on the sphere: a gnomonic patch, bandlimited, exactly rotated, written as an
equirectangular image (docs/digits-experiment.md section 2).

A digit of ``sklearn.datasets.load_digits`` is an 8 x 8 image of ink values 0..16. It is placed
on the tangent plane at the point (theta, phi) = (pi/2, pi) - the centre of an equirectangular
image, looking "ahead" - spanning [-a, a]^2 with a = tan(half_width), and carried to the sphere by
the gnomonic (central) projection: the direction v with v . c > 0 sees the plane point
(v . e, v . n) / (v . c), c the patch centre, e east, n north. The ink is bilinear between the
pixel centres and zero beyond the outermost ones (scipy's ``map_coordinates`` in mode
"constant"), so the outer half of each border pixel is cut; the beam below smooths that edge.
The spherical function is analysed
on a fine Fejer grid (bandlimit 4 L), truncated to bandlimit L and smoothed by the Gaussian beam
b_l = exp(-l (l + 1) / (2 (L / 3)^2)) (b_{L-1} ~ 1e-2: no visible ringing at the cut). Rotations act
on these coefficients exactly (Wigner-D, ``pipeline.sphere.rotations``), so an upright and a
rotated image are samples of exactly rotated functions; only the 8-bit quantisation of the file
differs.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.ndimage import map_coordinates

from pipeline.sphere.alm import apply_l_filter, truncate
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import alm_to_map, map_to_alm
from pipeline.sphere.rotations import rotate_alm

DIGIT_SIZE = 8
INK_MAX = 16.0
"""Largest ink value of sklearn's digits: the value written as 255 in an 8-bit image."""
FINE_FACTOR = 4
"""The projected digit is analysed at bandlimit FINE_FACTOR * L before truncation to L."""


@lru_cache(maxsize=4)
def _patch_coordinates(L: int, half_width_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) in digit pixels of every point of the fine f1 grid (NaN behind the patch)."""
    grid = RingGrid.for_bandlimit("f1", FINE_FACTOR * L)
    ntheta, nphi = grid.ntheta, 2 * FINE_FACTOR * L
    theta = (np.arange(ntheta) + 0.5) * math.pi / ntheta
    phi = 2 * math.pi * np.arange(nphi) / nphi
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    v = np.stack([st * np.cos(phi), st * np.sin(phi), np.broadcast_to(ct, (ntheta, nphi))])
    ahead = -v[0]  # v . c with c = (-1, 0, 0): the patch centre at theta = pi/2, phi = pi
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = np.where(ahead > 0, -v[1] / ahead, np.nan), np.where(ahead > 0, v[2] / ahead, np.nan)  # east (0, -1, 0), north (0, 0, 1)
    a = math.tan(math.radians(half_width_deg))
    col = (x + a) / (2 * a) * DIGIT_SIZE - 0.5
    row = (a - y) / (2 * a) * DIGIT_SIZE - 0.5
    return row, col


def digit_alm(image: np.ndarray, L: int, half_width_deg: float) -> np.ndarray:
    """Complex coefficients (bandlimit L) of an 8 x 8 digit projected on the sphere."""
    if image.shape != (DIGIT_SIZE, DIGIT_SIZE):
        raise ValueError(f"a digit is an {DIGIT_SIZE} x {DIGIT_SIZE} image, got shape {image.shape}")
    row, col = _patch_coordinates(L, half_width_deg)
    seen = np.isfinite(row)
    values = np.zeros(row.shape)
    values[seen] = map_coordinates(np.asarray(image, dtype=np.float64), [row[seen], col[seen]], order=1, mode="constant", cval=0.0)
    fine_L = FINE_FACTOR * L
    alm = truncate(map_to_alm(values, RingGrid("f1", *values.shape), fine_L).alm, fine_L, L)
    ell = np.arange(L)
    return apply_l_filter(alm, L, np.exp(-ell * (ell + 1) / (2 * (L / 3) ** 2)))


def equirectangular(alm: np.ndarray, L: int, angles: tuple[float, float, float] | None = None) -> np.ndarray:
    """The (L, 2L) cell-centred equirectangular image of the coefficients, rotated by ZYZ `angles` if given."""
    if angles is not None:
        alm = rotate_alm(alm, L, angles)
    return alm_to_map(alm, RingGrid("f1", L, 2 * L), L)


def to_8bit(values: np.ndarray) -> np.ndarray:
    """Ink to 8-bit grey: INK_MAX -> 255, rounded, clipped to [0, 255]."""
    return np.clip(np.rint(values * (255.0 / INK_MAX)), 0, 255).astype(np.uint8)
