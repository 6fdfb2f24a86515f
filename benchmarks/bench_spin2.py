"""Spin-2 scattering (docs/scattering.md section 8): equivariance per depth of both routes, the
failure of Q and U scattered as scalars, and the cost in SHT pairs, at each L given.

For white (C_l = 1) and red (C_l = 1 / (l (l + 1))) E and B (l >= 2): the median over maps x
Haar-random rotations of ||S(R f) - R S(f)|| / ||S(f)|| per (kind, depth), where R f rotates the
spin-2 field correctly (its E and B coefficients by Wigner-D); for route "modulus" (the tree of
|Q_j + iU_j|), route "eb" (E and B as scalar maps) and, as the check that can fail, Q and U analysed
and scattered as two scalar maps (rotated as a spin-2 field, compared as scalars). Cost, one
process: one spin-2 forward + inverse SHT pair on the Gauss-Legendre grid of L, and each route's
scattering from the (Q, U) maps, as multiples of that pair.
Prints a table and writes benchmarks/results/bench_spin2.json.

    python benchmarks/bench_spin2.py                       # L = 256 and 1024, 3 maps x 2 rotations
    python benchmarks/bench_spin2.py --L 64 --maps 1 --rotations 1
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_scattering import best_time  # noqa: E402
from benchmarks.bench_sign_aware import spectrum  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.scattering.fields import FieldScattering  # noqa: E402
from pipeline.scattering.transform import ScatteringTransform  # noqa: E402
from pipeline.sphere.alm import l_of_index  # noqa: E402
from pipeline.sphere.fields import FieldSet  # noqa: E402
from pipeline.sphere.grids import RingGrid  # noqa: E402
from pipeline.sphere.harmonic import analyse, synthesise  # noqa: E402
from pipeline.sphere.rotations import random_rotation, rotate_alm, rotate_real  # noqa: E402
from pipeline.testing import random_alm, relative_error_by_channel  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_spin2.json"
PAIR = FieldSet.declare(["Q", "U"])


def random_eb(rng, L: int, name: str) -> np.ndarray:
    eb = np.stack([random_alm(rng, L, spectrum(name, L)), random_alm(rng, L, spectrum(name, L))])
    eb[:, l_of_index(L) < 2] = 0
    return eb


def errors_of(L: int, name: str, n_maps: int, n_rotations: int, rng) -> dict:
    """Median equivariance error per (route, kind, depth)."""
    grid = RingGrid.for_bandlimit("gl", L)
    routes = {route: FieldScattering(ScatteringConfig(L=L, spin2_route=route), PAIR) for route in ("modulus", "eb")}
    scalar = ScatteringTransform(ScatteringConfig(L=L, odd=()))
    L0 = scalar.config.L0
    found: dict[str, list[float]] = {}
    for _ in range(n_maps):
        eb = random_eb(rng, L, name)
        for _ in range(n_rotations):
            angles = random_rotation(rng)
            qu, qu_rotated = synthesise(eb, grid, L, spin=2), synthesise(rotate_alm(eb, L, angles), grid, L, spin=2)
            for route, fs in routes.items():
                S, S_R = fs.from_map(qu, grid).coefficients, fs.from_map(qu_rotated, grid).coefficients
                for (kind, depth), e in relative_error_by_channel(S_R, rotate_real(S, L0, angles), fs.table.kinds, fs.table.paths).items():
                    found.setdefault(f"{route} {kind} {depth}", []).append(e)
            S = np.concatenate([scalar.from_map(c, grid).coefficients for c in qu])
            S_R = np.concatenate([scalar.from_map(c, grid).coefficients for c in qu_rotated])
            for (kind, depth), e in relative_error_by_channel(S_R, rotate_real(S, L0, angles), scalar.plan.kinds * 2, scalar.paths * 2).items():
                found.setdefault(f"Q,U as scalars {kind} {depth}", []).append(e)
    return {key: statistics.median(values) for key, values in found.items()}


def cost(L: int, repeats: int, rng) -> dict:
    grid = RingGrid.for_bandlimit("gl", L)
    qu = synthesise(random_eb(rng, L, "white"), grid, L, spin=2)
    pair = best_time(lambda: synthesise(analyse(qu, grid, L, spin=2)[0], grid, L, spin=2), repeats)
    out = {"spin2_sht_pair_s": pair}
    for route in ("modulus", "eb"):
        fs = FieldScattering(ScatteringConfig(L=L, spin2_route=route), PAIR)
        seconds = best_time(lambda fs=fs: fs.from_map(qu, grid), repeats)
        out[route] = {"seconds": seconds, "in_spin2_pairs": seconds / pair, "channels": len(fs.table.paths)}
    return out


@click.command()
@click.option("--L", "Ls", type=int, multiple=True, default=(256, 1024), show_default=True)
@click.option("--maps", "n_maps", type=int, default=3, show_default=True)
@click.option("--rotations", "n_rotations", type=int, default=2, show_default=True)
@click.option("--repeats", type=int, default=3, show_default=True)
def main(Ls, n_maps, n_rotations, repeats):
    rng = np.random.default_rng(2025)
    results = {}
    for L in Ls:
        errors = {name: errors_of(L, name, n_maps, n_rotations, rng) for name in ("white", "red")}
        timing = cost(L, repeats, rng)
        results[str(L)] = {"equivariance": errors, "cost": timing}
        print(f"\nL = {L}, default configuration; equivariance error, median over {n_maps} maps x {n_rotations} rotations")
        print(f"{'channels':>30} {'white':>10} {'red':>10}")
        for key in errors["white"]:
            print(f"{key:>30} {errors['white'][key]:>10.2e} {errors['red'][key]:>10.2e}")
        print(f"cost (one run): spin-2 SHT pair {timing['spin2_sht_pair_s']:.3f} s; "
              + "; ".join(f"route {r}: {timing[r]['seconds']:.3f} s = {timing[r]['in_spin2_pairs']:.2f} pairs, "
                          f"{timing[r]['channels']} channels" for r in ("modulus", "eb")))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"maps": n_maps, "rotations": n_rotations, "results": results}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
