"""Sign-aware scattering channels next to the modulus paths: equivariance error per channel kind
and depth, and cost, at one L (docs/scattering.md section 7; docs/equivariance.md section 3).

For white (C_l = 1) and red (C_l = 1 / (l (l + 1)), l >= 2) Gaussian inputs: the median over
maps x Haar-random rotations of ||S(Rf) - R S(f)|| / ||S(f)|| for each (kind, depth) of the
default configuration. Cost, measured in one process: one forward + inverse SHT pair at L on the
input's Gauss-Legendre grid, modulus-only scattering (odd = ()), and the default (both odd
kinds), as multiples of that pair; with the modelled cost of ``cost_in_sht_pairs``.
Prints a table and writes benchmarks/results/bench_sign_aware.json.

    python benchmarks/bench_sign_aware.py              # L = 1024, 3 maps x 3 rotations per spectrum
    python benchmarks/bench_sign_aware.py --L 128 --maps 1 --rotations 1
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_scattering import best_time  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.scattering.plan import cost_in_sht_pairs  # noqa: E402
from pipeline.scattering.transform import ScatteringTransform  # noqa: E402
from pipeline.sphere.grids import RingGrid  # noqa: E402
from pipeline.sphere.harmonic import alm_to_map, map_to_alm  # noqa: E402
from pipeline.sphere.rotations import random_rotation  # noqa: E402
from pipeline.testing import random_alm, scattering_equivariance_error  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_sign_aware.json"


def spectrum(name: str, L: int) -> np.ndarray:
    l = np.arange(L, dtype=np.float64)
    return np.ones(L) if name == "white" else np.where(l >= 2, 1.0 / np.maximum(l * (l + 1), 1.0), 0.0)


def equivariance(config: ScatteringConfig, name: str, n_maps: int, n_rotations: int, rng: np.random.Generator) -> dict:
    st = ScatteringTransform(config)
    errors = [scattering_equivariance_error(st, random_alm(rng, config.L, spectrum(name, config.L)), random_rotation(rng))
              for _ in range(n_maps) for _ in range(n_rotations)]
    return {f"{kind} {depth}": statistics.median(e[kind, depth] for e in errors) for kind, depth in errors[0]}


def cost(config: ScatteringConfig, repeats: int, rng: np.random.Generator) -> dict:
    L = config.L
    grid = RingGrid.for_bandlimit("gl", L)
    sky = alm_to_map(random_alm(rng, L), grid, L)
    pair = best_time(lambda: alm_to_map(map_to_alm(sky, grid, L).alm, grid, L), repeats)
    modulus = ScatteringTransform(replace(config, odd=()))
    signed = ScatteringTransform(config)
    t_modulus = best_time(lambda: modulus.from_map(sky, grid), repeats)
    t_signed = best_time(lambda: signed.from_map(sky, grid), repeats)
    return {"sht_pair_s": pair, "modulus_s": t_modulus, "default_s": t_signed,
            "modulus_in_pairs": t_modulus / pair, "default_in_pairs": t_signed / pair,
            "modelled_modulus_in_pairs": cost_in_sht_pairs(replace(config, odd=())),
            "modelled_default_in_pairs": cost_in_sht_pairs(config),
            "channels": {"modulus": len(modulus.paths), "default": len(signed.paths)}}


@click.command()
@click.option("--L", "L", type=int, default=1024, show_default=True)
@click.option("--maps", "n_maps", type=int, default=3, show_default=True)
@click.option("--rotations", "n_rotations", type=int, default=3, show_default=True)
@click.option("--repeats", type=int, default=3, show_default=True)
def main(L, n_maps, n_rotations, repeats):
    rng = np.random.default_rng(2024)
    config = ScatteringConfig(L=L)
    errors = {name: equivariance(config, name, n_maps, n_rotations, rng) for name in ("white", "red")}
    timing = cost(config, repeats, rng)
    print(f"\nEquivariance error, median over {n_maps} maps x {n_rotations} rotations, L = {L}, {config.to_dict()}")
    print(f"{'channels':>18} {'white':>10} {'red':>10}")
    for key in errors["white"]:
        print(f"{key:>18} {errors['white'][key]:>10.2e} {errors['red'][key]:>10.2e}")
    print(f"\nCost at L = {L} (one run): SHT pair {timing['sht_pair_s']:.3f} s; modulus {timing['modulus_s']:.3f} s "
          f"= {timing['modulus_in_pairs']:.2f} pairs (model {timing['modelled_modulus_in_pairs']:.2f}); default "
          f"{timing['default_s']:.3f} s = {timing['default_in_pairs']:.2f} pairs (model {timing['modelled_default_in_pairs']:.2f}); "
          f"channels {timing['channels']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"L": L, "config": config.to_dict(), "maps": n_maps, "rotations": n_rotations,
                                   "equivariance": errors, "cost": timing}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
