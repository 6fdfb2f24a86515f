"""The spherical-digits dataset on disk: upright and randomly rotated 360-degree PNG images of
scikit-learn's handwritten digits (docs/digits-experiment.md section 2).

The digits (``sklearn.datasets.load_digits``: 1797 8 x 8 images, UCI optical recognition of
handwritten digits, ten classes) ship inside scikit-learn, so the dataset is made offline and the
same everywhere. Digit i (its index in that array) gets the rotation drawn by
``random_rotation(default_rng(SeedSequence(seed).spawn(1797)[i]))``, so a subset of digits has
the same rotations as the whole set. Split: stratified by class, seeded (scikit-learn's
``train_test_split``), 60 % train, 20 % val, 20 % test, the same for a digit's upright and
rotated image, so no test digit is ever trained on in any orientation.

Files, in ``<root>/<config.name>/``: ``upright/digit_NNNN.png`` and ``rotated/digit_NNNN.png``
(8-bit greyscale, L x 2L, cell-centred equirectangular, ink 16 -> 255), ``manifest.csv`` (columns
path, label, split, digit, orientation, psi, theta, phi: the ZYZ Euler angles of the rotated
copy) and ``provenance.json``, written last: a directory whose provenance matches the config is
reused as it is (with the caches made from it), any other one is emptied and written anew, so no
cache of older images survives beside new ones.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.digits.projection import digit_alm, equirectangular, to_8bit
from pipeline.errors import InputError
from pipeline.io.atomic import write_csv_atomic
from pipeline.sphere.rotations import random_rotation

N_DIGITS = 1797
ORIENTATIONS = ("upright", "rotated")
MANIFEST_COLUMNS = ("path", "label", "split", "digit", "orientation", "psi", "theta", "phi")
SPLIT_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
METHOD_VERSION = 1
"""Bumped whenever the projection or the files change, so that older directories are rewritten."""


@dataclass(frozen=True)
class DigitsDatasetConfig:
    """Bandlimit L (images L x 2L), number of digits (None: all 1797, else the first n of a seeded
    stratified subset), the patch half-width in degrees, and the root seed."""

    L: int = 64
    n_digits: int | None = None
    half_width_deg: float = 40.0
    seed: int = 2018

    def __post_init__(self) -> None:
        if not isinstance(self.L, int) or not 8 <= self.L <= 512:
            raise InputError(f"L must be an integer in [8, 512], got {self.L!r}")
        if self.n_digits is not None and not (isinstance(self.n_digits, int) and 50 <= self.n_digits <= N_DIGITS):
            raise InputError(f"n_digits must be an integer in [50, {N_DIGITS}] or None (all), got {self.n_digits!r}")
        if not 5.0 <= self.half_width_deg <= 80.0:
            raise InputError(f"half_width_deg must be in [5, 80] degrees, got {self.half_width_deg!r}")
        if self.n_digits == N_DIGITS:
            object.__setattr__(self, "n_digits", None)  # all digits: one name, one directory

    @property
    def name(self) -> str:
        return f"digits_L{self.L}_w{self.half_width_deg:g}_n{self.n_digits or N_DIGITS}_seed{self.seed}"


def rotation_of(digit: int, seed: int) -> tuple[float, float, float]:
    """The recorded Haar-random rotation (ZYZ Euler angles) of digit `digit`."""
    child = np.random.SeedSequence(seed).spawn(N_DIGITS)[digit]
    return random_rotation(np.random.default_rng(child))


def plan_digits(config: DigitsDatasetConfig, labels: np.ndarray) -> dict[int, str]:
    """{digit index: split} of the dataset's digits (stratified, seeded)."""
    from sklearn.model_selection import train_test_split

    digits = np.arange(len(labels))
    if config.n_digits is not None and config.n_digits < len(labels):
        digits, _ = train_test_split(digits, train_size=config.n_digits, stratify=labels, random_state=config.seed)
    train, rest = train_test_split(digits, train_size=SPLIT_FRACTIONS["train"], stratify=labels[digits], random_state=config.seed)
    val, test = train_test_split(rest, train_size=0.5, stratify=labels[rest], random_state=config.seed)
    return {int(d): split for split, part in (("train", train), ("val", val), ("test", test)) for d in sorted(part)}


def _provenance(config: DigitsDatasetConfig) -> dict:
    import PIL
    import sklearn

    return {"config": asdict(config), "method_version": METHOD_VERSION, "source": "sklearn.datasets.load_digits",
            "scikit_learn": sklearn.__version__, "pillow": PIL.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def generate_digits(config: DigitsDatasetConfig, root: str | Path, progress: bool = True) -> Path:
    """Write (or reuse) the dataset's images and manifest; returns the manifest's path."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from tqdm.auto import tqdm

    directory = Path(root) / config.name
    manifest, record = directory / "manifest.csv", directory / "provenance.json"
    expected = _provenance(config)
    if record.is_file():
        saved = json.loads(record.read_text())
        if {k: saved.get(k) for k in ("config", "method_version")} == {k: expected[k] for k in ("config", "method_version")}:
            return manifest
    if directory.exists():
        shutil.rmtree(directory)  # images of another recipe, or a write that was interrupted, and any cache made from them
    for orientation in ORIENTATIONS:
        (directory / orientation).mkdir(parents=True, exist_ok=True)
    data = load_digits()
    start = time.perf_counter()
    rows = []
    for digit, split in tqdm(sorted(plan_digits(config, data.target).items()), desc="digit images", disable=not progress):
        alm = digit_alm(data.images[digit], config.L, config.half_width_deg)
        angles = rotation_of(digit, config.seed)
        for orientation, rotation in zip(ORIENTATIONS, (None, angles)):
            path = f"{orientation}/digit_{digit:04d}.png"
            Image.fromarray(to_8bit(equirectangular(alm, config.L, rotation))).save(directory / path)
            rows.append((path, int(data.target[digit]), split, digit, orientation, *(f"{a!r}" for a in angles)))
    write_csv_atomic(manifest, MANIFEST_COLUMNS, rows)
    record.write_text(json.dumps(expected | {"seconds": time.perf_counter() - start,
                                             "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))
    return manifest


def angles_from_row(row: dict) -> tuple[float, float, float]:
    """The rotation recorded in a manifest row (or a cache's map metadata)."""
    return tuple(float(row[k]) for k in ("psi", "theta", "phi"))

