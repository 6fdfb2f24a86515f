"""The Zarr v3 scattering cache: its contract (``format``), the writer, inspection and verification,
the one-writer lock and the provenance it records. The layout is specified in cache_format.md.
"""

from pipeline.store.cache import Cache
from pipeline.store.format import DONE, FAILED, FORMAT, PENDING, SCHEMA_VERSION, SPLITS, CacheLayout, MapResult
from pipeline.store.inspection import Problem, changed_inputs, summary, verify

__all__ = ["DONE", "FAILED", "FORMAT", "PENDING", "SCHEMA_VERSION", "SPLITS", "Cache", "CacheLayout", "MapResult",
           "Problem", "changed_inputs", "summary", "verify"]
