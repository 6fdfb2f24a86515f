"""Data augmentation for real-layout harmonic signals."""

from __future__ import annotations

import numpy as np
import torch

from downstream.nn.equivariance import rotate_tensor
from pipeline.sphere.rotations import random_rotation


class RandomRotation:
    """Rotate an item's coefficients (P, L**2) by one uniformly (Haar) random rotation, exactly in
    harmonic space (all paths of a map together). The rotation is seeded from torch's generator,
    which the DataLoader seeds per worker, so runs are reproducible."""

    def __init__(self, L: int):
        self.L = L

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        return rotate_tensor(x, self.L, random_rotation(rng))

    def __repr__(self) -> str:
        return f"RandomRotation(L={self.L})"
