"""Masked against full-sky scattering (docs/masks.md section 5): inside each channel's valid region
the two agree, outside they do not; valid fractions; equivariance with the mask rotated together
with the map.

CMB-like maps (the Planck 2018 TT spectrum of ``pipeline.cmb.spectra``, bandlimit L, on the
Gauss-Legendre grid), a Galactic cut |b| < 20 deg plus 100 point-source holes of radius
`hole_deg` at directions drawn from a recorded seed, apodised with C1 of 2 deg. For each channel
kind and depth: the valid sky fraction, and ||S(f_m) - S(f)|| / ||S(f)|| over the valid region
and over the rest (S evaluated on the validity grid; for the depth-0 channel the map's mean over
the observed sky, which the masked map has removed, is taken from the full-sky one too). Then the
same map and mask rotated by a Haar-random rotation (map exactly, mask by its geometry):
||S(R f, R m) - R S(f, m)|| / ||S(f, m)|| inside the valid regions.
Prints a table and writes benchmarks/results/bench_masks.json.

    python benchmarks/bench_masks.py                  # L = 256 and 1024, 3 maps
    python benchmarks/bench_masks.py --L 128 --maps 1
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.cmb.spectra import load_cl  # noqa: E402
from pipeline.io.mask_files import MaskOptions  # noqa: E402
from pipeline.run.masked import masked_map, masked_sky  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.scattering.transform import ScatteringTransform  # noqa: E402
from pipeline.sphere.alm import real_to_complex  # noqa: E402
from pipeline.sphere.grids import RingGrid  # noqa: E402
from pipeline.sphere.harmonic import alm_to_map, ring_grid_synthesis  # noqa: E402
from pipeline.sphere.masks import galactic_cut_and_holes, pixel_directions, random_directions  # noqa: E402
from pipeline.sphere.rotations import random_rotation, rotate_alm, rotate_real  # noqa: E402
from pipeline.testing import random_alm  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_masks.json"


def zyz_matrix(angles) -> np.ndarray:
    """The rotation matrix of ZYZ Euler angles (psi, theta, phi) as ducc0's rotate_alm applies them."""
    psi, theta, phi = angles

    def rz(a):
        return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])

    ry = np.array([[math.cos(theta), 0, math.sin(theta)], [0, 1, 0], [-math.sin(theta), 0, math.cos(theta)]])
    return rz(phi) @ ry @ rz(psi)


def on_grid(coefficients: np.ndarray, L0: int, shape: tuple[int, int]) -> np.ndarray:
    return np.stack([ring_grid_synthesis(real_to_complex(c, L0), L0, *shape) for c in coefficients])


def measure(L: int, n_maps: int, hole_deg: float, rng, folder: Path) -> dict:
    grid = RingGrid.for_bandlimit("gl", L)
    directions = pixel_directions(grid)
    holes = random_directions(rng, 100)
    config = ScatteringConfig(L=L)
    st = ScatteringTransform(config)
    cl = np.asarray(load_cl()[:L], dtype=np.float64)
    angles = random_rotation(rng)

    def sky_of(mask: np.ndarray, name: str):
        np.save(folder / f"{name}.npy", mask.reshape(grid.shape))
        (folder / f"{name}.json").write_text(json.dumps({"grid": "gl"}))
        return masked_sky(MaskOptions.for_file(folder / f"{name}.npy"), config)

    sky = sky_of(galactic_cut_and_holes(directions, holes, 20.0, hole_deg), f"mask{L}")
    sky_rotated = sky_of(galactic_cut_and_holes(directions, holes, 20.0, hole_deg, zyz_matrix(angles)), f"mask{L}r")
    shape = sky.valid.shape[1:]
    groups = [(k, len(p)) for k, p in zip(st.plan.kinds, st.paths)]
    rows: dict[str, dict[str, list[float]]] = {}
    for _ in range(n_maps):
        alm = random_alm(rng, L, cl)
        f = alm_to_map(alm, grid, L)
        full = st.from_map(f, grid).coefficients
        masked = st.from_map(masked_map(f, grid, sky), grid, sky_fraction=sky.w2).coefficients
        f_rotated = alm_to_map(rotate_alm(alm, L, angles), grid, L)
        masked_rotated = st.from_map(masked_map(f_rotated, grid, sky_rotated), grid, sky_fraction=sky_rotated.w2).coefficients
        a, b = on_grid(full, config.L0, shape), on_grid(masked, config.L0, shape)
        a[0] -= np.mean(a[0][sky.valid[0]]) - np.mean(b[0][sky.valid[0]])  # the removed mean (depth 0 only)
        c, d = on_grid(masked_rotated, config.L0, shape), on_grid(rotate_real(masked, config.L0, angles), config.L0, shape)
        for key in sorted(set(groups)):
            sel = [i for i, g in enumerate(groups) if g == key]
            inside, outside = sky.valid[sel], ~sky.valid[sel]
            both = sky_rotated.valid[sel]
            row = rows.setdefault(f"{key[0]} {key[1]}", {"inside": [], "outside": [], "rotated": []})
            row["inside"].append(float(np.linalg.norm((b[sel] - a[sel])[inside]) / np.linalg.norm(a[sel][inside])) if inside.any() else math.nan)
            row["outside"].append(float(np.linalg.norm((b[sel] - a[sel])[outside]) / np.linalg.norm(a[sel][outside])))
            row["rotated"].append(float(np.linalg.norm((c[sel] - d[sel])[both]) / np.linalg.norm(d[sel][both])) if both.any() else math.nan)
    fractions = {f"{k} {d}": float(np.mean([f for f, g in zip(sky.valid_fractions, groups) if g == (k, d)])) for k, d in set(groups)}
    return {"observed_fraction": sky.observed_fraction, "w2": sky.w2,
            "channels": {key: {"valid_fraction": fractions[key], **{k: statistics.median(v) for k, v in row.items()}}
                         for key, row in rows.items()}}


@click.command()
@click.option("--L", "Ls", type=int, multiple=True, default=(256, 1024), show_default=True)
@click.option("--maps", "n_maps", type=int, default=3, show_default=True)
@click.option("--hole-deg", type=float, default=0.5, show_default=True, help="Radius of the point-source holes.")
def main(Ls, n_maps, hole_deg):
    rng = np.random.default_rng(2019)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for L in Ls:
            results[str(L)] = r = measure(L, n_maps, hole_deg, rng, Path(tmp))
            print(f"\nL = {L}: Galactic cut |b| < 20 deg + 100 holes of {hole_deg:g} deg, C1 2 deg; observed {100 * r['observed_fraction']:.1f} %; "
                  f"median over {n_maps} maps")
            print(f"{'channels':>18} {'valid %':>8} {'inside':>10} {'outside':>10} {'rotated':>10}")
            for key, row in r["channels"].items():
                print(f"{key:>18} {100 * row['valid_fraction']:>8.1f} {row['inside']:>10.2e} {row['outside']:>10.2e} {row['rotated']:>10.2e}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"maps": n_maps, "hole_deg": hole_deg, "results": results}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
