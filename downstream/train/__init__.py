"""Training and evaluation on a cache: configuration, the loop, checkpoints (learned weights
only), figures, and the click commands behind scatter-train / scatter-evaluate."""

from downstream.train.config import TrainConfig
from downstream.train.training import evaluate, train

__all__ = ["TrainConfig", "evaluate", "train"]
