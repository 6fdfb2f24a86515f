"""Where the scattering of a masked map can be trusted: the mask's contamination propagated through
the scattering tree with the kernels' power (docs/masks.md section 3).

For a map f observed through apodised weights w, the masked input f_m = (f - mean) w differs from
f by at most |f| (1 - w) plus the removed mean. For a field whose fluctuations are roughly
independent from pixel to pixel, the variance of a filtered field that comes from the masked
pixels is the kernel's power k^2 integrated over them, and a modulus never increases a
difference. So the fraction of each signal's variance that is the cut's is propagated as

    c[()] = (1 - w)^2,   c[p + (j,)] = clip(K_j * c[p], 0, 1),   v[p] = K_Phi * c[p],

with K = k^2 / integral k^2 for the wavelets Psi^j and the scaling function Phi, and for an odd
channel the sum of its two factors' c. v[p], a bandlimit-L0 signal stored like the coefficients,
is the channel's contamination map; the channel is **valid** where sqrt(v[p]) < tolerance. (A
bound with |k| was measured useless: the rings of these sharp-in-l kernels leave a floor of a few
per cent everywhere.) The chain runs on the scattering plan's own grids and bandlimits.
"""

from __future__ import annotations

import math
from functools import lru_cache

import ducc0
import numpy as np

from pipeline.cmb.spectra import correlation_function, legendre_spectrum
from pipeline.scattering.config import ScatteringConfig
from pipeline.scattering.plan import MODULUS, scattering_plan
from pipeline.scattering.wavelets import filter_bank
from pipeline.sphere.alm import apply_l_filter, complex_to_real, real_to_complex, truncate
from pipeline.sphere.harmonic import ring_grid_analysis, ring_grid_synthesis

VALIDITY_GRID_FACTOR = 2
"""The valid region of a channel is evaluated on the Gauss-Legendre grid of 2 L0 rings."""


def kernel_power(multiplier: np.ndarray) -> np.ndarray:
    """The multiplier of k^2 / integral k^2 for the axisymmetric kernel k of harmonic `multiplier`
    (k(mu) = sum_l (2l+1)/(4 pi) m_l P_l(mu)), to the same bandlimit: exact Gauss-Legendre quadrature in mu."""
    L = len(multiplier)
    mu, weights = np.polynomial.legendre.leggauss(2 * L)
    m = legendre_spectrum(correlation_function(np.asarray(multiplier, dtype=np.float64), mu) ** 2, mu, weights, L)
    return m / m[0]


@lru_cache(maxsize=8)
def _power_filters(config: ScatteringConfig) -> tuple[dict[int, np.ndarray], np.ndarray]:
    fb = filter_bank(config.L, config.lam, config.J0)
    wavelets = {j: kernel_power(fb.wavelet(j)[: config.wavelet_bandlimit(j)]) for j in range(config.J0, config.J + 1)}
    return wavelets, kernel_power(fb.scaling[: config.L0])


def contamination(config: ScatteringConfig, c_root: np.ndarray) -> np.ndarray:
    """The contamination map v of every channel of `config`'s spin-0 plan, real layout
    (n_channels, L0**2), from the complex coefficients (l < L) of c = 1 - w."""
    plan = scattering_plan(config)
    wavelets, scaling = _power_filters(config)
    c: dict[int, np.ndarray] = {0: c_root}
    for i, node in enumerate(plan.nodes[1:], start=1):
        j, parent = node.path[-1], plan.nodes[node.parent]
        Lw = node.L_wavelet
        L_parent = config.L if node.parent == 0 else parent.L_wavelet  # c[p] is kept at its W's bandlimit
        spread = apply_l_filter(truncate(c[node.parent], L_parent, Lw), Lw, wavelets[j])
        ntheta, nphi = node.grid
        c[i] = ring_grid_analysis(np.clip(ring_grid_synthesis(spread, Lw, ntheta, nphi), 0.0, 1.0), Lw)
    out = []
    for channel in plan.channels:
        L_of = [config.L if k == 0 else plan.nodes[k].L_wavelet for k in channel.factors]
        if channel.kind == MODULUS:
            total = truncate(c[channel.factors[0]], L_of[0], config.L0)
        else:  # the sum of the two factors' contaminations bounds their product's
            total = sum(truncate(c[k], Lk, config.L0) for k, Lk in zip(channel.factors, L_of))
        out.append(complex_to_real(apply_l_filter(total, config.L0, scaling), config.L0))
    return np.stack(out)


def valid_regions(contamination_maps: np.ndarray, L0: int, tolerance: float) -> np.ndarray:
    """Boolean (n_channels, ntheta, nphi) on the Gauss-Legendre grid of VALIDITY_GRID_FACTOR L0
    rings: where each channel's contamination is below `tolerance`."""
    ntheta = VALIDITY_GRID_FACTOR * L0
    nphi = 2 * ntheta
    return np.stack([ring_grid_synthesis(real_to_complex(v, L0), L0, ntheta, nphi) < tolerance for v in contamination_maps])


def valid_fractions(regions: np.ndarray) -> np.ndarray:
    """Area fraction of each channel's valid region."""
    weights = ducc0.misc.GL_weights(regions.shape[1], regions.shape[2])[:, None]
    return (regions * weights).sum(axis=(1, 2)) / (4 * math.pi)
