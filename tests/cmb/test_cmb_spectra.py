"""The shipped C_l table and the analytic spectra of the CMB experiment (docs/cmb-experiment.md section 1)."""

import subprocess
import sys
from pathlib import Path

import ducc0
import numpy as np
import pytest
from scipy.special import roots_legendre

from pipeline.cmb.spectra import (
    CL_TABLE_PATH,
    cmb_spectra,
    correlation_function,
    field_variance,
    legendre_spectrum,
    load_cl,
    product_quadrature_order,
    squared_field_spectrum,
)
from pipeline.errors import InputError

REPO = Path(__file__).resolve().parents[2]


def test_table_is_planck2018_unlensed_tt():
    cl = load_cl()
    assert cl.shape == (4097,) and cl.dtype == np.float64
    assert cl[0] == cl[1] == 0 and np.all(cl[2:] > 0)
    header = [line for line in CL_TABLE_PATH.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    for needle in ("camb_version:", "H0 = 67.32", "ombh2 = 0.022383", "omch2 = 0.12011", "tau = 0.0543",
                   "ln(10^10 As) = 3.0448", "ns = 0.96605", "mnu = 0.06", "muK^2", "1807.06209"):
        assert needle in text, needle
    # the first acoustic peak of D_l = l(l+1) C_l / 2pi: near l = 220, ~5.7e3 muK^2 (unlensed)
    ell = np.arange(cl.size)
    dl = ell * (ell + 1) * cl / (2 * np.pi)
    peak = 100 + np.argmax(dl[100:400])
    assert 200 <= peak <= 240 and 5000 < dl[peak] < 6500


def test_legendre_round_trip():
    """C_l -> xi on the quadrature nodes -> C_l is the identity to float64 precision."""
    cl = load_cl()[:64]
    mu, w = roots_legendre(product_quadrature_order(64))
    back = legendre_spectrum(correlation_function(cl, mu), mu, w, 64)
    np.testing.assert_allclose(back, cl, rtol=0, atol=1e-12 * cl.max())
    assert field_variance(cl) == pytest.approx(correlation_function(cl, np.array([1.0]))[0], rel=1e-14)


def test_squared_field_spectrum_matches_wigner_3j():
    """Independent formula: C_l of G^2 is 2 sum_{l1,l2} (2l1+1)(2l2+1)/(4pi) C_l1 C_l2 (l1 l2 l; 0 0 0)^2."""
    L = 20
    cl = load_cl()[:L]
    ref = np.zeros(L)
    for l1 in range(L):
        for l2 in range(L):
            lmin, w3j = ducc0.misc.wigner3j_int(l1, l2, 0, 0)
            ell = lmin + np.arange(w3j.size)
            keep = ell < L
            ref[ell[keep]] += 2 * (2 * l1 + 1) * (2 * l2 + 1) / (4 * np.pi) * cl[l1] * cl[l2] * w3j[keep] ** 2
    np.testing.assert_allclose(squared_field_spectrum(cl), ref, rtol=1e-11)


def test_quadrature_order_is_sufficient():
    """More nodes than product_quadrature_order(L) change nothing (the integrand is a polynomial)."""
    L = 48
    cl = load_cl()[:L]
    mu, w = roots_legendre(product_quadrature_order(L) + 17)
    more = legendre_spectrum(2 * correlation_function(cl, mu) ** 2, mu, w, L)
    np.testing.assert_allclose(squared_field_spectrum(cl), more, rtol=1e-10)


def test_nongaussian_filter_restores_cl():
    s = cmb_spectra(128)
    for f in (0.0, 0.05, 1.0):
        filt = s.nongaussian_filter(f)
        assert filt[0] == filt[1] == 0
        np.testing.assert_allclose(filt**2 * s.nongaussian_cl(f), s.cl, rtol=1e-14)
    assert np.all(s.nongaussian_filter(0.0)[2:] == 1.0)
    assert np.all(s.nongaussian_filter(0.1)[2:] < 1.0)
    with pytest.raises(ValueError):
        s.cl[5] = 0.0  # shared, cached arrays are read-only


def test_bad_bandlimit_and_table(tmp_path):
    with pytest.raises(InputError, match="2 <= L <= 4097"):
        cmb_spectra(5000)
    bad = tmp_path / "cl.txt"
    bad.write_text("0 0\n1 0\n2 -1\n")
    with pytest.raises(InputError, match="finite and >= 0"):
        load_cl(bad)


@pytest.mark.slow
def test_make_cl_table_regenerates_the_shipped_table(tmp_path):
    pytest.importorskip("camb")
    out = tmp_path / "cl.txt"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_cl_table.py"), str(out)], check=True)
    assert out.read_bytes() == CL_TABLE_PATH.read_bytes()
