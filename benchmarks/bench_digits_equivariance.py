"""Equivariance of the scattering on the spherical-digit images, by scattering bandlimit,
oversampling and image quantisation: the measurement behind the digits experiment's
configuration (docs/digits-experiment.md section 3).

For train digits only (never val or test), the digit's upright and recorded-rotation images (64 x
128, as in the experiment) are scattered and ||S(rotated) - R S(upright)|| / ||S(rotated)|| is
taken per channel kind and depth; the table gives the median over digits. "float" images are the
exact syntheses; "8-bit" ones are quantised as the PNG files are.
Prints a table and writes benchmarks/results/bench_digits_equivariance.json.

    python benchmarks/bench_digits_equivariance.py            # 12 train digits
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.digits.dataset import DigitsDatasetConfig, plan_digits, rotation_of  # noqa: E402
from pipeline.digits.projection import INK_MAX, digit_alm, equirectangular, to_8bit  # noqa: E402
from pipeline.scattering.config import ScatteringConfig  # noqa: E402
from pipeline.scattering.transform import ScatteringTransform  # noqa: E402
from pipeline.sphere.grids import RingGrid  # noqa: E402
from pipeline.sphere.rotations import rotate_real  # noqa: E402
from pipeline.testing import relative_error_by_channel  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_digits_equivariance.json"
SETTINGS = [(64, 4, 2.0), (64, 4, 4.0), (32, 3, 2.0), (32, 3, 4.0)]
"""(scattering L, J0, oversampling) compared."""


@click.command()
@click.option("--digits", "n_digits", default=12, show_default=True, help="Train digits measured.")
@click.option("--image-L", "image_L", default=64, show_default=True)
def main(n_digits: int, image_L: int) -> None:
    from sklearn.datasets import load_digits

    data = load_digits()
    dataset = DigitsDatasetConfig(L=image_L)
    train = [d for d, split in sorted(plan_digits(dataset, data.target).items()) if split == "train"][:n_digits]
    grid = RingGrid("f1", image_L, 2 * image_L)
    rows = []
    for L, J0, oversampling in SETTINGS:
        transform = ScatteringTransform(ScatteringConfig(L=L, J0=J0, oversampling=oversampling))
        for quantisation in ("float", "8-bit"):
            errors: dict[tuple[str, int], list[float]] = {}
            for digit in train:
                alm, angles = digit_alm(data.images[digit], image_L, dataset.half_width_deg), rotation_of(digit, dataset.seed)
                images = [equirectangular(alm, image_L, a) for a in (None, angles)]
                if quantisation == "8-bit":
                    images = [to_8bit(x) * (INK_MAX / 255.0) for x in images]
                upright, rotated = (transform.from_map(x, grid).coefficients for x in images)
                expected = rotate_real(upright, transform.config.L0, angles)
                for key, error in relative_error_by_channel(rotated, expected, transform.plan.kinds, transform.paths).items():
                    errors.setdefault(key, []).append(error)
            row = {"L": L, "J0": J0, "oversampling": oversampling, "images": quantisation,
                   "median": {f"{k} d{d}": float(np.median(e)) for (k, d), e in errors.items()}}
            rows.append(row)
            click.echo(f"L={L:3d} J0={J0} os={oversampling:g} {quantisation:6s} " +
                       "  ".join(f"{name} {value:.2e}" for name, value in row["median"].items()))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"image_L": image_L, "train_digits": train, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
