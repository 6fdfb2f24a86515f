"""Synthetic scattering caches written with plain zarr, exactly as cache_format.md specifies.

Writing them without the package's own writer doubles as a check that the format is readable
from its documentation alone. The classes of :func:`sparse_vs_gaussian` differ only in a
rotation-invariant higher-order statistic: every map of either class has exactly the same mean (0)
and the same power spectrum (C_l = 1 for l >= 1) in every path, so a classifier on power spectra
is at chance, while the sparse class (a few signed spikes, whitened degree by degree) is far more
kurtotic in pixel space than the Gaussian class.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import ducc0
import numpy as np
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec

from pipeline.sphere.alm import complex_to_real, real_to_complex
from pipeline.store.format import COEFFICIENT_LAYOUT, DIMENSION_NAMES, FORMAT, SCHEMA_VERSION

_COMPRESSORS = [BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"), Crc32cCodec()]


def _whiten(r: np.ndarray, L0: int) -> np.ndarray:
    """Zero mean and C_l = 1 (l >= 1) per map and path, degree by degree (rotation-equivariant)."""
    out = np.zeros_like(r)
    for l in range(1, L0):
        block = r[..., l * l : (l + 1) ** 2]
        norm = np.linalg.norm(block, axis=-1, keepdims=True)
        out[..., l * l : (l + 1) ** 2] = block / norm * np.sqrt(2 * l + 1)
    return out


def _spikes(rng: np.random.Generator, L0: int, n_spikes: int) -> np.ndarray:
    """Real-layout coefficients of a sum of signed point sources at uniform random positions."""
    l = np.arange(L0)
    north = np.zeros(L0 * (L0 + 1) // 2, dtype=np.complex128)
    north[:L0] = np.sqrt((2 * l + 1) / (4 * np.pi))  # a delta at the north pole, m = 0 only
    alm = np.zeros_like(north)
    for sign in rng.choice([-1.0, 1.0], size=n_spikes):
        theta, phi = np.arccos(rng.uniform(-1, 1)), rng.uniform(0, 2 * np.pi)
        alm += sign * ducc0.sht.rotate_alm(north, L0 - 1, 0.0, theta, phi)
    return complex_to_real(alm, L0)


def sparse_vs_gaussian(n_per_class: int, n_paths: int, L0: int, seed: int, n_spikes: int = 2):
    """(coefficients (N, P, L0**2), labels (N,)): label 0 Gaussian, label 1 sparse, shuffled."""
    rng = np.random.default_rng(seed)
    gauss = rng.standard_normal((n_per_class, n_paths, L0 * L0))
    sparse = np.stack([[_spikes(rng, L0, n_spikes) for _ in range(n_paths)] for _ in range(n_per_class)])
    x = _whiten(np.concatenate([gauss, sparse]), L0)
    y = np.repeat([0, 1], n_per_class)
    order = rng.permutation(len(y))
    return x[order], y[order]


def random_coefficients(n_maps: int, n_paths: int, L0: int, seed: int) -> np.ndarray:
    """Coefficients with a path-dependent offset and a red spectrum, like scattering outputs."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_maps, n_paths, L0 * L0))
    x /= 1.0 + np.sqrt(np.arange(L0 * L0))  # decaying power with degree
    x *= np.exp(rng.uniform(-3, 3, size=(1, n_paths, 1)))
    x[..., 0] += np.linspace(1.0, 10.0, n_paths)
    return x


def rotated(x: np.ndarray, L0: int, angles) -> np.ndarray:
    """Rotate real-layout coefficients (..., L0**2) with ducc0 (used to build rotated copies)."""
    alm = real_to_complex(x.reshape(-1, L0 * L0), L0).astype(np.complex128)
    return complex_to_real(ducc0.sht.rotate_alm(alm, L0 - 1, *angles), L0).reshape(x.shape)


def write_cache(
    path: str | Path,
    coefficients: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    splits: list[str] | None = None,
    status: np.ndarray | None = None,
    schema_version: int = SCHEMA_VERSION,
) -> Path:
    """Write a cache (zarr v3 group) with the arrays and attributes of cache_format.md.

    Maps whose status is not 1 get NaN coefficients (as an unwritten chunk would read)."""
    N, P, n_coef = coefficients.shape
    L0 = int(round(np.sqrt(n_coef)))
    labels = np.full(N, -1) if labels is None else np.asarray(labels)
    status = np.ones(N, dtype=np.uint8) if status is None else np.asarray(status, dtype=np.uint8)
    splits = [""] * N if splits is None else list(splits)
    paths = [[]] + [[j] for j in range(P - 1)]
    config = {"L": 4 * L0, "lam": 2.0, "J0": int(np.ceil(np.log2(L0))), "depth": 1, "oversampling": 2.0}

    g = zarr.open_group(str(path), mode="w", zarr_format=3)

    def array(name, data, chunks, fill_value):
        a = g.create_array(name, shape=data.shape, chunks=chunks, dtype=data.dtype,
                           fill_value=fill_value, compressors=_COMPRESSORS, dimension_names=DIMENSION_NAMES[name])
        a[...] = data

    data = np.where((status == 1)[:, None, None], coefficients, np.nan)
    array("coefficients", data, (1, P, n_coef), np.nan)
    array("means", data[..., 0] / np.sqrt(4 * np.pi), (1, P), np.nan)
    power = np.stack([(data[..., l * l : (l + 1) ** 2] ** 2).sum(-1) / (2 * l + 1) for l in range(L0)], -1)
    array("power_spectra", power, (1, P, L0), np.nan)
    path_array = np.full((P, 1), -1, dtype=np.int32)
    path_array[1:, 0] = np.arange(P - 1)
    array("paths", path_array, (P, 1), -1)
    kinds = ["modulus"] * P
    labels_of_paths = {"path_kinds": kinds, "path_fields": [""] * P}
    for name, version in (("path_kinds", 2), ("path_fields", 3)):
        if schema_version >= version:
            a = g.create_array(name, shape=(P,), dtype=str, compressors=_COMPRESSORS, dimension_names=("path",))
            a[...] = np.array(labels_of_paths[name], dtype=object)
    maps = g.create_group("maps")
    strings = {"source": [f"map_{i:05d}.npy" for i in range(N)], "sha256": [""] * N, "split": splits,
               "metadata": ["{}"] * N, "error": [""] * N}
    for name, values in strings.items():
        a = maps.create_array(name, shape=(N,), chunks=(1,), dtype=str, compressors=_COMPRESSORS,
                              dimension_names=("map",))
        a[...] = np.array(values, dtype=object)
    for name, values, fill in [("status", status, 0), ("label", labels.astype(np.int64), -1),
                               ("analysis_residual", np.full(N, np.nan), np.nan),
                               ("masked_fraction", np.zeros(N), np.nan), ("seconds", np.zeros(N), np.nan),
                               ("peak_rss_mb", np.zeros(N), np.nan)]:
        a = maps.create_array(name, shape=(N,), chunks=(1,), dtype=values.dtype, fill_value=fill,
                              compressors=_COMPRESSORS, dimension_names=("map",))
        a[...] = values
    g.attrs.update({
        "format": FORMAT, "schema_version": schema_version, "config": config,
        "config_hash": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        "L0": L0, "n_paths": P, "paths": paths, "coefficient_layout": COEFFICIENT_LAYOUT,
        **({"path_kinds": kinds} if schema_version >= 2 else {}),
        **({"path_fields": [""] * P, "input_spectra": []} if schema_version >= 3 else {}),
        "input": {"grid": "synthetic"}, "provenance": {"writer": "tests/synthetic_cache.py"},
        "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z",
        "complete": bool(np.all(status == 1)),
    })
    return Path(path)
