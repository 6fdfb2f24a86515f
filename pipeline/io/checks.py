"""What every input reader shares: the grids and orderings it knows, the UNSEEN marker, the
parsed result of one file (pixels or harmonic coefficients), and the checks on header and data
that turn a bad file into one ``InputError`` (docs/inputs.md).
"""

from __future__ import annotations

import math
import struct
import tokenize
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from pipeline.errors import InputError
from pipeline.sphere.alm import n_alm
from pipeline.sphere.grids import RING_SCHEMES, Grid

UNSEEN = -1.6375e30
"""HEALPix's marker for unobserved pixels; matched with healpy's tolerance |x - UNSEEN| <= 1e-5 |UNSEEN|."""
UNSEEN_LOW, UNSEEN_HIGH = UNSEEN * (1 + 1e-5), UNSEEN * (1 - 1e-5)

GRIDS = ("healpix", *RING_SCHEMES, "alm")
ORDERINGS = ("RING", "NESTED")
BAD_PIXEL_POLICIES = ("refuse", "fill-mean", "mask")
CONSTANT_MAP = "the map is constant (zero variance): nothing to analyse"
MAGNITUDE_RANGE = (1e-150, 1e150)
"""Largest magnitudes of a map accepted: power spectra are sums of squares, which leave float64
outside this range (a map of ~1e300, or with a 1.797e308 no-data sentinel, would be stored with
overflowed spectra; one of ~1e-200 with spectra of zero)."""

# What the parsers (astropy, numpy.lib.format, zipfile) raise on corrupt or truncated bytes, as
# found by fuzzing (tests/io/test_readers_property.py).
PARSER_ERRORS = (
    OSError, EOFError, ValueError, TypeError, LookupError, ArithmeticError, NotImplementedError,
    struct.error, zipfile.BadZipFile, zlib.error, tokenize.TokenError, fits.VerifyError,
)


@dataclass(frozen=True, eq=False)
class Pixels:
    values: np.ndarray  # our own float64 copy, filled in place by the bad-pixel policy; (n_fields, *grid.shape) for several fields
    grid: Grid
    coverage: str = ""  # set for partial-sky files
    pol_convention: str | None = None  # as the file declares it (FITS POLCCONV, sidecar pol_convention)


@dataclass(frozen=True, eq=False)
class Harmonics:
    alm: np.ndarray
    L: int


@contextmanager
def parser_errors(what: str):
    """Turn a parser's exception on bad bytes into an InputError (our own InputErrors pass)."""
    try:
        yield
    except InputError:
        raise
    except PARSER_ERRORS as err:
        raise InputError(f"not a {what} file ({type(err).__name__}: {err})") from err


def check_complete(needed: int, available: int) -> None:
    if available < needed:
        raise InputError(f"truncated file: the header declares {needed} bytes of data, only {available} are present")


def check_dtype(dtype: np.dtype, grid: str | None) -> None:
    """Maps are real floating point; harmonic coefficients complex; nothing pickled."""
    if dtype.hasobject:
        raise InputError("object arrays are not accepted: their data are pickled, and pickles are never loaded")
    if grid == "alm":
        if dtype.kind != "c":
            raise InputError(f"harmonic coefficients must be complex, got {dtype}")
    elif dtype.kind == "c":
        raise InputError(f"complex data ({dtype}) are accepted only as harmonic coefficients: declare grid 'alm'")
    elif dtype.kind != "f":
        raise InputError(f"{dtype} data are not accepted: a map must hold floating-point values")


def bandlimit_of(n: int) -> int:
    """L with L (L + 1) / 2 = n coefficients (layout with lmax = mmax)."""
    L = (math.isqrt(8 * n + 1) - 1) // 2
    if n < 1 or n_alm(L) != n:
        raise InputError(f"{n} coefficients do not form a full set: expected L*(L+1)/2 (healpy/ducc0 layout, lmax = mmax)")
    return L


def check_magnitude(peak: float) -> None:
    """Refuse data whose largest magnitude `peak` is outside MAGNITUDE_RANGE (docs/inputs.md section 5)."""
    low, high = MAGNITUDE_RANGE
    if peak and not low <= peak <= high:
        raise InputError(f"values up to {peak:.4g} in magnitude are outside [{low:g}, {high:g}]: their power spectra "
                         "(sums of squares) do not fit in float64; rescale the map")
