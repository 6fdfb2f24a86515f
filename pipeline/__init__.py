"""Offline spherical wavelet scattering: maps -> harmonic coefficients -> scattering -> Zarr cache.

Follows McEwen, Wallis & Mavor-Parker, "Scattering Networks on the Sphere for Scalable and
Rotationally Equivariant Spherical CNNs", ICLR 2022 (arXiv:2102.02828).
"""

from pipeline.config import ScatteringConfig
from pipeline.grids import HealpixGrid, RingGrid
from pipeline.harmonic import HarmonicAnalysis, alm_to_map, map_to_alm
from pipeline.scattering import ScatteringResult, ScatteringTransform

__all__ = [
    "HarmonicAnalysis",
    "HealpixGrid",
    "RingGrid",
    "ScatteringConfig",
    "ScatteringResult",
    "ScatteringTransform",
    "alm_to_map",
    "map_to_alm",
]
