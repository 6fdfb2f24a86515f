"""The task run on Dask workers: read a few files, scatter each, return the results.

Pure and idempotent (pitfalls.md, Dask + Zarr 8): the same file and configuration give the same
result (ducc0 with a fixed thread count; the same bytes within a process, and across worker
processes equal to rounding: rare last-bit differences were observed), so a task lost with a
worker can simply run again. The filter bank and plan are built once per worker process (cached on the
configuration), never per map.
"""

from __future__ import annotations

import resource
import time
from functools import lru_cache

import numpy as np

from pipeline.alm import power_spectrum, truncate
from pipeline.cache import MapResult
from pipeline.config import ScatteringConfig
from pipeline.errors import InputError, describe
from pipeline.harmonic import HEALPIX_EPSILON, map_to_alm
from pipeline.readers import ReaderOptions, read_map
from pipeline.scattering import ScatteringTransform


@lru_cache(maxsize=4)
def _transform(config: ScatteringConfig, nthreads: int) -> ScatteringTransform:
    return ScatteringTransform(config, nthreads=nthreads)


def scatter_file(
    index: int,
    source: str,
    config: ScatteringConfig,
    reader_options: ReaderOptions,
    healpix_epsilon: float = HEALPIX_EPSILON,
    nthreads: int = 1,
) -> MapResult:
    """Scatter the map in `source`; any failure (a problem with the input, or an unexpected error
    such as running out of memory) becomes MapResult.error, one line."""
    start = time.perf_counter()
    st = _transform(config, nthreads)
    try:
        data = read_map(source, reader_options)
        residual = np.nan
        if data.alm is not None:
            if data.alm_L < config.L:
                raise InputError(f"{source}: coefficients have bandlimit L = {data.alm_L}, below the configured L = {config.L}")
            alm = truncate(data.alm, data.alm_L, config.L)
        else:
            analysis = map_to_alm(data.values, data.grid, config.L, nthreads=nthreads, epsilon=healpix_epsilon)
            if analysis.residual is not None:
                residual = analysis.residual
            alm = analysis.alm
        result = st.from_alm(alm)
    except InputError as err:
        message = str(err).splitlines()[0]
        if not message.startswith(source):
            message = f"{source}: {message}"
        return MapResult(index=index, error=message, seconds=time.perf_counter() - start)
    except Exception as err:  # not a known input problem (out of memory, a library error): this map fails, the batch goes on
        return MapResult(index=index, error=f"{source}: unexpected {describe(err)}", seconds=time.perf_counter() - start)
    return MapResult(
        index=index,
        coefficients=result.coefficients,
        means=result.means,
        power_spectra=result.power_spectra,
        input_power_spectra=power_spectrum(alm, config.L),
        sha256=data.sha256,
        analysis_residual=float(residual),
        masked_fraction=float(data.masked_fraction),
        seconds=time.perf_counter() - start,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    )


def scatter_files(
    items: list[tuple[int, str]],
    config: ScatteringConfig,
    reader_options: ReaderOptions,
    healpix_epsilon: float = HEALPIX_EPSILON,
) -> list[MapResult]:
    """One Dask task: ``scatter_file`` for each (cache index, source) of a batch, in order."""
    return [scatter_file(index, source, config, reader_options, healpix_epsilon) for index, source in items]
