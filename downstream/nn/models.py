"""Small classifiers on bandlimit-L0 multi-channel spherical signals (scattering caches or maps).

Both models take real-layout coefficients (B, P, L0**2) for any number of channels P and any L0,
start with the :class:`HarmonicNormalization` fitted on the training split, and end with a small
fully connected head on rotation invariants, following the generalized spherical CNN of
Cobb et al. (ICLR 2021, arXiv:2010.11661) as used after the scattering layer by McEwen, Wallis &
Mavor-Parker (ICLR 2022, arXiv:2102.02828).

- :class:`InvariantMLP`: the head alone, on the invariants of the input paths (exactly invariant).
- :class:`SphericalCNN`: equivariant blocks (:class:`HarmonicLinear` then :class:`S2Activation`),
  then invariant pooling and the head (approximately invariant: see :mod:`downstream.nn.s2_grid`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from downstream.nn.harmonic_linear import HarmonicLinear
from downstream.nn.invariants import RotationInvariants
from downstream.nn.normalization import HarmonicNormalization
from downstream.nn.s2_grid import ACTIVATIONS, S2Activation

MODEL_KINDS = ("cnn", "invariant_mlp")


def default_bandlimits(L0: int, n_blocks: int) -> tuple[int, ...]:
    """Output bandlimit of each block: halved per block (rounded up), at least 1."""
    out, L = [], L0
    for _ in range(n_blocks):
        L = max(1, math.ceil(L / 2))
        out.append(L)
    return tuple(out)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a classifier; stored in checkpoints (plain JSON types via `to_dict`).

    kind: "cnn" or "invariant_mlp". n_paths, L0: input channels and bandlimit. channels: output
    channels of each equivariant block (cnn). bandlimits: output bandlimit of each block (default
    halving). oversampling, activation: of each :class:`S2Activation`. hidden: width of the head.
    masked_pooling: the invariants are taken over a region (the valid region of a masked cache,
    set after construction, or each item's own passed with it; :class:`RotationInvariants`).
    regions_per_item: each item's region comes with it (a cache with per-map masks): the model
    refuses to run without them.
    input_means: the CNN's head also reads the mean of every normalised input channel (its degree-0
    fragment, exactly invariant), as Clebsch-Gordan nets read the degree-0 fragment of every layer
    (Kondor, Lin & Trivedi, NeurIPS 2018, arXiv:1806.09231): the channel means then reach the head
    linearly instead of through every block. Full sky only: on a masked cache the means would
    include the contaminated sky.
    head_norm: the head starts with batch normalisation of its invariants (Ioffe & Szegedy, ICML 2015,
    arXiv:1502.03167): a per-feature affine map, so still invariant; without it the CNN's
    uncentred log power spectra can silence every hidden unit of the head in the first steps.
    Checkpoints written without input_means or head_norm load with them False.
    """

    kind: str
    n_paths: int
    L0: int
    n_classes: int
    channels: tuple[int, ...] = (16, 16)
    bandlimits: tuple[int, ...] | None = None
    oversampling: float = 2.0
    activation: str = "relu"
    hidden: int = 32
    masked_pooling: bool = False
    regions_per_item: bool = False
    input_means: bool = False
    head_norm: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.bandlimits is None:
            object.__setattr__(self, "bandlimits", default_bandlimits(self.L0, len(self.channels)))
        object.__setattr__(self, "bandlimits", tuple(int(b) for b in self.bandlimits))
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if min(self.n_paths, self.L0, self.hidden, *self.channels) < 1 or self.n_classes < 2:
            raise ValueError(f"sizes must be positive and n_classes >= 2: {self}")
        if self.input_means and self.kind != "cnn":
            raise ValueError("input_means applies to the cnn only (the invariant MLP reads every input invariant)")
        if self.input_means and self.masked_pooling:
            raise ValueError("input_means needs a full-sky cache: the whole-sphere means of a masked cache's channels include the contaminated sky")
        if self.kind == "cnn" and not self.channels:
            raise ValueError("the cnn needs at least one block (channels must not be empty)")
        if len(self.bandlimits) != len(self.channels) or any(
            not 1 <= b <= a for a, b in zip((self.L0,) + self.bandlimits, self.bandlimits)
        ):
            raise ValueError(f"bandlimits must be non-increasing from L0 = {self.L0}, one per block: {self.bandlimits}")
        if self.activation not in ACTIVATIONS or self.oversampling < 1:
            raise ValueError(f"activation in {sorted(ACTIVATIONS)} and oversampling >= 1 required: {self}")

    @property
    def pooled_bandlimit(self) -> int:
        """Bandlimit of the signals whose invariants feed the head: the inputs (MLP) or the last feature maps (CNN)."""
        return self.L0 if self.kind == "invariant_mlp" else self.bandlimits[-1]

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**({"input_means": False, "head_norm": False} | data))


def _head(n_in: int, config: ModelConfig) -> nn.Sequential:
    norm = [nn.BatchNorm1d(n_in)] if config.head_norm else []
    return nn.Sequential(*norm, nn.Linear(n_in, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.n_classes))


class InvariantMLP(nn.Module):
    """MLP on per-path rotation invariants (means and log power spectra) computed inside the model
    from the normalised real-layout coefficients, so it is exactly rotation invariant."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.normalize = HarmonicNormalization(config.n_paths, config.L0)
        self.invariants = RotationInvariants(config.pooled_bandlimit, masked=config.masked_pooling, channels=config.n_paths,
                                             per_item=config.regions_per_item)
        self.head = _head(self.invariants.n_features(config.n_paths), config)

    def forward(self, x: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n_classes); `region`: each item's region to pool over (masked pooling, :class:`RotationInvariants`)."""
        return self.head(self.invariants(self.normalize(x), region))

    def extra_repr(self) -> str:
        return f"n_paths={self.config.n_paths}, L0={self.config.L0}, n_classes={self.config.n_classes}"


class SphericalCNN(nn.Module):
    """Generalized spherical CNN: normalisation, then per block an exactly equivariant
    :class:`HarmonicLinear` (at the block's input bandlimit) and an approximately equivariant
    :class:`S2Activation` (to the block's output bandlimit), then :class:`RotationInvariants` of the
    last feature map (with `input_means`, also the input channels' means) and an MLP head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.normalize = HarmonicNormalization(config.n_paths, config.L0)
        c_in, L_in = (config.n_paths,) + config.channels[:-1], (config.L0,) + config.bandlimits[:-1]
        self.linears = nn.ModuleList(HarmonicLinear(c, o, L) for c, o, L in zip(c_in, config.channels, L_in))
        self.activations = nn.ModuleList(
            S2Activation(L, L_out, config.oversampling, config.activation) for L, L_out in zip(L_in, config.bandlimits)
        )
        self.invariants = RotationInvariants(config.pooled_bandlimit, masked=config.masked_pooling, per_item=config.regions_per_item)
        n_skip = config.n_paths if config.input_means else 0
        self.head = _head(self.invariants.n_features(config.channels[-1]) + n_skip, config)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The equivariant feature maps (B, C_i, L_i**2) after each block."""
        return self._blocks(self.normalize(x))

    def _blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for linear, activation in zip(self.linears, self.activations):
            x = activation(linear(x))
            maps.append(x)
        return maps

    def pooled(self, x: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
        """The rotation invariants fed to the head (B, n_features), over each item's `region` if given
        (the input means, with `input_means`, are over the whole sphere)."""
        x = self.normalize(x)
        pooled = self.invariants(self._blocks(x)[-1], region)
        if not self.config.input_means:
            return pooled
        return torch.cat([pooled, x[..., 0] / math.sqrt(4.0 * math.pi)], dim=-1)

    def forward(self, x: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.pooled(x, region))

    def extra_repr(self) -> str:
        c = self.config
        return f"n_paths={c.n_paths}, L0={c.L0}, channels={c.channels}, bandlimits={c.bandlimits}, n_classes={c.n_classes}"


def build_model(config: ModelConfig) -> nn.Module:
    """The model that `config.kind` names."""
    return {"cnn": SphericalCNN, "invariant_mlp": InvariantMLP}[config.kind](config)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
