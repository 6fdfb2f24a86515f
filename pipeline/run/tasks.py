"""The task run on Dask workers: read a few files, scatter each, return the results.

Pure and idempotent (docs/pipeline-rules.md): the same file and configuration give the same
result (the same bytes for one thread count, which the local layout fixes from the bandlimit and
the cores; across thread counts, and rarely across worker processes, equal to rounding:
tests/run/test_threads_and_scheduler_file.py), so a task lost with a worker can simply run again.
The filter bank and plan are built once per worker process (cached on the
configuration), never per map.
"""

from __future__ import annotations

import math
import resource
import time
from functools import lru_cache

import ducc0
import numpy as np

from pipeline.errors import InputError, describe
from pipeline.io.readers import MapData, read_map
from pipeline.run.map_masks import MapMasks
from pipeline.run.masked import masked_invariants, masked_map
from pipeline.run.options import InputOptions
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.fields import FieldScattering
from pipeline.scattering.transform import ScatteringTransform, channel_means
from pipeline.sphere.alm import power_spectrum, real_power_spectrum, truncate
from pipeline.store.format import DATA_ARRAYS, MapResult, coefficients_digest


def use_threads(nthreads: int) -> None:
    """Make `nthreads` real in this process: ducc0 sizes its thread pool once, at import, from
    OMP_NUM_THREADS, and Dask's nanny starts every worker with OMP_NUM_THREADS=1 (its
    ``pre-spawn-environ``), so without this a worker runs any nthreads on one core."""
    if ducc0.misc.thread_pool_size() < nthreads:
        ducc0.misc.resize_thread_pool(nthreads)


@lru_cache(maxsize=4)
def _transform(config: ScatteringConfig, nthreads: int) -> ScatteringTransform:
    return ScatteringTransform(config, nthreads=nthreads)


def scatter_file(index: int, source: str, config: ScatteringConfig, inputs: InputOptions, nthreads: int = 1,
                 mask: str = "") -> MapResult:
    """Scatter the map in `source` (observed through its own mask file `mask` too, when masks
    differ between maps) through the transform's own ``from_map`` / ``from_alm`` (the one path
    from a read input to coefficients); any failure (a problem with the input or its mask, or an
    unexpected error such as running out of memory) becomes MapResult.error, one line."""
    start = time.perf_counter()
    try:
        masks = None if inputs.mask is None else MapMasks.read(inputs.mask, config, mask)
        data = read_map(source, inputs.reader, None if masks is None else masks.hidden)
        if data.fields is not None:
            outputs, residual = _scatter_fields(data, config, inputs, nthreads)
        else:
            outputs, residual = _scatter_map(data, config, inputs, masks, nthreads)
        overflowed = [name for name in DATA_ARRAYS if not np.isfinite(outputs[name]).all()]  # masked invariants: NaN = no valid region
        if overflowed:  # never stored as data, whatever passed the reader's checks
            raise InputError(f"the scattering produced non-finite {', '.join(overflowed)}")
    except InputError as err:
        message = str(err).splitlines()[0]
        if not message.startswith(source):
            message = f"{source}: {message}"
        return MapResult(index=index, error=message, seconds=time.perf_counter() - start)
    except Exception as err:  # not a known input problem (out of memory, a library error): this map fails, the batch goes on
        return MapResult(index=index, error=f"{source}: unexpected {describe(err)}", seconds=time.perf_counter() - start)
    return MapResult(
        index=index,
        **outputs,
        coefficients_sha256=coefficients_digest(outputs["coefficients"]),
        sha256=data.sha256,
        analysis_residual=float(residual),
        masked_fraction=float(data.masked_fraction),
        seconds=time.perf_counter() - start,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    )


def _scatter_map(data: MapData, config: ScatteringConfig, inputs: InputOptions, masks: MapMasks | None,
                 nthreads: int) -> tuple[dict, float]:
    """The outputs of a map (or coefficients) of one field (with its validity when masks differ
    between maps) and the residual of its HEALPix analysis (NaN if none)."""
    st = _transform(config, nthreads)
    residual, masked = np.nan, {}
    if data.alm is not None and masks is not None:
        raise InputError("a mask applies to maps, not to harmonic coefficients")
    if data.alm is not None:
        if data.alm_L < config.L:
            raise InputError(f"{data.source}: coefficients have bandlimit L = {data.alm_L}, below the configured L = {config.L}")
        result = st.from_alm(data.alm, data.alm_L)
        alm = truncate(data.alm, data.alm_L, config.L)
    elif masks is not None:
        sky = masks.sky(data)
        result = st.from_map(masked_map(data.values, data.grid, sky), data.grid, sky_fraction=sky.w2, epsilon=inputs.healpix_epsilon)
        masked = dict(zip(("masked_means", "masked_power_spectra"), masked_invariants(result.coefficients, sky, config.L0)))
        if masks.options.per_map:
            masked.update(contamination=sky.contamination, valid_fractions=sky.valid_fractions,
                          observed_fraction=sky.observed_fraction, mask_sha256=masks.sha256)
    else:
        result = st.from_map(data.values, data.grid, epsilon=inputs.healpix_epsilon)
    if data.alm is None:
        (analysis,) = result.analysis
        if analysis.residual is not None:
            residual = analysis.residual
            if not math.isfinite(residual):
                raise InputError(f"the iterative HEALPix analysis failed (residual {residual}, {analysis.iterations} iterations)")
        alm = analysis.alm
    return {"coefficients": result.coefficients, "means": result.means, "power_spectra": result.power_spectra,
            "input_power_spectra": power_spectrum(alm, config.L), **masked}, residual


def _scatter_fields(data: MapData, config: ScatteringConfig, inputs: InputOptions, nthreads: int) -> tuple[dict, float]:
    """The outputs of a map of several fields (``pipeline.scattering.fields``) and the largest
    residual of its HEALPix analyses (NaN on ring grids)."""
    result = FieldScattering(config, data.fields, nthreads).from_map(data.values, data.grid, epsilon=inputs.healpix_epsilon)
    residuals = [a.residual for a in result.analysis if a.residual is not None]
    if residuals and not all(math.isfinite(r) for r in residuals):
        raise InputError(f"the iterative HEALPix analysis failed (residuals {residuals})")
    outputs = {"coefficients": result.coefficients, "means": channel_means(result.coefficients),
               "power_spectra": real_power_spectrum(result.coefficients, config.L0), "input_power_spectra": result.input_power_spectra}
    return outputs, max(residuals, default=np.nan)


def scatter_files(items: list[tuple[int, str]], config: ScatteringConfig, inputs: InputOptions, nthreads: int = 1,
                  masks: list[str] | None = None) -> list[MapResult]:
    """One Dask task: ``scatter_file`` for each (cache index, source) of a batch, in order, with
    its own mask file of `masks` ("" none; None: no map has one), each transform on `nthreads` threads."""
    use_threads(nthreads)
    masks = masks or [""] * len(items)
    return [scatter_file(index, source, config, inputs, nthreads, mask) for (index, source), mask in zip(items, masks)]
