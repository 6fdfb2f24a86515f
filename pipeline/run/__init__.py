"""Preprocessing runs: plan the batches, start or join a Dask cluster, compute maps in pure tasks,
write them through the single writer (docs/pipeline-rules.md).
"""

from pipeline.run.options import InputOptions, RunOptions
from pipeline.run.runner import RepairReport, RunSummary, preprocess, repair

__all__ = ["InputOptions", "RepairReport", "RunOptions", "RunSummary", "preprocess", "repair"]
