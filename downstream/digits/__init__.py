"""The spherical-digits experiment end to end (docs/digits-experiment.md): 360-degree images ->
cache -> equivariant and planar models, trained upright or rotated -> report and figures."""

from downstream.digits.experiment import DigitsExperiment, run

__all__ = ["DigitsExperiment", "run"]
