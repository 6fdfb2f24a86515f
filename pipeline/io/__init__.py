"""Inputs: the command line's files, folders and manifests, and the readers of each map format.

Nothing about an input is guessed (docs/inputs.md): grid, ordering and field are read from the
file or declared, and every bad input is refused with a one-line reason.
"""

from pipeline.io.inputs import InputSpec, expand_inputs, input_identity, read_manifest
from pipeline.io.readers import MapData, ReaderOptions, read_map

__all__ = ["InputSpec", "MapData", "ReaderOptions", "expand_inputs", "input_identity", "read_manifest", "read_map"]
