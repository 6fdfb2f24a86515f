"""The Gaussian vs lognormal weak-lensing experiment's map source: exact spectra, convergence
skies, their shear, and the dataset on disk (docs/lensing-experiment.md).
"""

from pipeline.lensing.dataset import LensingDatasetConfig, generate_dataset
from pipeline.lensing.spectra import LognormalModel

__all__ = ["LensingDatasetConfig", "LognormalModel", "generate_dataset"]
