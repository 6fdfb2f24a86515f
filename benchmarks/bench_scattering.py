"""Depth-2 scattering cost, memory and equivariance, as multiples of one SHT pair at the same L,
in float64 and float32 grid-pass arithmetic (``ScatteringConfig.precision``).

For each L: time per map of the full transform from a Gauss-Legendre map (input analysis included),
time of one forward + inverse SHT pair on the same grid in the same process, their ratio, peak
memory increase over the input map's size, and the median equivariance error per depth
(docs/equivariance.md section 3); per grid pass of the plan, the floor of today's design and of one
with its Legendre work on the fewest rings. A second table sweeps the oversampling knob at one L
(error vs cost). Prints tables and writes benchmarks/results/bench_scattering.json (or --out).

    python benchmarks/bench_scattering.py                   # L = 256, 512, 1024, 2048
    python benchmarks/bench_scattering.py --L 256 --quick --out /tmp/smoke.json   # smoke run
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import click
import ducc0
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.memory import peak_rss_increase  # noqa: E402
from pipeline.scattering.config import PRECISIONS, ScatteringConfig  # noqa: E402
from pipeline.scattering.plan import cost_in_sht_pairs  # noqa: E402
from pipeline.scattering.transform import ScatteringTransform  # noqa: E402
from pipeline.sphere.alm import n_alm, truncate  # noqa: E402
from pipeline.sphere.grids import RingGrid  # noqa: E402
from pipeline.sphere.harmonic import alm_to_map, map_to_alm, ring_grid_analysis, ring_grid_synthesis  # noqa: E402
from pipeline.sphere.rotations import random_rotation  # noqa: E402
from pipeline.testing import relative_error_by_channel, scattering_equivariance_error  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_scattering.json"


def white_alm(rng: np.random.Generator, L: int) -> np.ndarray:
    a = (rng.standard_normal(n_alm(L)) + 1j * rng.standard_normal(n_alm(L))) / np.sqrt(2)
    a[:L] = np.sqrt(2) * a[:L].real
    return a


def best_time(fn, repeats: int) -> float:
    """Minimum wall time over repeats (the least disturbed run on a shared machine)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure_in_fresh_process(*args) -> dict:
    """Run ``measure`` in its own process so that peak memory is not hidden by earlier runs."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, *args).result()


def measure(config: ScatteringConfig, repeats: int, n_rotations: int, nthreads: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    L = config.L
    grid = RingGrid.for_bandlimit("gl", L)
    alm = white_alm(rng, L)
    sky = alm_to_map(alm, grid, L, nthreads=nthreads)
    st = ScatteringTransform(config, nthreads=nthreads)
    with peak_rss_increase() as mem:  # first call in a fresh process: the true working set
        st.from_map(sky, grid)
    pair = best_time(lambda: alm_to_map(map_to_alm(sky, grid, L, nthreads=nthreads).alm, grid, L, nthreads=nthreads), repeats)
    scatter = best_time(lambda: st.from_map(sky, grid), repeats)
    analysis = best_time(lambda: map_to_alm(sky, grid, L, nthreads=nthreads), repeats)
    passes = synthesis_floor(st, alm, nthreads, repeats) if config.precision == "float64" else []  # the floor's calls are float64
    for grid_pass, row in zip(st.plan.passes, passes):
        row |= resampled_floor(grid_pass, row["outputs_L"], st, alm, nthreads, repeats)
    errors = [scattering_equivariance_error(st, alm, random_rotation(rng)) for _ in range(n_rotations)]
    versus_float64 = {}
    if config.precision != "float64":
        reference = ScatteringTransform(replace(config, precision="float64"), nthreads=nthreads).from_alm(alm).coefficients
        versus_float64 = {f"{k} {d}": e for (k, d), e in relative_error_by_channel(
            st.from_alm(alm).coefficients, reference, st.plan.kinds, st.paths).items()}
    return {
        "L": L,
        "precision": config.precision,
        "versus_float64": versus_float64,
        "oversampling": config.oversampling,
        "n_paths": len(st.paths),
        "sht_pair_s": pair,
        "scattering_s": scatter,
        "ratio": scatter / pair,
        "modelled_sht_pairs": cost_in_sht_pairs(config),
        "input_analysis_s": analysis,
        "passes": passes,
        "synthesis_floor_sht_pairs": (analysis + sum(p["n_W"] * p["synthesis_s"] for p in passes)) / pair if passes else None,
        "floor_sht_pairs": (analysis + sum(p["n_W"] * p["synthesis_s"] + p["quadratures_s"] for p in passes)) / pair if passes else None,
        "resampled_floor_sht_pairs": (analysis + sum(p["n_W"] * (p["legendre_synthesis_s"] + p["ring_fft_synthesis_s"])
                                                     + p["resampled_quadratures_s"] for p in passes)) / pair if passes else None,
        "peak_memory_over_input": mem["bytes"] / sky.nbytes,
        "input_map_mb": sky.nbytes / 2**20,
        "equivariance": {f"{kind} {depth}": statistics.median(e[kind, depth] for e in errors) for kind, depth in errors[0]},
    }


def synthesis_floor(st: ScatteringTransform, alm: np.ndarray, nthreads: int, repeats: int) -> list[dict]:
    """Per grid pass of the plan: how many wavelet coefficients W it synthesises, on which grid, the
    time of one such synthesis, and the time of the pass's quadratures (one per output: each |W| to
    its L_out, each odd channel to L0). The sums, with the input analysis, are what an
    implementation that synthesises each W once and integrates each output once with ducc0's
    transforms on these Gauss-Legendre grids pays, before its pointwise work (``resampled_floor``:
    the floor when the Legendre work moves to fewer rings)."""
    rows = []
    for grid_pass in st.plan.passes:
        signal = truncate(alm, st.config.L, grid_pass.L_wavelet)
        values = ring_grid_synthesis(signal, grid_pass.L_wavelet, *grid_pass.grid, nthreads=nthreads)
        seconds = best_time(lambda: ring_grid_synthesis(signal, grid_pass.L_wavelet, *grid_pass.grid, nthreads=nthreads), repeats)
        outputs = [st.plan.nodes[i].L_out for i in grid_pass.nodes] + [st.config.L0] * len(grid_pass.odd_channels)
        quadrature = {L_out: best_time(lambda: ring_grid_analysis(values, L_out, nthreads=nthreads), repeats) for L_out in set(outputs)}
        rows.append({"scale": grid_pass.scale, "L_wavelet": grid_pass.L_wavelet, "grid": list(grid_pass.grid),
                     "n_W": len(grid_pass.nodes), "synthesis_s": seconds, "outputs_L": outputs,
                     "quadratures_s": sum(quadrature[L_out] for L_out in outputs)})
    return rows


def _ring_geometry(ntheta: int, nphi: int) -> dict:
    return {"nphi": np.full(ntheta, nphi, dtype=np.uint64), "phi0": np.zeros(ntheta),
            "ringstart": np.arange(ntheta, dtype=np.uint64) * nphi}


def _fejer_thetas(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) * np.pi / n


def resampled_floor(grid_pass, outputs: list[int], st: ScatteringTransform, alm: np.ndarray, nthreads: int, repeats: int) -> dict:
    """The floor of any transform that samples each W on this pass's grid with ducc0 but does its
    Legendre work on the fewest rings a sampling theorem allows (e.g. Legendre on L_j equiangular
    rings, then FFT interpolation in theta): per W, a Legendre synthesis on L_j rings
    (``alm2leg``) and the ring FFTs of the fine grid (``leg2map``); per output (bandlimits
    `outputs`), the ring FFTs of the fine grid (``map2leg``) and a Legendre quadrature on L_out
    rings (``leg2alm``). The theta
    interpolation and the pointwise work are not counted, so no such transform is faster."""
    L_j, (ntheta, nphi) = grid_pass.L_wavelet, grid_pass.grid
    geometry = _ring_geometry(ntheta, nphi)
    signal = truncate(alm, st.config.L, L_j)[None]
    coarse = ducc0.sht.experimental.alm2leg(alm=signal, lmax=L_j - 1, theta=_fejer_thetas(L_j), nthreads=nthreads)
    legendre = best_time(lambda: ducc0.sht.experimental.alm2leg(alm=signal, lmax=L_j - 1, theta=_fejer_thetas(L_j), nthreads=nthreads), repeats)
    fine = np.zeros((1, ntheta, L_j), dtype=np.complex128)
    fine[:, : min(ntheta, L_j)] = coarse[:, : min(ntheta, L_j)]  # any values: the FFTs' cost does not depend on them
    values = ducc0.sht.experimental.leg2map(leg=fine, nthreads=nthreads, **geometry)
    ffts = best_time(lambda: ducc0.sht.experimental.leg2map(leg=fine, nthreads=nthreads, **geometry), repeats)
    quadrature = {}
    for L_out in set(outputs):
        leg = np.ascontiguousarray(ducc0.sht.experimental.map2leg(map=values, mmax=L_out - 1, nthreads=nthreads, **geometry)[:, :L_out])
        quadrature[L_out] = best_time(lambda: ducc0.sht.experimental.map2leg(map=values, mmax=L_out - 1, nthreads=nthreads, **geometry), repeats)
        quadrature[L_out] += best_time(lambda: ducc0.sht.experimental.leg2alm(
            leg=leg, lmax=L_out - 1, theta=_fejer_thetas(L_out), nthreads=nthreads), repeats)
    return {"legendre_synthesis_s": legendre, "ring_fft_synthesis_s": ffts,
            "resampled_quadratures_s": sum(quadrature[L_out] for L_out in outputs)}


def print_floor(row: dict) -> None:
    pair = row["sht_pair_s"]
    print(f"\nWhere the floor is at L = {row['L']} (float64): one synthesis per W and one quadrature per output "
          "on each pass's grid, in SHT pairs")
    print(f"{'scale':>5} {'L_j':>5} {'grid':>11} {'W':>3} {'one synthesis':>13} {'all W':>6} {'outputs':>7} {'quadratures':>11}")
    for p in row["passes"]:
        print(f"{p['scale']:>5} {p['L_wavelet']:>5} {p['grid'][0]:>5}x{p['grid'][1]:<5} {p['n_W']:>3} {p['synthesis_s'] / pair:>13.2f} "
              f"{p['n_W'] * p['synthesis_s'] / pair:>6.2f} {len(p['outputs_L']):>7} {p['quadratures_s'] / pair:>11.2f}")
    print(f"input analysis {row['input_analysis_s'] / pair:.2f}; syntheses alone {row['synthesis_floor_sht_pairs']:.2f}; "
          f"with the quadratures {row['floor_sht_pairs']:.2f} SHT pairs; the whole transform {row['ratio']:.2f}")
    print("Floor of a transform with its Legendre work on the fewest rings (resampled_floor), per pass in SHT pairs:")
    print(f"{'scale':>5} {'Legendre per W':>14} {'ring FFTs per W':>15} {'quadratures':>11}")
    for p in row["passes"]:
        print(f"{p['scale']:>5} {p['legendre_synthesis_s'] / pair:>14.2f} {p['ring_fft_synthesis_s'] / pair:>15.2f} "
              f"{p['resampled_quadratures_s'] / pair:>11.2f}")
    print(f"whole floor with the input analysis: {row['resampled_floor_sht_pairs']:.2f} SHT pairs")


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'L':>6} {'prec':>7} {'os':>5} {'paths':>5} {'SHT pair s':>10} {'scatter s':>10} {'ratio':>6} {'model':>6} {'mem/map':>8} "
          f"{'eq d1':>9} {'eq d2':>9} {'vs f64 d2':>9}")
    for r in rows:
        e = r["equivariance"]
        versus = f"{r['versus_float64']['modulus 2']:>9.2e}" if r["versus_float64"] else f"{'-':>9}"
        print(
            f"{r['L']:>6} {r['precision']:>7} {r['oversampling']:>5.2f} {r['n_paths']:>5} {r['sht_pair_s']:>10.4f} {r['scattering_s']:>10.4f} "
            f"{r['ratio']:>6.2f} {r['modelled_sht_pairs']:>6.2f} {r['peak_memory_over_input']:>8.2f} {e['modulus 1']:>9.2e} {e['modulus 2']:>9.2e} {versus}"
        )


@click.command()
@click.option("--L", "Ls", type=int, multiple=True, default=(256, 512, 1024, 2048), show_default=True)
@click.option("--sweep-L", "sweep_L", type=int, default=1024, show_default=True, help="L of the oversampling sweep (0: none)")
@click.option("--oversampling", "sweep", type=float, multiple=True, default=(1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0))
@click.option("--nthreads", type=int, default=1, show_default=True)
@click.option("--precision", "precisions", type=click.Choice(PRECISIONS), multiple=True, default=("float64", "float32"), show_default=True)
@click.option("--quick", is_flag=True, help="one repeat, one rotation")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=RESULTS, show_default=True,
              help="JSON file of the results (give another for a partial run, so the committed one stays whole)")
def main(Ls, sweep_L, sweep, nthreads, precisions, quick, out):
    repeats, n_rot = (1, 1) if quick else (3, 3)
    default = ScatteringConfig(L=1024)
    scaling = [
        measure_in_fresh_process(ScatteringConfig(L=L, J0=default.J0, precision=p), repeats if L < 2048 else 1, n_rot if L < 2048 else 1, nthreads, L)
        for L in Ls for p in precisions
    ]
    print_table(f"Depth-2 scattering, default config (lam 2, J0 {default.J0}, oversampling {default.oversampling}, odd "
                f"{','.join(default.odd)}), {nthreads} thread(s); 'vs f64 d2': float32 against float64, depth-2 modulus", scaling)
    for row in scaling:
        if row["passes"]:
            print_floor(row)
    rows = [measure_in_fresh_process(ScatteringConfig(L=sweep_L, oversampling=o), repeats, n_rot, nthreads, 1) for o in sweep] if sweep_L else []
    if rows:
        print_table(f"Oversampling sweep at L = {sweep_L}: equivariance error vs cost", rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"nthreads": nthreads, "default_config": default.to_dict(), "scaling": scaling, "oversampling_sweep": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
