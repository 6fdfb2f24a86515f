"""Offline spherical wavelet scattering: maps -> harmonic coefficients -> scattering -> Zarr cache.

Follows McEwen, Wallis & Mavor-Parker, "Scattering Networks on the Sphere for Scalable and
Rotationally Equivariant Spherical CNNs", ICLR 2022 (arXiv:2102.02828).

Subpackages, in the order data flows through them: ``sphere`` (grids, layouts, harmonic
transforms, rotations), ``scattering`` (configuration, wavelets, plan, transform), ``io`` (inputs
and readers), ``store`` (the cache contract and its Zarr writer), ``run`` (options, planning, the
Dask cluster, tasks, preprocess / repair) and ``cmb`` (the CMB experiment's maps); ``testing``
holds helpers for tests. Importing this package loads neither torch nor matplotlib.
"""

from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.transform import ScatteringResult, ScatteringTransform
from pipeline.sphere.grids import HealpixGrid, RingGrid
from pipeline.sphere.harmonic import HarmonicAnalysis, alm_to_map, map_to_alm

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
