"""Real maps <-> harmonic coefficients with ducc0 (Reinecke et al.), float64, explicit threads.

Ring grids are exact for bandlimited signals (sampling theorems). HEALPix analysis has no
sampling theorem: it is solved iteratively (LSMR, ducc0 ``pseudo_analysis``) to a stated
tolerance, and the achieved residual is returned so that callers can record it (docs/harmonic-conventions.md
section 4: without iterations a HEALPix analysis is silently off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import ducc0
import numpy as np

from pipeline.sphere.alm import n_alm
from pipeline.sphere.grids import Grid, RingGrid, check_bandlimit

HEALPIX_EPSILON = 1e-8
"""Default LSMR tolerance: <= 1e-6 relative round-trip error for bandlimited maps, L <= 2 nside."""
HEALPIX_MAXITER = 100

_REORDER_BLOCK = 1 << 22  # pixels per block when converting NESTED <-> RING (bounds memory)
_BAND_BYTES = 8 << 20  # grid bytes per band of rings in pointwise_analysis (bounds memory)


@dataclass(frozen=True)
class HarmonicAnalysis:
    """Result of analysing one map: coefficients (complex layout, bandlimit L) and accuracy.

    `residual` is ||map - synthesis(alm)|| / ||map|| as reported by the iterative HEALPix solver
    (None for ring grids, whose quadrature is exact for bandlimited input); `iterations` likewise.
    """

    alm: np.ndarray
    L: int
    residual: float | None = None
    iterations: int | None = None


EXACT_RANGE = 2.0**64
"""Maps and coefficients whose largest magnitude lies outside [1 / EXACT_RANGE, EXACT_RANGE] are
scaled by a power of two before a transform and unscaled after (``exact_scale``)."""


def peak_magnitude(x: np.ndarray) -> float:
    """The largest |component| of `x` (real and imaginary parts for complex data, within sqrt(2)
    of the largest modulus), found without a temporary array the size of a map."""
    x = np.asarray(x)
    if x.size == 0:
        return 0.0
    parts = (x.real, x.imag) if np.iscomplexobj(x) else (x,)
    return float(max(max(p.max(), -p.min()) for p in parts))


def exact_scale(x: np.ndarray) -> float:
    """A power of two s with max|s x| ~ 1 when max|x| is outside [1/EXACT_RANGE, EXACT_RANGE],
    else 1. The transforms are linear (the modulus homogeneous) and scaling by a power of two is
    exact in floating point, so T(x) = T(s x) / s to the last bit; without it, maps of magnitude
    ~1e300 or ~1e-200 overflow or underflow inside the solvers and come out as zeros."""
    peak = peak_magnitude(x)
    if not math.isfinite(peak) or peak == 0.0 or 1.0 / EXACT_RANGE <= peak <= EXACT_RANGE:
        return 1.0
    return 2.0 ** -math.frexp(peak)[1]


@lru_cache(maxsize=8)
def _healpix_geometry(nside: int) -> dict:
    info = ducc0.healpix.Healpix_Base(nside, "RING").sht_info()
    for v in info.values():
        v.flags.writeable = False
    return info


def _reorder(values: np.ndarray, nside: int, source: str) -> np.ndarray:
    """Permute a HEALPix map (last axis) from `source` ordering ("NEST" or "RING") to the other,
    in blocks of pixels to bound memory."""
    base = ducc0.healpix.Healpix_Base(nside, source)
    convert = base.nest2ring if source == "NEST" else base.ring2nest
    out = np.empty_like(values)
    for start in range(0, values.shape[-1], _REORDER_BLOCK):
        idx = np.arange(start, min(start + _REORDER_BLOCK, values.shape[-1]))
        out[..., convert(idx)] = values[..., idx]
    return out


def nested_to_ring(values: np.ndarray, nside: int) -> np.ndarray:
    """Reorder a NESTED HEALPix map (last axis) to RING."""
    return _reorder(values, nside, "NEST")


def ring_to_nested(values: np.ndarray, nside: int) -> np.ndarray:
    """Reorder a RING HEALPix map (last axis) to NESTED."""
    return _reorder(values, nside, "RING")


def _check_components(n: int, spin: int) -> None:
    if n != (1 if spin == 0 else 2):
        raise ValueError(f"a spin-{spin} field has {1 if spin == 0 else 2} component(s), got {n}")


def analyse(
    components: np.ndarray,
    grid: Grid,
    L: int,
    spin: int = 0,
    *,
    nthreads: int = 1,
    epsilon: float = HEALPIX_EPSILON,
    maxiter: int = HEALPIX_MAXITER,
) -> tuple[np.ndarray, float | None, int | None]:
    """(alm (ncomp, n_alm(L)), residual, iterations) of `components` (ncomp, *grid.shape): one real
    map for spin 0, the two real components of a spin-`spin` field (e.g. Q, U) otherwise, whose
    coefficients are then the gradient (E) and curl (B) parts in ducc0's (= healpy's) convention.
    Exact on ring grids; iterative (LSMR, tolerance `epsilon`) on HEALPix, with its residual."""
    check_bandlimit(grid, L)
    _check_components(len(components), spin)
    values = np.ascontiguousarray(components, dtype=np.float64)  # no copy of a native float64 map
    if values.shape[1:] != grid.shape:
        raise ValueError(f"map shape {values.shape[1:]} does not match grid {grid.describe()} (expected {grid.shape})")
    scale = exact_scale(values)
    if scale != 1.0:
        values = values * scale
    if isinstance(grid, RingGrid):
        alm = ducc0.sht.experimental.analysis_2d(map=values, spin=spin, lmax=L - 1, geometry=grid.ducc_geometry, nthreads=nthreads)
        return (alm / scale if scale != 1.0 else alm), None, None
    if grid.ordering == "NESTED":
        values = nested_to_ring(values, grid.nside)
    alm, _, iterations, residual, _ = ducc0.sht.pseudo_analysis(
        map=values, lmax=L - 1, spin=spin, nthreads=nthreads, maxiter=maxiter, epsilon=epsilon, **_healpix_geometry(grid.nside)
    )
    return (alm / scale if scale != 1.0 else alm), float(residual), int(iterations)


def synthesise(alm: np.ndarray, grid: Grid, L: int, spin: int = 0, *, nthreads: int = 1) -> np.ndarray:
    """Maps (ncomp, *grid.shape) of coefficients (ncomp, n_alm(L)); the inverse of ``analyse``."""
    if alm.shape[-1:] != (n_alm(L),):
        raise ValueError(f"expected {n_alm(L)} coefficients for L = {L}, got shape {alm.shape}")
    _check_components(len(alm), spin)
    alm = np.ascontiguousarray(alm, dtype=np.complex128)
    if isinstance(grid, RingGrid):
        out = np.empty((len(alm),) + grid.shape)
        ducc0.sht.experimental.synthesis_2d(alm=alm, map=out, spin=spin, lmax=L - 1, geometry=grid.ducc_geometry, nthreads=nthreads)
        return out
    values = ducc0.sht.synthesis(alm=alm, lmax=L - 1, spin=spin, nthreads=nthreads, **_healpix_geometry(grid.nside))
    return ring_to_nested(values, grid.nside) if grid.ordering == "NESTED" else values


def map_to_alm(values: np.ndarray, grid: Grid, L: int, **options) -> HarmonicAnalysis:
    """Analyse one real map on `grid` to bandlimit L (lmax = L - 1); options of ``analyse``."""
    alm, residual, iterations = analyse(np.asarray(values)[None], grid, L, **options)
    return HarmonicAnalysis(alm[0], L, residual=residual, iterations=iterations)


def alm_to_map(alm: np.ndarray, grid: Grid, L: int, *, nthreads: int = 1) -> np.ndarray:
    """Synthesise a real map on `grid` from complex-layout coefficients of bandlimit L."""
    if alm.shape != (n_alm(L),):
        raise ValueError(f"expected {n_alm(L)} coefficients for L = {L}, got shape {alm.shape}")
    return synthesise(alm[None], grid, L, nthreads=nthreads)[0]


def quadrature_analysis(values: np.ndarray, grid: Grid, L: int) -> np.ndarray:
    """Complex coefficients (l < L) of a real map by its grid's quadrature alone, no iterations:
    for a field that is not bandlimited (a mask), the plain integral against Y_lm (HEALPix: equal
    pixel areas 4 pi / npix)."""
    if isinstance(grid, RingGrid):
        return ducc0.sht.experimental.analysis_2d(map=np.ascontiguousarray(values, dtype=np.float64)[None], spin=0, lmax=L - 1,
                                                  geometry=grid.ducc_geometry)[0]
    ring = nested_to_ring(values, grid.nside) if grid.ordering == "NESTED" else values
    return ducc0.sht.adjoint_synthesis(map=ring[None] * (4 * math.pi / grid.npix), lmax=L - 1, spin=0,
                                       **_healpix_geometry(grid.nside))[0]


POINTWISE = ("abs", "signed_square", "product")
"""Pointwise operations of ``pointwise_analysis``: |a|, a |a|, a b of sampled signals a, b."""


def pointwise_analysis(
    alms: list[np.ndarray], L: int, ntheta: int, nphi: int, products: list[tuple[str, tuple[int, ...], int]],
    *, nthreads: int = 1, single: bool = False,
) -> list[np.ndarray]:
    """Coefficients of pointwise functions of bandlimit-L signals, each synthesised once.

    Every signal alms[k] is synthesised on a Gauss-Legendre grid of ntheta x nphi: a 1-D array
    (n_alm(L),) is a real spin-0 signal a; a (2, n_alm(L)) array holds the gradient and curl (E, B)
    coefficients of a spin-2 field a = Q + iU (``analyse`` with spin 2), whose modulus
    |a| = sqrt(Q^2 + U^2) is a spin-0 signal, invariant under the rotation of the local frame.
    Each product (operation, operands, L_out) of POINTWISE ("abs": |a|, "signed_square": a |a|,
    "product": a b; the last two of spin-0 signals only) is evaluated there and integrated against
    Y_lm for l < L_out by Gauss-Legendre quadrature: exact for a polynomial integrand (a b, when
    2 ntheta > 2 L + L_out - 3), otherwise up to the aliasing of the content above degree ~2 ntheta - L_out.

    The grid is processed in bands of rings (north and south rings in mirror pairs, so ducc0 keeps
    its equatorial symmetry), which bounds memory by one band per signal instead of the whole
    oversampled grid and gives the same sums to rounding.

    `single`: synthesis, pointwise functions and quadrature in float32 (ducc0's single-precision
    transforms), the sums over bands accumulated in float64; the inputs and outputs stay complex128.
    """
    theta = ducc0.misc.GL_thetas(ntheta)
    weights = ducc0.misc.GL_weights(ntheta, nphi).astype(np.float32 if single else np.float64)
    spins = [0 if np.ndim(a) == 1 else 2 for a in alms]
    for operation, operands, _ in products:
        if operation != "abs" and any(spins[k] for k in operands):
            raise ValueError(f"{operation!r} is defined for spin-0 signals only; a spin-2 signal takes 'abs'")
    alms = [np.ascontiguousarray(a, dtype=np.complex64 if single else np.complex128).reshape(-1, n_alm(L)) for a in alms]
    outs = [np.zeros((1, n_alm(L_out)), dtype=np.complex128) for _, _, L_out in products]
    half = (ntheta + 1) // 2
    pairs_per_band = max(1, _BAND_BYTES // (2 * nphi * 8 * max(1, sum(len(a) for a in alms))))
    for start in range(0, half, pairs_per_band):
        north = np.arange(start, min(start + pairs_per_band, half))
        rings = np.unique(np.concatenate([north, ntheta - 1 - north[::-1]]))
        geometry = dict(
            theta=theta[rings],
            nphi=np.full(len(rings), nphi, dtype=np.uint64),
            phi0=np.zeros(len(rings)),
            ringstart=np.arange(len(rings), dtype=np.uint64) * nphi,
        )
        bands = [ducc0.sht.synthesis(alm=a, lmax=L - 1, spin=s, nthreads=nthreads, **geometry) if L > s  # no l >= 2: zero
                 else np.zeros((len(a), len(rings) * nphi), dtype=weights.dtype) for a, s in zip(alms, spins)]
        w, shape = weights[rings, None], (len(rings), nphi)
        magnitudes: dict[int, np.ndarray] = {}  # |a| once per signal and band, shared by "abs" and "signed_square"
        for out, (operation, operands, L_out) in zip(outs, products):
            a = bands[operands[0]][0].reshape(shape)
            if operation != "product" and operands[0] not in magnitudes:
                magnitudes[operands[0]] = np.abs(a) if spins[operands[0]] == 0 else np.hypot(a, bands[operands[0]][1].reshape(shape))
            if operation == "abs":
                values = magnitudes[operands[0]] * w
            else:
                values = a * (magnitudes[operands[0]] if operation == "signed_square" else bands[operands[1]][0].reshape(shape))
                values *= w
            out += ducc0.sht.adjoint_synthesis(map=values.reshape(1, -1), lmax=L_out - 1, spin=0, nthreads=nthreads, **geometry)
    return [out[0] for out in outs]


def ring_grid_synthesis(alm: np.ndarray, L: int, ntheta: int, nphi: int, *, nthreads: int = 1) -> np.ndarray:
    """Synthesis of bandlimit-L coefficients on a Gauss-Legendre grid of any size ntheta >= L."""
    out = np.empty((1, ntheta, nphi))
    ducc0.sht.experimental.synthesis_2d(
        alm=np.ascontiguousarray(alm, dtype=np.complex128)[None], map=out, spin=0, lmax=L - 1, geometry="GL", nthreads=nthreads
    )
    return out[0]


def ring_grid_analysis(values: np.ndarray, L: int, *, nthreads: int = 1) -> np.ndarray:
    """Gauss-Legendre quadrature of a (ntheta, nphi) grid against Y_lm, l < L (exact for
    bandlimited input; otherwise the quadrature sum, aliasing included)."""
    return ducc0.sht.experimental.analysis_2d(
        map=np.ascontiguousarray(values, dtype=np.float64)[None], spin=0, lmax=L - 1, geometry="GL", nthreads=nthreads
    )[0]
