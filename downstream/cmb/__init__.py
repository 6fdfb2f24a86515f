"""The Gaussian vs non-Gaussian CMB experiment end to end (docs/cmb-experiment.md): maps ->
cache -> models and baselines -> report and figures."""

from downstream.cmb.experiment import CMBExperiment, run

__all__ = ["CMBExperiment", "run"]
