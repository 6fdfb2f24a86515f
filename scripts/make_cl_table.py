"""Regenerate pipeline/data/planck2018_unlensed_tt_cl.txt: the CMB power spectrum of the experiment.

Unlensed LCDM TT C_l (not D_l) in muK^2 for l = 0..LMAX, computed with CAMB (Lewis, Challinor &
Lasenby 2000, ApJ 538, 473; https://camb.info) for the Planck 2018 best-fit base-LCDM parameters
from TT,TE,EE+lowE+lensing (Planck Collaboration 2020, "Planck 2018 results. VI. Cosmological
parameters", A&A 641, A6, arXiv:1807.06209, Table 1, column "Plik best fit"). docs/cmb-experiment.md section 1.

CAMB is an optional extra (`pip install -c constraints.txt camb`, or the `camb` extra of the
package), never a runtime dependency: the table it writes is committed. With the same CAMB version
the output is byte-identical (CAMB is deterministic here; values are written to 11 significant
digits, far beyond CAMB's own accuracy of ~1e-3).

Usage:  python scripts/make_cl_table.py [OUTPUT]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

LMAX = 4096
"""Largest multipole written: the table supports bandlimits L <= LMAX + 1."""

PLANCK2018_BEST_FIT = {
    "H0": 67.32,
    "ombh2": 0.022383,
    "omch2": 0.12011,
    "tau": 0.0543,
    "As": 1e-10 * math.exp(3.0448),  # ln(10^10 As) = 3.0448
    "ns": 0.96605,
    "mnu": 0.06,  # eV, one massive neutrino (the Planck baseline)
    "nnu": 3.046,  # the Planck 2018 baseline N_eff (CAMB 2's default is 3.044)
    "omk": 0.0,
}
"""CAMB `set_params` arguments; everything else is CAMB's default (TCMB = 2.7255 K, helium from
BBN consistency, no tensors, default accuracy)."""

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "pipeline" / "data" / "planck2018_unlensed_tt_cl.txt"


def compute_cl(lmax: int = LMAX) -> tuple[np.ndarray, str]:
    """Unlensed scalar TT C_l in muK^2 for l = 0..lmax, and the CAMB version used."""
    import camb

    params = camb.set_params(lmax=lmax, **PLANCK2018_BEST_FIT)
    results = camb.get_results(params)
    cl = results.get_unlensed_scalar_cls(lmax=lmax, CMB_unit="muK", raw_cl=True)[:, 0]
    return np.asarray(cl, dtype=np.float64), camb.__version__


def header(camb_version: str, lmax: int = LMAX) -> str:
    return "\n".join(
        [
            f"Unlensed LCDM TT angular power spectrum C_l (not D_l) in muK^2, l = 0..{lmax}; C_0 = C_1 = 0.",
            "Planck 2018 best fit, TT,TE,EE+lowE+lensing (Planck Collaboration 2020, A&A 641, A6,",
            'arXiv:1807.06209, Table 1 "Plik best fit"): H0 = 67.32, ombh2 = 0.022383, omch2 = 0.12011,',
            "tau = 0.0543, ln(10^10 As) = 3.0448, ns = 0.96605, mnu = 0.06 eV (one massive neutrino),",
            "N_eff = 3.046, omk = 0; CAMB defaults otherwise (TCMB = 2.7255 K, BBN helium, no tensors).",
            "Made by scripts/make_cl_table.py.",
            f"camb_version: {camb_version}",
            f"camb_parameters: {json.dumps(PLANCK2018_BEST_FIT, sort_keys=True)}",
            "columns: l C_l[muK^2]",
        ]
    )


def write_table(path: Path, cl: np.ndarray, camb_version: str) -> None:
    ell = np.arange(cl.size)
    cl = cl.copy()
    cl[:2] = 0.0  # CAMB leaves the monopole and dipole at zero; make it explicit
    np.savetxt(path, np.column_stack([ell, cl]), fmt=["%d", "%.10e"], header=header(camb_version, cl.size - 1))


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    cl, version = compute_cl()
    write_table(out, cl, version)
    print(f"wrote {out} (l = 0..{cl.size - 1}, CAMB {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
