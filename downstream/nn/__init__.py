"""Small rotation-equivariant spherical networks on bandlimit-L0 harmonic signals (Cobb et al.,
ICLR 2021): layers, invariants, normalisation, the models, and their measured equivariance."""

from downstream.nn.models import InvariantMLP, ModelConfig, SphericalCNN, build_model

__all__ = ["InvariantMLP", "ModelConfig", "SphericalCNN", "build_model"]
