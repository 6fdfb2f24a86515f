"""The Gaussian vs lognormal weak-lensing experiment's classical baselines from shear maps
(docs/lensing-experiment.md section 3)."""

from downstream.lensing.statistics import MOMENTS, feature_table, map_features

__all__ = ["MOMENTS", "feature_table", "map_features"]
