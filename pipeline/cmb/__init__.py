"""The Gaussian vs non-Gaussian CMB experiment's map source: exact spectra, simulated skies, and
the dataset on disk (docs/cmb-experiment.md).
"""

from pipeline.cmb.dataset import generate_dataset
from pipeline.cmb.plan import CMBDatasetConfig

__all__ = ["CMBDatasetConfig", "generate_dataset"]
