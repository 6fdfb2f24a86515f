"""Masks on a map's own grid: pixel directions and areas, the observed fraction, and apodisation
(docs/masks.md sections 2-3).

A mask is a weight per pixel in [0, 1] (1 observed, 0 masked), in the map's own pixel order.
Binary masks are apodised with the cosine tapers NaMaster defines (Alonso et al. 2019, MNRAS 484,
4127, section 2.3.2): with theta the angular distance of an observed pixel to the nearest masked
pixel and theta_* the apodisation width,

    x = sqrt((1 - cos theta) / (1 - cos theta_*)),
    C1: w = x - sin(2 pi x) / (2 pi)   (x < 1),     C2: w = (1 - cos(pi x)) / 2   (x < 1),

and w = 1 beyond the width: the taper lies inside the observed region, so the masked pixels stay 0.
"""

from __future__ import annotations

import math

import ducc0
import numpy as np

from pipeline.errors import InputError
from pipeline.sphere.grids import Grid, HealpixGrid, RingGrid

APODISATIONS = ("none", "C1", "C2")
MASK_GRIDS = ("gl", "cc", "f1", "dh")
"""Ring schemes with quadrature weights (ducc0 ``get_gridweights``); plus HEALPix."""


def ring_thetas(grid: RingGrid) -> np.ndarray:
    """Colatitude of each ring of a ring grid, north pole first."""
    n = grid.ntheta
    if grid.scheme == "gl":
        return ducc0.misc.GL_thetas(n)
    if grid.scheme == "cc":
        return np.pi * np.arange(n) / (n - 1)
    if grid.scheme == "f1":
        return np.pi * (np.arange(n) + 0.5) / n
    if grid.scheme == "dh":
        return np.pi * np.arange(n) / n
    raise InputError(f"masks are supported on HEALPix and on the ring grids {', '.join(MASK_GRIDS)}, not {grid.scheme!r}")


def pixel_areas(grid: Grid) -> np.ndarray:
    """Quadrature weight of every pixel (summing to 4 pi), in the grid's own pixel order and shape."""
    if isinstance(grid, HealpixGrid):
        return np.full(grid.shape, 4 * math.pi / grid.npix)
    ring_thetas(grid)  # refuses schemes without weights
    weights = ducc0.sht.experimental.get_gridweights(grid.ducc_geometry, grid.ntheta)
    return np.repeat((weights / grid.nphi)[:, None], grid.nphi, axis=1)


def pixel_directions(grid: Grid) -> np.ndarray:
    """Unit vectors (npix, 3) of the pixel centres, in the grid's own pixel order (flattened)."""
    if isinstance(grid, HealpixGrid):
        base = ducc0.healpix.Healpix_Base(grid.nside, "NEST" if grid.ordering == "NESTED" else "RING")
        return base.pix2vec(np.arange(grid.npix))
    theta = ring_thetas(grid)[:, None]
    phi = 2 * math.pi * np.arange(grid.nphi)[None, :] / grid.nphi
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) + 0 * phi], axis=-1).reshape(-1, 3)


def galactic_cut_and_holes(directions: np.ndarray, holes: np.ndarray, cut_deg: float, hole_deg: float,
                           rotation: np.ndarray | None = None) -> np.ndarray:
    """Binary mask (1 observed) of a band |b| < cut_deg around the equator (the z axis as the
    Galactic pole) and caps of radius hole_deg around `holes` (unit vectors, (n, 3)) standing for
    point sources, at pixel `directions` ((npix, 3)); the whole geometry optionally rotated by the
    3 x 3 matrix `rotation`."""
    pole, centres = np.array([0.0, 0.0, 1.0]), holes
    if rotation is not None:
        pole, centres = rotation @ pole, holes @ rotation.T
    observed = np.abs(directions @ pole) > math.sin(math.radians(cut_deg))
    observed &= ~np.any(directions @ centres.T > math.cos(math.radians(hole_deg)), axis=1)
    return observed.astype(np.float64)


def random_directions(rng: np.random.Generator, n: int) -> np.ndarray:
    """n isotropic unit vectors (n, 3)."""
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def observed_fraction(weights: np.ndarray, grid: Grid) -> float:
    """Area-weighted mean of the mask: the fraction of the sky it observes (weights count fractionally)."""
    return float(np.sum(weights * pixel_areas(grid)) / (4 * math.pi))


def distance_to_masked(masked: np.ndarray, grid: Grid, within: float = math.pi) -> np.ndarray:
    """Angular distance (radians) of every pixel to the nearest masked pixel (0 on masked pixels),
    searched only up to `within` radians (pi where none is nearer): a k-d tree on the chord
    distances of the pixel centres, whose bounded queries cost little far from the mask."""
    from scipy.spatial import cKDTree  # only here: scipy.spatial costs 0.1 s to import

    directions = pixel_directions(grid)
    flat = masked.reshape(-1)
    out = np.zeros(flat.size)
    if not flat.any():
        return np.full(masked.shape, math.pi)
    bound = 2 * math.sin(min(within, math.pi) / 2) * (1 + 1e-9) if within < math.pi else np.inf
    chord, _ = cKDTree(directions[flat]).query(directions[~flat], k=1, distance_upper_bound=bound, workers=-1)
    out[~flat] = np.where(np.isfinite(chord), 2 * np.arcsin(np.clip(chord / 2, 0.0, 1.0)), math.pi)
    return out.reshape(masked.shape)


def apodise(binary: np.ndarray, grid: Grid, kind: str, width_deg: float) -> np.ndarray:
    """The apodised weights of a binary mask (1 observed, 0 masked): C1 or C2 taper of width
    `width_deg` degrees inside the observed region; "none" returns the mask as float."""
    if kind not in APODISATIONS:
        raise InputError(f"apodisation must be one of {', '.join(APODISATIONS)}, got {kind!r}")
    weights = binary.astype(np.float64)
    if kind == "none":
        return weights
    if not (math.isfinite(width_deg) and 0 < width_deg <= 90):
        raise InputError(f"the apodisation width must be in (0, 90] degrees, got {width_deg!r}")
    theta = distance_to_masked(binary == 0, grid, within=math.radians(width_deg))
    x = np.sqrt((1 - np.cos(theta)) / (1 - math.cos(math.radians(width_deg))))
    taper = x - np.sin(2 * math.pi * x) / (2 * math.pi) if kind == "C1" else 0.5 * (1 - np.cos(math.pi * x))
    return np.where(x < 1, taper, 1.0) * weights
