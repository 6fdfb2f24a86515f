"""Click commands ``train`` and ``evaluate`` (console scripts scatter-train / scatter-evaluate).

A thin shell over :func:`downstream.train.training.train` and :func:`downstream.train.training.evaluate`:
options (or a JSON config file, which options override) become a :class:`TrainConfig`; user
mistakes (:class:`pipeline.errors.InputError`) end as a one-line message and exit status 2.
"""

from __future__ import annotations

import json

import click

from downstream.data.index import SPLITS
from downstream.nn.models import MODEL_KINDS
from downstream.nn.s2_grid import ACTIVATIONS
from downstream.train.config import DEVICES, DTYPES, TrainConfig
from downstream.train.training import evaluate as evaluate_run
from downstream.train.training import train as train_run
from pipeline.errors import user_errors


def _number_list(kind):
    def parse(ctx, param, value):
        if value is None:
            return None
        try:
            return [kind(v) for v in value.split(",")]
        except ValueError:
            raise click.BadParameter(f"expected comma-separated {kind.__name__} values, got {value!r}") from None

    return parse


def _string_list(ctx, param, value):
    return None if value is None else [v.strip() for v in value.split(",")]


@click.command("train")
@click.argument("cache")
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory (checkpoint, metrics, figures).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="JSON file of training options; command-line options override it.")
@click.option("--model", type=click.Choice(MODEL_KINDS), help="Classifier [cnn].")
@click.option("--max-depth", type=int, help="Use only scattering paths of at most this depth; 0 = the low-passed map alone [all].")
@click.option("--kinds", callback=_string_list, help="Use only cache channels of these kinds, e.g. modulus [all].")
@click.option("--fields", callback=_string_list, help="Use only cache channels from these fields, e.g. T or E,B,Q+iU [all].")
@click.option("--channels", callback=_number_list(int), help="Channels per equivariant block, e.g. 16,16.")
@click.option("--bandlimits", callback=_number_list(int), help="Output bandlimit per block [halving].")
@click.option("--oversampling", type=float, help="Grid bandlimit / signal bandlimit of each nonlinearity [2].")
@click.option("--activation", type=click.Choice(sorted(ACTIVATIONS)), help="Pointwise nonlinearity [relu].")
@click.option("--hidden", type=int, help="Width of the classifier head [32].")
@click.option("--input-means/--no-input-means", default=None, help="The CNN's head also reads the input channels' means [no].")
@click.option("--head-norm/--no-head-norm", default=None, help="Batch-normalise the invariants fed to the head [no].")
@click.option("--epochs", type=int, help="Maximum number of epochs [30].")
@click.option("--batch-size", type=int, help="Training batch size [32].")
@click.option("--lr", type=float, help="AdamW learning rate [3e-3].")
@click.option("--weight-decay", type=float, help="AdamW weight decay [1e-4].")
@click.option("--patience", type=int, help="Early stopping: epochs without a lower validation loss [5].")
@click.option("--restarts", type=int, help="Further initialisations tried while a run predicts one class for every validation map [0].")
@click.option("--seed", type=int, help="Seed of initialisation, shuffling and augmentation [0].")
@click.option("--split-seed", type=int, help="Seed of the split when the cache stores none [0].")
@click.option("--fractions", callback=_number_list(float), help="train,val,test fractions when the cache stores no split [0.7,0.15,0.15].")
@click.option("--augment/--no-augment", default=None, help="Randomly rotate every training item [no].")
@click.option("--in-memory/--no-in-memory", default=None, help="Read the splits into memory once [no].")
@click.option("--num-workers", type=int, help="DataLoader worker processes [0].")
@click.option("--threads", type=int, help="torch CPU threads, 0 = torch's default [1].")
@click.option("--device", type=click.Choice(DEVICES), help="auto = CUDA when present [auto].")
@click.option("--dtype", type=click.Choice(sorted(DTYPES)), help="Floating-point precision [float32].")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar per epoch.")
@user_errors
def train(cache, out_dir, config_file, progress, **options):
    """Train a rotation-equivariant classifier on the scattering cache CACHE."""
    config = TrainConfig.load(config_file, **options)
    result = train_run(cache, config, out_dir, progress=progress)
    summary = {split: round(result.metrics[split]["accuracy"], 4) for split in ("val", "test") if split in result.metrics}
    click.echo(f"{config.model}: accuracy {json.dumps(summary)}, best epoch {result.metrics['best_epoch']}; wrote {out_dir}")


@click.command("evaluate")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("cache")
@click.option("--split", type=click.Choice(SPLITS + ("all",)), default="test", show_default=True, help="Which maps of CACHE.")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), help="Write metrics_<split>.json and confusion_<split>.png here.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True, help="torch CPU threads, 0 = torch's default.")
@user_errors
def evaluate(checkpoint, cache, split, out_dir, batch_size, num_workers, device, threads):
    """Evaluate the model in CHECKPOINT on one split of the scattering cache CACHE."""
    metrics = evaluate_run(checkpoint, cache, split, out_dir=out_dir, batch_size=batch_size, num_workers=num_workers,
                           device=device, threads=threads)
    click.echo(json.dumps({k: metrics[k] for k in ("split", "n", "accuracy", "loss", "confusion")}))
