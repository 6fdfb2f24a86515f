"""The scattering configuration: frozen, validated on construction, with a stable hash.

Parameters follow McEwen, Wallis & Mavor-Parker (ICLR 2022) and the scale-discretised wavelets of
McEwen, Durastanti & Wiaux (2018): bandlimit L, dilation lam, lowest wavelet scale J0, depth M.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from pipeline.errors import InputError

MAX_DEPTH = 3
ODD_KINDS = ("signed_square", "cross")
"""Sign-aware channel kinds (docs/scattering.md section 7): odd functionals of the map."""
DEFAULT_ODD = ("signed_square", "cross")
PRECISIONS = ("float64", "float32")
SPIN2_ROUTES = ("eb", "modulus")
"""How a spin-2 pair (Q, U) is scattered (docs/scattering.md section 8): "eb" (the default), its E
and B modes each scattered as a scalar map, sign-aware channels included; "modulus", the tree of
the spin-2 wavelet modulus |Q_j + iU_j|, which is even in the field and blind to a global rotation
of the polarisation angle (E <-> B) beyond depth 0. Chosen by measurement: results/lensing/report.md."""


def max_scale(L: int, lam: float) -> int:
    """J: the smallest j with lam**j >= L - 1 (docs/wavelets.md section 2)."""
    J = 0
    while lam**J < L - 1:
        J += 1
    return J


@dataclass(frozen=True)
class ScatteringConfig:
    """Everything that determines the scattering coefficients of a map.

    L: input bandlimit (lmax = L - 1), >= 2.
    lam: wavelet dilation factor, > 1 (2 is dyadic).
    J0: lowest wavelet scale; the scaling function (low-pass) has bandlimit L0 = ceil(lam**J0),
        which is the bandlimit of every output path signal. 0 <= J0 <= J.
    depth: scattering depth M in 1..3 (number of modulus layers).
    oversampling: ratio of the Gauss-Legendre grid's ring count to the wavelet bandlimit L_j on
        which each modulus |W| is taken (>= 1); more means less aliasing (better equivariance)
        at higher cost. See benchmarks/bench_scattering.py for the measured trade-off.
    odd: sign-aware channels next to the modulus paths (docs/scattering.md section 7), a subset of
        ODD_KINDS: "signed_square" (W_j |W_j|) * Phi per scale, "cross" (W_j U) * Phi, the wavelet
        coefficient W_j of the map times W = U[p] * Psi_j of every path of depth >= 2; both are odd
        in the map, where every modulus path of depth >= 1 is even. () is modulus scattering.
    precision: "float64" (default) or "float32": the arithmetic of the oversampled grid passes
        (synthesis of each W, the modulus and products, their quadrature), where the modulus'
        aliasing (~1e-3) is far above float32 rounding (~1e-7); the input analysis, the filters and
        the outputs stay float64. Measured cost and error: ``benchmarks/bench_scattering.py``
        (benchmarks/PERFORMANCE.md: 8 % faster at L = 1024, 3e-8 from float64).
    spin2_route: how the spin-2 pair of a multi-field input is scattered, one of SPIN2_ROUTES
        ("eb": E and B as two scalar maps, default; "modulus": the spin-2 wavelet modulus); no
        effect on spin-0 inputs.
    """

    L: int
    lam: float = 2.0
    J0: int = 5
    depth: int = 2
    oversampling: float = 2.0
    odd: tuple[str, ...] = DEFAULT_ODD
    precision: str = "float64"
    spin2_route: str = "eb"

    def __post_init__(self) -> None:
        if not isinstance(self.L, int) or isinstance(self.L, bool) or self.L < 2:
            raise InputError(f"L must be an integer >= 2, got {self.L!r}")
        if not (isinstance(self.lam, (int, float)) and math.isfinite(self.lam) and self.lam > 1):
            raise InputError(f"lam must be a finite number > 1, got {self.lam!r}")
        object.__setattr__(self, "lam", float(self.lam))
        J = max_scale(self.L, self.lam)
        if not isinstance(self.J0, int) or not 0 <= self.J0 <= J:
            raise InputError(f"J0 must be an integer in [0, {J}] for L = {self.L}, lam = {self.lam:g}; got {self.J0!r}")
        if not isinstance(self.depth, int) or not 1 <= self.depth <= MAX_DEPTH:
            raise InputError(f"depth must be an integer in [1, {MAX_DEPTH}], got {self.depth!r}")
        if not (isinstance(self.oversampling, (int, float)) and 1.0 <= self.oversampling <= 8.0):
            raise InputError(f"oversampling must be a number in [1, 8], got {self.oversampling!r}")
        object.__setattr__(self, "oversampling", float(self.oversampling))
        if isinstance(self.odd, str) or not all(isinstance(k, str) for k in self.odd):
            raise InputError(f"odd must be a list of channel kinds from {list(ODD_KINDS)}, got {self.odd!r}")
        unknown = sorted(set(self.odd) - set(ODD_KINDS))
        if unknown:
            raise InputError(f"unknown odd channel kind(s) {unknown}: expected a subset of {list(ODD_KINDS)}")
        object.__setattr__(self, "odd", tuple(k for k in ODD_KINDS if k in self.odd))  # canonical order
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.spin2_route not in SPIN2_ROUTES:
            raise InputError(f"spin2_route must be one of {', '.join(SPIN2_ROUTES)}, got {self.spin2_route!r}")

    @property
    def J(self) -> int:
        """Largest wavelet scale."""
        return max_scale(self.L, self.lam)

    @property
    def L0(self) -> int:
        """Bandlimit of the scaling function, hence of every output path signal."""
        return min(self.L, math.ceil(self.lam**self.J0 - 1e-12))

    def wavelet_bandlimit(self, j: int) -> int:
        """L_j = min(L, ceil(lam**(j+1))): wavelet j vanishes for l >= lam**(j+1)."""
        return min(self.L, math.ceil(self.lam ** (j + 1) - 1e-12))

    def to_dict(self) -> dict:
        """Plain JSON; "precision" and "spin2_route" only when not the default, so that caches
        written before these options existed keep their configuration and hash."""
        d = asdict(self) | {"odd": list(self.odd)}
        for name, default in (("precision", "float64"), ("spin2_route", "eb")):
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ScatteringConfig":
        """The inverse of ``to_dict``; a dict without "odd" (written before sign-aware channels
        existed, cache schema version 1) means modulus scattering only."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown scattering configuration keys: {sorted(unknown)}")
        return cls(**({"odd": ()} | d))

    def hash(self) -> str:
        """sha256 of the canonical JSON of the configuration (stable across runs and machines); a
        modulus-only configuration hashes without the "odd" key, as it did before that existed (and
        float64 without "precision", by ``to_dict``)."""
        d = self.to_dict()
        if not d["odd"]:
            del d["odd"]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
