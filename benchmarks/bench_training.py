"""Downstream training throughput on a scattering-sized cache: is data loading the bottleneck?

Writes a synthetic cache (default 1600 maps, 22 paths, L0 = 32, the format of cache_format.md,
with tests/synthetic_cache.py), then measures
  - data loading alone (samples/s): per-item reads, batched reads (one call per batch of chunks),
    the same through DataLoader with 0 and 2 workers, and the in-memory option;
  - training compute alone (samples/s, forward + backward + AdamW step on batches in memory);
  - wall time of one full training epoch through `downstream.train.training.train` (train split, then
    validation) for each model, reading lazily with 0 or 2 DataLoader workers, or in memory.
Prints tables and writes benchmarks/results/bench_training.json.

    python benchmarks/bench_training.py            # 1600 maps, P = 22, L0 = 32
    python benchmarks/bench_training.py --quick    # 200 maps, smoke run
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from downstream.data.dataset import make_loader, open_split  # noqa: E402
from downstream.nn.models import build_model, n_parameters  # noqa: E402
from downstream.train.config import TrainConfig  # noqa: E402
from downstream.train.training import train  # noqa: E402
from tests.synthetic_cache import random_coefficients, write_cache  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_training.json"
BATCH = 32


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def loading(cache: str, n_items: int) -> list[dict]:
    """Samples/s of each way of reading the training split's coefficients."""
    dataset = open_split(cache, "all")
    n = min(n_items, len(dataset))
    rows = []
    seconds = timed(lambda: [dataset[i] for i in range(n)])
    rows.append({"mode": "per item (__getitem__)", "samples_per_s": rate(n, seconds)})
    seconds = timed(lambda: [dataset.__getitems__(list(range(s, min(s + BATCH, n)))) for s in range(0, n, BATCH)])
    rows.append({"mode": f"batched (__getitems__, {BATCH} chunks per call)", "samples_per_s": rate(n, seconds)})
    for workers in (0, 2):
        loader = make_loader(dataset, BATCH, shuffle=True, num_workers=workers)
        [len(y) for _, y in loader]  # first pass starts the (persistent) workers; time the second
        seconds = timed(lambda: [len(y) for _, y in loader])
        rows.append({"mode": f"DataLoader, shuffled, num_workers={workers}", "samples_per_s": rate(len(dataset), seconds)})
    start = time.perf_counter()
    memory = open_split(cache, "all", in_memory=True)
    load_s = time.perf_counter() - start
    seconds = timed(lambda: [len(y) for _, y in make_loader(memory, BATCH, shuffle=True)])
    rows.append({"mode": f"in memory (after a {load_s:.1f} s read)", "samples_per_s": rate(len(memory), seconds)})
    return rows


def compute(model_kind: str, n_paths: int, L0: int, threads: int, steps: int) -> dict:
    """Samples/s of forward + backward + optimiser step on a random batch already in memory
    (best of 3 repeats of `steps` steps: the least disturbed run on a shared machine)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(TrainConfig(model=model_kind).model_config(n_paths, L0, 2))
    optimizer = torch.optim.AdamW(model.parameters())
    x, y = torch.randn(BATCH, n_paths, L0 * L0), torch.randint(0, 2, (BATCH,))

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    best = min(timed(lambda: [step() for _ in range(steps)]) for _ in range(3))
    return {"parameters": n_parameters(model), "compute_samples_per_s": rate(steps * BATCH, best)}


def epoch(cache: str, model_kind: str, threads: int, **options) -> dict:
    """Wall time of a training epoch (then validation) through `train`, as a user runs it: the
    faster of epochs 2 and 3 (the first also starts the workers; a shared machine is noisy)."""
    config = TrainConfig(model=model_kind, epochs=3, patience=3, threads=threads, batch_size=BATCH, **options)
    metrics = train(cache, config, progress=False).metrics
    n = metrics["splits"]["train"] + metrics["splits"]["val"]
    seconds = min(row["seconds"] for row in metrics["history"][1:])
    return {"epoch_s": round(seconds, 2), "epoch_samples_per_s": rate(n, seconds)}


EPOCH_MODES = {
    "lazy, num_workers=0": {},
    "lazy, num_workers=2": {"num_workers": 2},
    "in memory": {"in_memory": True},
}


@click.command()
@click.option("--maps", default=1600, show_default=True)
@click.option("--paths", "n_paths", default=22, show_default=True)
@click.option("--L0", "L0", default=32, show_default=True)
@click.option("--quick", is_flag=True, help="200 maps, fewer steps (smoke run).")
def main(maps: int, n_paths: int, L0: int, quick: bool) -> None:
    maps = 200 if quick else maps
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "bench.zarr")
        write_s = timed(lambda: write_cache(cache, random_coefficients(maps, n_paths, L0, seed=0), np.arange(maps) % 2))
        load_rows = loading(cache, 200 if quick else 800)
        compute_rows = [{"model": kind, "threads": threads, **compute(kind, n_paths, L0, threads, 3 if quick else 10)}
                        for kind in ("cnn", "invariant_mlp") for threads in (1, 2)]
        epoch_rows = [{"model": kind, "threads": 1, "loading": mode, **epoch(cache, kind, 1, **options)}
                      for kind in ("cnn", "invariant_mlp") for mode, options in EPOCH_MODES.items()]
        split = train(cache, TrainConfig(model="invariant_mlp", epochs=1), progress=False).metrics["splits"]
    print(f"\nCache: {maps} maps x {n_paths} paths x L0 = {L0} ({maps * n_paths * L0 * L0 * 8 / 2**20:.0f} MiB float64), "
          f"written in {write_s:.1f} s; split {split}")
    print(f"\n{'data loading':<52} {'samples/s':>10}")
    for row in load_rows:
        print(f"{row['mode']:<52} {row['samples_per_s']:>10.0f}")
    print(f"\n{'training compute (batch in memory)':<36} {'threads':>7} {'params':>7} {'samples/s':>10}")
    for row in compute_rows:
        print(f"{row['model']:<36} {row['threads']:>7} {row['parameters']:>7} {row['compute_samples_per_s']:>10.0f}")
    print(f"\n{'one epoch (train + val), 1 thread':<36} {'loading':<22} {'seconds':>8} {'samples/s':>10}")
    for row in epoch_rows:
        print(f"{row['model']:<36} {row['loading']:<22} {row['epoch_s']:>8.2f} {row['epoch_samples_per_s']:>10.0f}")
    result = {"maps": maps, "paths": n_paths, "L0": L0, "batch_size": BATCH, "split": split, "write_s": round(write_s, 1),
              "loading": load_rows, "compute": compute_rows, "epoch": epoch_rows,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}}
    if not quick:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {RESULTS}")

if __name__ == "__main__":
    main()
