"""The spherical-digits experiment's images: scikit-learn's handwritten digits projected on the
sphere, upright and rotated, as 360-degree PNG files (docs/digits-experiment.md)."""

from pipeline.digits.dataset import DigitsDatasetConfig, generate_digits

__all__ = ["DigitsDatasetConfig", "generate_digits"]
