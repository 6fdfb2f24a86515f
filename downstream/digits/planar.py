"""The non-equivariant baseline: an ordinary planar CNN (torch Conv2d) on the equirectangular
images themselves, with optional rotation augmentation on the sphere (docs/digits-experiment.md
section 3).

The augmentation resamples each training image as seen after a Haar-random rotation R of the
sphere: pixel direction v takes the image's value at R^T v, bilinearly interpolated
(``torch.nn.functional.grid_sample``; longitude wraps around, latitude clamps at the poles). It is
an interpolation, not the exact harmonic rotation the dataset's rotated copies were made with, so
it also teaches the CNN some blur; that is what a user of a planar CNN would do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation
from torch import nn
from torch.utils.data import Dataset


@dataclass(frozen=True)
class PlanarConfig:
    """Image height H (width 2H), classes, and the channels of the three conv blocks."""

    height: int
    n_classes: int
    channels: tuple[int, ...] = (16, 32, 64)
    hidden: int = 64


class PlanarCNN(nn.Module):
    """Conv(5x5) - ReLU - MaxPool(2) blocks, then a fully connected head on the flattened map: a
    LeNet-style classifier that sees the image as a plane (zero padding, no wrap-around)."""

    def __init__(self, config: PlanarConfig):
        super().__init__()
        if config.height % 2 ** len(config.channels):
            raise ValueError(f"image height {config.height} must be divisible by {2 ** len(config.channels)}")
        self.config = config
        blocks, c_in = [], 1
        for c_out in config.channels:
            blocks += [nn.Conv2d(c_in, c_out, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        shrink = 2 ** len(config.channels)
        flat = c_in * (config.height // shrink) * (2 * config.height // shrink)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SphereRotationResampler:
    """Resample an (1, H, 2H) cell-centred equirectangular image after a Haar-random rotation,
    drawn from torch's generator (seeded by the loader), so runs are reproducible."""

    def __init__(self, height: int):
        self.height, self.width = height, 2 * height
        theta = (torch.arange(height, dtype=torch.float64) + 0.5) * math.pi / height
        phi = 2 * math.pi * torch.arange(self.width, dtype=torch.float64) / self.width
        t, p = torch.meshgrid(theta, phi, indexing="ij")
        self.directions = torch.stack([t.sin() * p.cos(), t.sin() * p.sin(), t.cos()], dim=-1)  # (H, W, 3)

    def grid(self, matrix: np.ndarray) -> torch.Tensor:
        """grid_sample coordinates (1, H, W, 2) of the source pixel of each output pixel, for an image
        padded with one wrapped column on each side."""
        source = self.directions @ torch.as_tensor(matrix)  # rows: R^T v
        theta = torch.arccos(source[..., 2].clamp(-1, 1))
        phi = torch.remainder(torch.atan2(source[..., 1], source[..., 0]), 2 * math.pi)
        row = theta / math.pi * self.height - 0.5
        col = phi / (2 * math.pi) * self.width + 1.0
        x = col / (self.width + 1) * 2 - 1
        y = row / (self.height - 1) * 2 - 1
        return torch.stack([x, y], dim=-1)[None].float()

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        seed = int(torch.randint(0, 2**62, ()))
        matrix = Rotation.random(random_state=np.random.default_rng(seed)).as_matrix()
        padded = torch.cat([image[..., -1:], image, image[..., :1]], dim=-1)[None]
        return F.grid_sample(padded, self.grid(matrix), mode="bilinear", padding_mode="border", align_corners=True)[0]


class ImageDataset(Dataset):
    """Images (n, H, 2H) as float32 (1, H, 2H) tensors with their labels, optionally transformed."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None):
        self.images = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.images[i]
        return (self.transform(image) if self.transform else image), int(self.labels[i])
