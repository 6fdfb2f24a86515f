"""The sphere: sampling grids, real harmonic layouts, ducc0 harmonic transforms, exact rotations.

docs/harmonic-conventions.md states the conventions; every other subpackage builds on this one.
"""

from pipeline.sphere.alm import complex_to_real, n_alm, real_to_complex
from pipeline.sphere.grids import Grid, HealpixGrid, RingGrid
from pipeline.sphere.harmonic import HarmonicAnalysis, alm_to_map, map_to_alm
from pipeline.sphere.rotations import random_rotation, rotate_real

__all__ = [
    "Grid", "HarmonicAnalysis", "HealpixGrid", "RingGrid", "alm_to_map", "complex_to_real", "map_to_alm",
    "n_alm", "random_rotation", "real_to_complex", "rotate_real",
]
