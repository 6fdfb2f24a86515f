"""Provenance recorded in every cache: versions, host, command line (plain JSON only)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

_PACKAGES = ("sphere-scatter", "numpy", "scipy", "ducc0", "zarr", "numcodecs", "dask", "distributed", "astropy", "torch")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance() -> dict:
    return {"versions": package_versions(), "host": platform.node(), "platform": platform.platform(), "argv": list(sys.argv)}
