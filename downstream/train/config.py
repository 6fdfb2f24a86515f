"""Training configuration: frozen, validated on construction, readable from a JSON file.

Everything that decides a training run (architecture, optimisation, split, seeds, device) is one
:class:`TrainConfig`; checkpoints and metrics store it as plain JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from downstream.nn.models import MODEL_KINDS, ModelConfig
from downstream.nn.s2_grid import ACTIVATIONS
from pipeline.errors import InputError
from pipeline.scattering.plan import KINDS as CHANNEL_KINDS

DEVICES = ("auto", "cpu", "cuda")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class TrainConfig:
    """Options of a training run (field defaults in brackets in the ``train`` command's help).

    model: "cnn" (:class:`SphericalCNN`) or "invariant_mlp" (:class:`InvariantMLP`).
    max_depth: use only the scattering paths of at most this depth as input channels (None: all;
        0: the zeroth-order path alone, the input map low-passed to L0, i.e. a conventional
        low-resolution spherical CNN baseline).
    kinds: use only the cache channels of these kinds (None: all; ["modulus"]: modulus
        scattering alone, without the sign-aware channels; cache_format.md).
    fields: use only the cache channels from these fields (``path_fields``, e.g. ["T"] or
        ["E", "B", "Q+iU"]; None: all).
    channels, bandlimits, oversampling, activation, hidden, input_means, head_norm: see :class:`ModelConfig`.
    epochs, patience: at most `epochs`; stop after `patience` epochs without a lower validation
        loss, keeping the best epoch's weights.
    restarts: at most this many further initialisations, tried while every run so far collapsed
        (predicted one class for every validation map; ``downstream.train.fitting``).
    fractions, split_seed: train/val/test fractions of the seeded, stratified split used when the
        cache stores no split. seed: initialisation, shuffling and augmentation.
    augment: rotate every training item by a random rotation.
    in_memory: read each split into RAM once (for small caches; lazy reads otherwise).
    threads: torch CPU threads during the run (0: torch's setting). Default 1: these models run
        many small kernels; on a shared 2-core machine two OpenMP threads were measured 7x slower
        than one (benchmarks/bench_training.py), on an idle one ~1.6x faster.
    device: "auto" (CUDA when present), "cpu" or "cuda". dtype: "float32" or "float64".
    """

    model: str = "cnn"
    max_depth: int | None = None
    kinds: tuple[str, ...] | None = None
    fields: tuple[str, ...] | None = None
    channels: tuple[int, ...] = (16, 16)
    bandlimits: tuple[int, ...] | None = None
    oversampling: float = 2.0
    activation: str = "relu"
    hidden: int = 32
    input_means: bool = False
    head_norm: bool = False
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 5
    restarts: int = 0
    seed: int = 0
    split_seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    augment: bool = False
    in_memory: bool = False
    num_workers: int = 0
    threads: int = 1
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("channels", "fractions", "bandlimits", "kinds", "fields"):
            value = getattr(self, name)
            if value is None and name in ("bandlimits", "kinds", "fields"):
                continue
            if not isinstance(value, (list, tuple)):
                raise InputError(f"{name} must be a list, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        if self.kinds is not None and (not self.kinds or not set(self.kinds) <= set(CHANNEL_KINDS)):
            raise InputError(f"kinds must be a non-empty subset of {list(CHANNEL_KINDS)} or null, got {list(self.kinds)}")
        if self.fields is not None and not (self.fields and all(isinstance(f, str) for f in self.fields)):
            raise InputError(f"fields must be a non-empty list of field labels or null, got {list(self.fields)}")
        if self.model not in MODEL_KINDS:
            raise InputError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.activation not in ACTIVATIONS:
            raise InputError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.device not in DEVICES:
            raise InputError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        for name in ("epochs", "batch_size", "hidden", "patience"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.head_norm and self.batch_size < 2:
            raise InputError(f"head_norm (batch normalisation of the head's inputs) needs batch_size >= 2, got {self.batch_size}")
        if self.max_depth is not None and (not isinstance(self.max_depth, int) or self.max_depth < 0):
            raise InputError(f"max_depth must be an integer >= 0 or null, got {self.max_depth!r}")
        for name in ("num_workers", "threads", "restarts", "seed", "split_seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise InputError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if not (self.lr >= 0 and self.weight_decay >= 0 and self.oversampling >= 1):
            raise InputError(f"need lr >= 0, weight_decay >= 0, oversampling >= 1; got {self.lr}, {self.weight_decay}, {self.oversampling}")
        if len(self.fractions) != 3 or min(self.fractions) < 0 or abs(sum(self.fractions) - 1) > 1e-9:
            raise InputError(f"fractions must be three non-negative numbers summing to 1, got {list(self.fractions)}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def input_channels(self, index) -> np.ndarray:
        """Indices of the cache channels (of a ``CacheIndex``) this run trains on."""
        if self.fields is not None and not set(self.fields) <= set(index.fields):
            raise InputError(f"cache {index.path!r} has no channels of field(s) {sorted(set(self.fields) - set(index.fields))}: "
                             f"its fields are {sorted(set(index.fields))}")
        selected = index.select(self.max_depth, self.kinds, self.fields)
        if len(selected) == 0:
            raise InputError(f"cache {index.path!r} has no channels of kinds {self.kinds}, fields {self.fields} and depth <= {self.max_depth}")
        return selected

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise InputError(f"unknown training option(s) {unknown}; expected some of {sorted(f.name for f in fields(cls))}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides) -> TrainConfig:
        """Options from a JSON object file (if given), then `overrides` (None values ignored)."""
        data = {}
        if path is not None:
            try:
                data = json.loads(Path(path).read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise InputError(f"cannot read training config {str(path)!r}: expected a JSON object file ({err})") from None
            if not isinstance(data, dict):
                raise InputError(f"training config {str(path)!r} must hold a JSON object")
        return cls.from_dict({**data, **{k: v for k, v in overrides.items() if v is not None}})

    def at_input_bandlimit(self, L0: int) -> TrainConfig:
        """The same run with every CNN block kept at the input bandlimit L0 instead of the default
        halving (which leaves 2-4 at L0 = 8-16: docs/digits-experiment.md section 3)."""
        return replace(self, bandlimits=(L0,) * len(self.channels)) if self.model == "cnn" else self

    def model_config(self, n_paths: int, L0: int, n_classes: int, masked: bool = False, per_item: bool = False) -> ModelConfig:
        """The architecture for inputs of n_paths channels at bandlimit L0; `masked`: the cache is
        masked, and the invariants are pooled over the channels' valid region (docs/masks.md section 4);
        `per_item`: each map brings its own region (per-map masks)."""
        if masked and self.augment:
            raise InputError("rotation augmentation would rotate the mask with the map: it is refused for masked caches")
        try:
            return ModelConfig(self.model, n_paths, L0, n_classes, self.channels, self.bandlimits,
                               self.oversampling, self.activation, self.hidden, masked_pooling=masked,
                               regions_per_item=per_item, input_means=self.input_means,
                               head_norm=self.head_norm)
        except ValueError as err:
            raise InputError(str(err)) from None



def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA when present, else CPU; "cuda" without a GPU is an InputError."""
    if name not in DEVICES:
        raise InputError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but no CUDA GPU is available; use --device auto or cpu")
    return torch.device(name)
