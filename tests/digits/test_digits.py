"""The spherical-digits images and the planar baseline (docs/digits-experiment.md): the patch's
orientation on the image, exact rotations, the recorded splits, and the sphere-rotation resampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from downstream.digits.planar import PlanarCNN, PlanarConfig, SphereRotationResampler
from pipeline.digits.dataset import DigitsDatasetConfig, generate_digits, plan_digits, rotation_of
from pipeline.digits.projection import digit_alm, equirectangular
from pipeline.io.readers import read_map
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import map_to_alm
from pipeline.sphere.rotations import rotate_alm
from pipeline.testing import relative_error

L = 32


def test_the_digit_is_upright_and_not_mirrored_at_the_image_centre():
    """Ink in the digit's top-left pixel lands north-west of the image centre (smaller row and column)."""
    ink = np.zeros((8, 8))
    ink[0, 0] = 16
    image = equirectangular(digit_alm(ink, L, 40.0), L)
    row, col = np.unravel_index(np.argmax(image), image.shape)
    assert row < L // 2 - 2 and L - 12 < col < L - 2  # the centre is (L/2, L); a 40-degree half-width patch
    centred = np.zeros((8, 8))
    centred[3:5, 3:5] = 16
    row, col = np.unravel_index(np.argmax(equirectangular(digit_alm(centred, L, 40.0), L)), (L, 2 * L))
    assert abs(row + 0.5 - L / 2) <= 1 and abs(col - L) <= 1


def test_a_rotated_image_is_the_exact_rotation_of_the_upright_function(rng):
    alm = digit_alm(rng.uniform(0, 16, size=(8, 8)), L, 40.0)
    angles = rotation_of(5, seed=3)
    rotated = equirectangular(alm, L, angles)
    assert relative_error(map_to_alm(rotated, RingGrid("f1", L, 2 * L), L).alm, rotate_alm(alm, L, angles)) < 1e-12
    assert rotation_of(5, seed=3) == angles and rotation_of(6, seed=3) != angles


def test_splits_are_stratified_and_a_subset_keeps_the_rotations(tmp_path):
    from sklearn.datasets import load_digits

    labels = load_digits().target
    plan = plan_digits(DigitsDatasetConfig(n_digits=200, seed=1), labels)
    assert len(plan) == 200
    counts = {s: sum(1 for v in plan.values() if v == s) for s in ("train", "val", "test")}
    assert counts == {"train": 120, "val": 40, "test": 40}
    test_labels = [labels[d] for d, s in plan.items() if s == "test"]
    assert set(test_labels) == set(range(10))  # stratified: every class in the test split
    manifest = generate_digits(DigitsDatasetConfig(L=16, n_digits=50, seed=1), tmp_path, progress=False)
    rows = manifest.read_text().splitlines()
    assert rows[0] == "path,label,split,digit,orientation,psi,theta,phi" and len(rows) == 101
    path, _, _, digit, orientation, *angles = rows[2].split(",")
    assert orientation == "rotated" and tuple(float(a) for a in angles) == rotation_of(int(digit), seed=1)
    data = read_map(manifest.parent / path)
    assert data.grid == RingGrid("f1", 16, 32) and Image.open(manifest.parent / path).mode == "L"
    assert generate_digits(DigitsDatasetConfig(L=16, n_digits=50, seed=1), tmp_path, progress=False) == manifest  # reused


def test_the_resampler_is_the_identity_for_no_rotation_and_an_exact_roll_about_the_pole():
    height = 16
    image = torch.rand(1, height, 2 * height, generator=torch.Generator().manual_seed(0))
    resampler = SphereRotationResampler(height)
    padded = torch.cat([image[..., -1:], image, image[..., :1]], dim=-1)[None]
    sample = lambda matrix: torch.nn.functional.grid_sample(padded, resampler.grid(matrix), align_corners=True)[0]
    assert torch.allclose(sample(np.eye(3)), image, atol=1e-5)
    step = 2 * math.pi * 3 / (2 * height)  # three pixels of longitude
    about_z = np.array([[math.cos(step), -math.sin(step), 0], [math.sin(step), math.cos(step), 0], [0, 0, 1]])
    assert torch.allclose(sample(about_z), torch.roll(image, 3, dims=-1), atol=1e-5)


def test_the_planar_cnn_refuses_a_height_its_pooling_cannot_divide():
    assert PlanarCNN(PlanarConfig(height=32, n_classes=10))(torch.zeros(2, 1, 32, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="image height 20 must be divisible by 8"):
        PlanarCNN(PlanarConfig(height=20, n_classes=10))
