"""Checkpoints: learned weights, normalisation buffers and configuration only (no pickled code).

A checkpoint is a dict of plain types and tensors, loadable with ``torch.load(weights_only=True)``:
    {"format": "sphere-scatter-model", "version": 1, "dtype": "float32" | "float64",
     "model_config": {...}, "train_config": {...}, "cache": {"config_hash": ..., ...},
     "state_dict": {...}}.
Fixed harmonic tables are non-persistent buffers and are rebuilt from the model config.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from downstream.nn.models import ModelConfig, build_model
from pipeline.errors import InputError

FORMAT = "sphere-scatter-model"
VERSION = 1


def save_checkpoint(path: str | Path, model: nn.Module, *, train_config: dict, cache: dict) -> Path:
    """Write the model's state (on CPU) with its configuration and the cache it was trained on."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    torch.save(
        {"format": FORMAT, "version": VERSION, "dtype": dtype, "model_config": model.config.to_dict(),
         "train_config": train_config, "cache": cache, "state_dict": state},
        path,
    )
    return Path(path)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode on `device`, in the dtype it was trained in; the checkpoint's other
    entries). Safe to call on untrusted files: weights_only=True."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"no checkpoint at {str(path)!r}; expected a file written by scatter-train") from None
    except Exception as err:  # torch raises several unrelated types for a corrupt or foreign file
        raise InputError(f"cannot read checkpoint {str(path)!r}: expected a file written by scatter-train ({type(err).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise InputError(f"{str(path)!r} is not a {FORMAT} checkpoint of version {VERSION}")
    if data.get("dtype") not in ("float32", "float64"):
        raise InputError(f"checkpoint {str(path)!r} has dtype {data.get('dtype')!r}; expected float32 or float64")
    model = build_model(ModelConfig.from_dict(data["model_config"])).to(getattr(torch, data["dtype"]))
    model.load_state_dict(data["state_dict"])
    info = {k: v for k, v in data.items() if k != "state_dict"}
    return model.to(device).eval(), info
