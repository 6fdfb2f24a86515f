"""Our transforms against the peers: s2wav / s2scat (JAX, CPU) and healpy, in one process.

Runs in the peers environment `.venv-peers` (never in `.venv`: JAX, s2fft, s2wav and s2scat are
benchmark-only; see benchmarks/peers-requirements.txt and `make bench-peers`). Three parts, all
on the same seeded maps:

1. Conventions: our axisymmetric filters (``pipeline.scattering.wavelets``) against s2wav's for the same
   (L, lam, J0), N = 1; s2wav evaluates k_lam with a 300-interval trapezoid rule, we with 200-node
   Gauss-Legendre, so the filters are also compared with s2wav's own k_lam made accurate by
   Richardson extrapolation of its trapezoid rule (600, 1200, 2400 intervals). Then wavelet
   coefficients: s2wav.analysis on a Gauss-Legendre map (its MW-style SO(3) normalisation puts a
   factor 1/sqrt(2 pi) on every wavelet coefficient, none on the scaling coefficients) against
   ours, with s2wav's default filters and with its Richardson-accurate ones; and s2scat's
   first-layer statistics P00 (exact: mean |W|^2) and S1 (mean |W|, a quadrature of a
   non-bandlimited |W|) against ours.
2. Speed at L = 128, 256 (one thread unless --threads): our wavelet transform (map -> wavelet and
   scaling maps, each at its own bandlimit on Gauss-Legendre grids, as s2wav's multiresolution
   analysis) against s2wav's JAX transforms; our depth-2 scattering (from harmonic coefficients,
   as s2scat takes them) against s2scat's JAX scattering covariances. Set-up (precomputed kernels),
   first call (JIT compilation) and steady-state time are reported apart; ratios are steady state.
   The C-backend (ssht) variants of s2wav / s2scat are timed too, as information (not JAX).
3. HEALPix analysis of a bandlimited map (L = 2 nside): our ``map_to_alm`` (ducc0 LSMR to a
   tolerance) against healpy ``map2alm`` with Jacobi iterations `iter`; accuracy is the relative
   error of the coefficients against the true ones; each of our tolerances is matched with the
   cheapest `iter` that reaches at least the same accuracy.

Prints ratio tables and writes benchmarks/results/bench_peers.json.

    .venv-peers/bin/python benchmarks/bench_peers.py             # L = 128, 256; nside 128, 512
    .venv-peers/bin/python benchmarks/bench_peers.py --L 64 --nside 64 --no-recursive   # smoke run
    .venv-peers/bin/python benchmarks/bench_peers.py --part speed --L 128   # rerun one part (others kept)
    .venv-peers/bin/python benchmarks/bench_peers.py --print-only   # the tables of the last run
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_scattering import best_time, white_alm  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.scattering.transform import ScatteringTransform  # noqa: E402
from pipeline.scattering.wavelets import filter_bank, k_lam, wavelet_analysis  # noqa: E402
from pipeline.sphere.alm import squared_norm  # noqa: E402
from pipeline.sphere.grids import HealpixGrid, RingGrid  # noqa: E402
from pipeline.sphere.harmonic import alm_to_map, map_to_alm  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_peers.json"
WAVELET_FACTOR = 1 / math.sqrt(2 * math.pi)
"""s2wav's wavelet coefficient of an N = 1 wavelet = ours times this (Wigner normalisation)."""
RICHARDSON_INTERVALS = (600, 1200, 2400)


def load_peers(threads: int):
    """Import the JAX peers with float64 and `threads` CPU threads (env set before the imports)."""
    os.environ["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} intra_op_parallelism_threads={threads}"
    os.environ["OMP_NUM_THREADS"] = str(threads)  # healpy
    import jax

    jax.config.update("jax_enable_x64", True)  # s2fft needs it for float64
    import healpy
    import s2fft
    import s2scat
    import s2wav

    return jax, s2fft, s2wav, s2scat, healpy


def relative(actual, expected) -> float:
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


# -- 1. conventions ----------------------------------------------------------------------------

def richardson_k_lam(s2wav, L: int, lam: float) -> np.ndarray:
    """s2wav's k_lam table (rows j = 0..J+1) with its trapezoid error O(h^2) + O(h^4) extrapolated away."""
    k1, k2, k4 = (s2wav.filters.k_lam(L, lam, quad_iters=n) for n in RICHARDSON_INTERVALS)
    r1, r2 = (4 * k2 - k1) / 3, (4 * k4 - k2) / 3
    return (16 * r2 - r1) / 15


@contextmanager
def s2wav_k_lam_replaced(s2wav, table: np.ndarray):
    """s2wav's own filter code (normalisation, directional factors) fed with another k_lam table."""
    original = s2wav.filters.k_lam
    s2wav.filters.k_lam = lambda L, lam=2.0, quad_iters=300: table
    try:
        yield
    finally:
        s2wav.filters.k_lam = original


def compare_filters(s2wav, L: int, lam: float, J0: int) -> dict:
    fb = filter_bank(L, lam, J0)
    J = fb.J
    l = np.arange(L)
    ours_k = np.stack([k_lam(l / lam**j, lam) for j in range(J + 2)])
    ours_kappa = np.stack(fb.wavelets)
    out = {"L": L, "lam": lam, "J0": J0, "J_ours": J, "J_s2wav": int(s2wav.samples.j_max(L, lam))}
    default = s2wav.filters.k_lam(L, lam)
    for name, table in (("default_300_trapezoid", default), ("richardson", richardson_k_lam(s2wav, L, lam))):
        with s2wav_k_lam_replaced(s2wav, table):
            kappa, eta = s2wav.filters.filters_axisym_vectorised(L, J0, lam)
        out[name] = {
            "k_max_abs": float(np.abs(table[: J + 2] - ours_k).max()),
            "kappa_max_abs": float(np.abs(kappa[J0 : J + 1] - ours_kappa).max()),
            "kappa_squared_max_abs": float(np.abs(kappa[J0 : J + 1] ** 2 - ours_kappa**2).max()),
            "eta_max_abs": float(np.abs(eta - fb.scaling).max()),
        }
    return out


def our_wavelet_maps(alm: np.ndarray, config: ScatteringConfig) -> tuple[np.ndarray, list[np.ndarray]]:
    """Scaling and wavelet coefficients as maps, each on the Gauss-Legendre grid of its bandlimit."""
    scaling, wavelets = wavelet_analysis(alm, config)
    scal_map = alm_to_map(scaling, RingGrid.for_bandlimit("gl", config.L0), config.L0)
    maps = [alm_to_map(W, RingGrid.for_bandlimit("gl", config.wavelet_bandlimit(j)), config.wavelet_bandlimit(j))
            for j, W in zip(range(config.J0, config.J + 1), wavelets)]
    return scal_map, maps


def our_wavelet_transform(sky: np.ndarray, config: ScatteringConfig) -> tuple[np.ndarray, list[np.ndarray]]:
    """The equivalent of s2wav.analysis (N = 1, multiresolution) on a Gauss-Legendre map."""
    return our_wavelet_maps(map_to_alm(sky, RingGrid.for_bandlimit("gl", config.L), config.L).alm, config)


def wavelet_difference(theirs, ours) -> dict:
    """Relative differences of s2wav's (f_wav, f_scal) against ours (scaling map, wavelet maps):
    the worst single scale, all wavelet scales together, and the scaling coefficients. A scale whose
    band barely overlaps l < L (e.g. j = J for lam = 3, L = 256) has kappa ~ 1e-6 everywhere, where
    kappa = sqrt(k(t/lam) - k(t)) is ill-conditioned in any implementation; the worst-scale number
    then measures that conditioning, the all-scales number the transform."""
    f_wav, f_scal = theirs
    scal, wav = ours
    theirs_all = np.concatenate([np.asarray(w)[0].ravel() for w in f_wav])
    ours_all = np.concatenate([WAVELET_FACTOR * o.ravel() for o in wav])
    return {
        "wavelets": max(relative(np.asarray(w)[0], WAVELET_FACTOR * o) for w, o in zip(f_wav, wav)),
        "wavelets_all_scales": relative(theirs_all, ours_all),
        "scaling": relative(f_scal, scal),
    }


def s2wav_filters(s2wav, L: int, lam: float, J0: int, table: np.ndarray | None = None):
    if table is None:
        return s2wav.filters.filters_directional_vectorised(L, 1, J0, lam)
    with s2wav_k_lam_replaced(s2wav, table):
        return s2wav.filters.filters_directional_vectorised(L, 1, J0, lam)


def first_layer_statistics(alm: np.ndarray, config: ScatteringConfig, st: ScatteringTransform) -> dict:
    """Our P00_j = mean |W_j|^2 (exact) and S1_j = mean |W_j| (depth-1 means), in s2wav's normalisation."""
    _, wavelets = wavelet_analysis(alm, config)
    p00 = [WAVELET_FACTOR**2 * squared_norm(W, config.wavelet_bandlimit(j)) / (4 * np.pi)
           for j, W in zip(range(config.J0, config.J + 1), wavelets)]
    means = st.from_alm(alm).means
    s1 = [WAVELET_FACTOR * means[st.paths.index((j,))] for j in range(config.J0, config.J + 1)]
    return {"P00": np.array(p00), "S1": np.array(s1)}


# -- 2. speed ------------------------------------------------------------------------------------

def timed(jax, setup, call, repeats: int) -> tuple[dict, object]:
    """Set-up time, first call (JIT compile + run), steady state (best of `repeats`) and the output."""
    start = time.perf_counter()
    state = setup()
    t_setup = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(call(state))
    t_first = time.perf_counter() - start
    steady = best_time(lambda: jax.block_until_ready(call(state)), repeats)
    return {"setup_s": t_setup, "first_call_s": t_first, "steady_s": steady, "startup_s": t_setup + t_first - steady}, out


def speed(peers, L: int, J0: int, repeats: int, recursive: bool, rng) -> dict:
    jax, s2fft, s2wav, s2scat, _ = peers
    lam = 2.0  # s2scat's wavelets are dyadic
    config = ScatteringConfig(L=L, lam=lam, J0=J0)
    alm = white_alm(rng, L)
    sky = alm_to_map(alm, RingGrid.for_bandlimit("gl", L), L)
    sky_jax = jax.numpy.asarray(sky)
    flm = s2fft.forward(sky, L, sampling="gl", reality=True, method="numpy")  # (L, 2L-1), m = -l..l
    flm_half, flm_full = jax.numpy.asarray(flm[:, L - 1 :]), jax.numpy.asarray(flm)

    wavelet, scattering = {}, {}
    wavelet["ours"], ours_wav = timed(jax, lambda: filter_bank(L, lam, J0), lambda _: our_wavelet_transform(sky, config), repeats)
    construct = s2wav.transforms.construct
    variants = {
        "s2wav JAX precompute": (lambda: construct.generate_full_precomputes(L, 1, J0, lam, "gl", None, False, True),
                                 s2wav.analysis_precomp_jax),
        "s2wav JAX recursive": (lambda: construct.generate_wigner_precomputes(L, 1, J0, lam, "gl", None, False, True),
                                s2wav.analysis),
        "s2wav C (ssht, not JAX)": (lambda: None, None),
    }
    for name, (make_precomps, analysis) in variants.items():
        if "recursive" in name and not recursive:
            continue
        setup = lambda make=make_precomps: (s2wav_filters(s2wav, L, lam, J0), make())  # noqa: E731
        if analysis is None:
            call = lambda s: s2wav.analysis_c(sky_jax, L, 1, J0, lam, sampling="gl", reality=True, filters=s[0])  # noqa: E731
        else:
            call = lambda s, fn=analysis: fn(sky_jax, L, 1, J0, lam, sampling="gl", reality=True, filters=s[0], precomps=s[1])  # noqa: E731
        wavelet[name], out = timed(jax, setup, call, repeats)
        wavelet[name]["difference_to_ours"] = wavelet_difference(out, ours_wav)

    ours_stats = {}
    for oversampling in (2.0, 1.0):
        st = ScatteringTransform(ScatteringConfig(L=L, lam=lam, J0=J0, oversampling=oversampling))
        scattering[f"ours (oversampling {oversampling:g})"], _ = timed(jax, lambda: None, lambda _: st.from_alm(alm), repeats)
        ours_stats[oversampling] = first_layer_statistics(alm, config, st)
    for name, rec in (("s2scat JAX precompute", False), ("s2scat JAX recursive", True), ("s2scat C (ssht, not JAX)", None)):
        if rec and not recursive:
            continue
        if rec is None:
            setup = lambda: s2scat.configure(L, 1, J0, reality=True, c_backend=True)  # noqa: E731
            call = lambda c: s2scat.scatter_c(flm_full, L, 1, J0, reality=False, config=c)  # noqa: E731
        else:
            setup = lambda r=rec: s2scat.configure(L, 1, J0, reality=True, recursive=r)  # noqa: E731
            call = lambda c, r=rec: s2scat.scatter(flm_half, L, 1, J0, reality=True, config=c, recursive=r)  # noqa: E731
        scattering[name], out = timed(jax, setup, call, repeats)
        _, _, S1, P00, _, _ = (np.asarray(x) for x in out)
        scattering[name]["P00_difference_to_ours"] = relative(P00, ours_stats[2.0]["P00"])
        scattering[name]["S1_difference_to_ours_os2"] = relative(S1, ours_stats[2.0]["S1"])
        scattering[name]["S1_difference_to_ours_os1"] = relative(S1, ours_stats[1.0]["S1"])
    for table, ours in ((wavelet, "ours"), (scattering, "ours (oversampling 2)")):
        for row in table.values():
            row["ratio_to_ours"] = row["steady_s"] / table[ours]["steady_s"]
    return {"L": L, "J0": J0, "lam": lam, "wavelet_transform": wavelet, "scattering": scattering}


def coefficient_check(peers, L: int, lam: float, J0: int, rng) -> dict:
    """s2wav.analysis (JAX) against ours, with s2wav's filters from its default k_lam, from its
    Richardson-accurate k_lam, and from our k_lam table (which isolates the transform itself)."""
    jax, _, s2wav, _, _ = peers
    config = ScatteringConfig(L=L, lam=lam, J0=J0)
    alm = white_alm(rng, L)
    sky = jax.numpy.asarray(alm_to_map(alm, RingGrid.for_bandlimit("gl", L), L))
    ours = our_wavelet_maps(alm, config)
    precomps = s2wav.transforms.construct.generate_wigner_precomputes(L, 1, J0, lam, "gl", None, False, True)
    l = np.arange(L)
    our_k = np.stack([k_lam(l / lam**j, lam) for j in range(int(s2wav.samples.j_max(L, lam)) + 2)])
    out = {"L": L, "lam": lam, "J0": J0}
    for name, table in (("default_300_trapezoid", None), ("richardson", richardson_k_lam(s2wav, L, lam)), ("our_k_lam", our_k)):
        filters = s2wav_filters(s2wav, L, lam, J0, table)
        theirs = s2wav.analysis(sky, L, 1, J0, lam, sampling="gl", reality=True, filters=filters, precomps=precomps)
        out[name] = wavelet_difference(theirs, ours)
    return out


# -- 3. HEALPix analysis -------------------------------------------------------------------------

def healpix(healpy, nside: int, epsilons: tuple[float, ...], max_iter: int, repeats: int, rng) -> dict:
    L = 2 * nside
    alm = white_alm(rng, L)
    sky = alm_to_map(alm, HealpixGrid(nside, "RING"), L)
    norm = math.sqrt(squared_norm(alm, L))

    def error(estimate) -> float:
        return math.sqrt(squared_norm(np.asarray(estimate) - alm, L)) / norm

    grid = HealpixGrid(nside, "RING")
    ours = []
    for eps in epsilons:
        result = map_to_alm(sky, grid, L, epsilon=eps)
        ours.append({"epsilon": eps, "iterations": result.iterations, "error": error(result.alm),
                     "seconds": best_time(lambda e=eps: map_to_alm(sky, grid, L, epsilon=e), repeats)})
    theirs = []
    for it in range(max_iter + 1):
        estimate = healpy.map2alm(sky, lmax=L - 1, mmax=L - 1, iter=it)
        theirs.append({"iter": it, "error": error(estimate),
                       "seconds": best_time(lambda i=it: healpy.map2alm(sky, lmax=L - 1, mmax=L - 1, iter=i), repeats)})
    for row in ours:
        match = next((h for h in theirs if h["error"] <= row["error"]), None)
        row["healpy_iter_matching"] = match and match["iter"]
        row["healpy_ratio"] = match and match["seconds"] / row["seconds"]
    return {"nside": nside, "L": L, "ours": ours, "healpy": theirs}


# -- report --------------------------------------------------------------------------------------

def print_report(results: dict) -> None:
    print("\nFilters vs s2wav (N = 1): max |difference|")
    print(f"{'L':>5} {'lam':>4} {'J0':>3} {'J':>5} {'k_lam s2wav':>12} {'kappa':>9} {'kappa^2':>9} {'eta':>9} | {'Richardson: k':>13} {'kappa':>9} {'kappa^2':>9} {'eta':>9}")
    for r in results["filters"]:
        d, h = r["default_300_trapezoid"], r["richardson"]
        print(f"{r['L']:>5} {r['lam']:>4g} {r['J0']:>3} {r['J_ours']:>2}/{r['J_s2wav']:<2} {d['k_max_abs']:>12.1e} {d['kappa_max_abs']:>9.1e} "
              f"{d['kappa_squared_max_abs']:>9.1e} {d['eta_max_abs']:>9.1e} | {h['k_max_abs']:>13.1e} {h['kappa_max_abs']:>9.1e} "
              f"{h['kappa_squared_max_abs']:>9.1e} {h['eta_max_abs']:>9.1e}")
    print("\nWavelet coefficients vs s2wav.analysis (ours x 1/sqrt(2 pi)), relative difference of all scales together"
          " / of the worst scale / of the scaling coefficients, with s2wav's filters built from three k_lam tables")
    print(f"{'L':>5} {'lam':>4} {'J0':>3}  {'s2wav default k_lam':>29}  {'s2wav k_lam, Richardson':>29}  {'our k_lam':>29}")
    for r in results["coefficients"]:
        cells = [f"{d['wavelets_all_scales']:.1e} / {d['wavelets']:.1e} / {d['scaling']:.1e}"
                 for d in (r["default_300_trapezoid"], r["richardson"], r["our_k_lam"])]
        print(f"{r['L']:>5} {r['lam']:>4g} {r['J0']:>3}  " + "  ".join(f"{c:>29}" for c in cells))
    for s in results["speed"]:
        print(f"\nL = {s['L']}, J0 = {s['J0']}, {results['threads']} thread(s): seconds; ratio = peer steady / ours steady")
        print(f"{'':34} {'set-up':>8} {'1st call':>9} {'steady':>9} {'ratio':>7}  agreement with ours")
        for part, table in (("wavelet transform", s["wavelet_transform"]), ("scattering", s["scattering"])):
            print(f"  {part}")
            for name, r in table.items():
                if "difference_to_ours" in r:
                    agree = f"W {r['difference_to_ours']['wavelets']:.1e}, scaling {r['difference_to_ours']['scaling']:.1e}"
                elif "P00_difference_to_ours" in r:
                    agree = f"P00 {r['P00_difference_to_ours']:.1e}, S1 {r['S1_difference_to_ours_os1']:.1e} (os 1) {r['S1_difference_to_ours_os2']:.1e} (os 2)"
                else:
                    agree = ""
                print(f"    {name:30} {r['setup_s']:>8.2f} {r['first_call_s']:>9.2f} {r['steady_s']:>9.4f} {r['ratio_to_ours']:>7.1f}  {agree}")
    for h in results["healpix"]:
        print(f"\nHEALPix analysis, nside {h['nside']}, L = {h['L']}, {results['threads']} thread(s)")
        print("  ours (ducc0 LSMR):  " + "; ".join(f"eps {r['epsilon']:.0e}: err {r['error']:.1e}, {r['seconds']:.3f} s, "
                                                  f"healpy iter {r['healpy_iter_matching']} is {r['healpy_ratio'] or float('nan'):.1f}x slower" for r in h["ours"]))
        print("  healpy map2alm:     " + "; ".join(f"iter {r['iter']}: err {r['error']:.1e}, {r['seconds']:.3f} s" for r in h["healpy"]))


PARTS = ("conventions", "speed", "healpix")


def _replace(rows: list[dict], row: dict, key: str) -> None:
    """Put `row` in place of the row with the same `key` (a rerun of one L or nside), else append."""
    rows[:] = [r for r in rows if r[key] != row[key]] + [row]
    rows.sort(key=lambda r: r[key])


@click.command()
@click.option("--L", "Ls", type=int, multiple=True, default=(128, 256), show_default=True)
@click.option("--J0", "J0", type=int, default=3, show_default=True, help="Lowest wavelet scale (s2scat's J_min).")
@click.option("--nside", "nsides", type=int, multiple=True, default=(128, 512), show_default=True)
@click.option("--part", "parts", type=click.Choice(PARTS), multiple=True, default=PARTS, show_default=True,
              help="Parts to run; the others are kept from the existing JSON.")
@click.option("--threads", type=int, default=1, show_default=True, help="CPU threads for JAX and healpy (ours: 1).")
@click.option("--repeats", type=int, default=5, show_default=True)
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Also time the JAX recursive (low-memory) variants.")
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--print-only", is_flag=True, help="Print the tables of the last run's JSON; measure nothing.")
def main(Ls, J0, nsides, parts, threads, repeats, recursive, seed, print_only):
    if print_only:
        print_report(json.loads(RESULTS.read_text()))
        return
    peers = load_peers(threads)
    _, _, s2wav, _, healpy = peers
    versions = {name: _dist_version(name) for name in ("jax", "jaxlib", "s2fft", "s2wav", "s2scat", "healpy", "ducc0", "numpy")}
    empty = {"filters": [], "coefficients": [], "speed": [], "healpix": []}
    results = empty | (json.loads(RESULTS.read_text()) if RESULTS.exists() and set(parts) != set(PARTS) else {})
    results |= {"threads": threads, "versions": versions}

    def save(done: str) -> None:  # after every part: a long run keeps what it measured
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, default=float))
        print(f"{done} (saved to {RESULTS})", flush=True)

    if "conventions" in parts:
        rng = np.random.default_rng((seed, 0))
        results["filters"] = [compare_filters(s2wav, L, lam, J0) for L in Ls for lam in (2.0, 3.0)]
        results["coefficients"] = [coefficient_check(peers, L, lam, J0, rng) for L in Ls for lam in (2.0, 3.0)]
        save("conventions checked")
    if "speed" in parts:
        for L in Ls:
            _replace(results["speed"], speed(peers, L, J0, repeats, recursive, np.random.default_rng((seed, 1, L))), "L")
            save(f"timed L = {L}")
    if "healpix" in parts:
        for nside in nsides:
            row = healpix(healpy, nside, (1e-4, 1e-6, 1e-8), 8, min(repeats, 3), np.random.default_rng((seed, 2, nside)))
            _replace(results["healpix"], row, "nside")
            save(f"HEALPix nside {nside} done")
    print_report(results)


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
