"""Training on synthetic caches: learning where only higher-order statistics differ, a model that
cannot learn failing the same bar, reproducibility, checkpoints, evaluation and the commands."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from downstream.data.dataset import make_loader, open_split
from downstream.train.checkpoint import load_checkpoint
from downstream.train.commands import evaluate as evaluate_command
from downstream.train.commands import train as train_command
from downstream.train.config import TrainConfig
from downstream.train.training import evaluate, predict, train
from pipeline.errors import InputError
from pipeline.sphere.rotations import random_rotation
from tests.synthetic_cache import random_coefficients, rotated, sparse_vs_gaussian, write_cache

L0 = 8
BAR = 0.85  # test accuracy the CNN must reach on sparse vs Gaussian maps
LEARNING = dict(model="cnn", channels=(8,), epochs=25, lr=1e-2, patience=8, augment=True, in_memory=True, threads=1)


@pytest.fixture(scope="module")
def sparse_cache(tmp_path_factory):
    """400 maps, 2 paths, L0 = 8; identical mean and power spectrum in every map and path."""
    x, y = sparse_vs_gaussian(200, 2, L0, seed=0, n_spikes=3)
    return str(write_cache(tmp_path_factory.mktemp("sparse") / "sparse.zarr", x, y))


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    x = random_coefficients(40, 3, 4, seed=2)
    labels = np.arange(40) % 2
    x[labels == 1, :, 1:4] *= 1.5  # a class difference in l = 1 power
    return str(write_cache(tmp_path_factory.mktemp("small") / "small.zarr", x, labels))


@pytest.fixture(scope="module")
def small_run(small_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(channels=(4,), epochs=3, batch_size=8, threads=1, augment=True)
    return train(small_cache, config, out, progress=False)


def test_cnn_learns_a_higher_order_statistic_that_spectra_cannot_see(sparse_cache, tmp_path):
    """Measured: test accuracy 0.967 (60 test maps; val 0.967); on rotated test maps 0.967."""
    result = train(sparse_cache, TrainConfig(**LEARNING), tmp_path, progress=False)
    assert result.metrics["test"]["accuracy"] >= BAR, result.metrics["test"]
    x, y = sparse_vs_gaussian(200, 2, L0, seed=0, n_spikes=3)
    rng = np.random.default_rng(5)
    spun = write_cache(tmp_path / "rotated.zarr", np.stack([rotated(m, L0, random_rotation(rng)) for m in x]), y)
    assert evaluate(tmp_path / "checkpoint.pt", str(spun), "test")["accuracy"] >= BAR


def test_a_model_that_cannot_learn_fails_the_same_bar(sparse_cache):
    """Measured: 0.45 with learning disabled (lr = 0); 0.5 for the invariant MLP, whose inputs
    (means and power spectra) are the same for every map."""
    frozen = train(sparse_cache, TrainConfig(**{**LEARNING, "lr": 0.0}), progress=False)
    assert frozen.metrics["test"]["accuracy"] < BAR - 0.2, frozen.metrics["test"]
    spectra = train(sparse_cache, TrainConfig(**{**LEARNING, "model": "invariant_mlp"}), progress=False)
    assert spectra.metrics["test"]["accuracy"] < BAR - 0.2, spectra.metrics["test"]


def test_training_is_reproducible(small_cache, small_run):
    again = train(small_cache, TrainConfig.from_dict(small_run.metrics["config"]), progress=False)
    assert [h["train_loss"] for h in again.metrics["history"]] == [h["train_loss"] for h in small_run.metrics["history"]]
    for key, value in small_run.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[key], value, atol=0, rtol=0)


def test_checkpoint_round_trip(small_cache, small_run):
    path = small_run.out_dir / "checkpoint.pt"
    raw = torch.load(path, weights_only=True)
    assert set(raw["state_dict"]) == set(small_run.model.state_dict())
    assert not any("legendre" in k or "fourier" in k for k in raw["state_dict"])  # tables are rebuilt
    assert {"normalize.offset", "normalize.scale"} <= set(raw["state_dict"])
    model, info = load_checkpoint(path)
    assert info["train_config"] == small_run.metrics["config"]
    loader = make_loader(open_split(small_cache, "all"), 16, shuffle=False)
    expected, _ = predict(small_run.model, loader, torch.device("cpu"))
    actual, _ = predict(model, loader, torch.device("cpu"))
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)


def test_outputs_and_evaluation(small_cache, small_run):
    out = small_run.out_dir
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["splits"] == {"train": 28, "val": 6, "test": 6}
    assert metrics["epochs_run"] == len(metrics["history"]) == 3
    assert sum(map(sum, metrics["test"]["confusion"])) == 6
    for figure in ("learning_curves.png", "confusion.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = evaluate(out / "checkpoint.pt", small_cache, "test", out_dir=out)
    assert again["accuracy"] == metrics["test"]["accuracy"] and again["confusion"] == metrics["test"]["confusion"]
    assert json.loads((out / "metrics_test.json").read_text())["n"] == 6


def test_training_on_the_zeroth_order_path_alone(small_cache, tmp_path):
    """max_depth = 0: the map low-passed to L0 alone, as a low-resolution baseline."""
    result = train(small_cache, TrainConfig(max_depth=0, channels=(4,), epochs=1), tmp_path, progress=False)
    assert result.model.config.n_paths == 1 and result.model.normalize.scale.shape == (1, 4)
    assert evaluate(tmp_path / "checkpoint.pt", small_cache)["n"] == result.metrics["test"]["n"]


def test_training_on_a_subset_of_maps_and_kinds(small_cache):
    """maps: every split restricted to those indices; kinds: channels of those kinds only (a
    synthetic cache is all "modulus"); the test predictions name their maps."""
    subset = np.arange(0, 40, 2)[:-2].tolist() + np.arange(1, 40, 2)[:10].tolist()
    result = train(small_cache, TrainConfig(channels=(4,), epochs=1, kinds=("modulus",)), progress=False, maps=np.array(subset))
    assert sum(result.metrics["splits"].values()) == len(subset)
    maps, predicted = result.predictions["test"]
    assert set(maps) <= set(subset) and len(maps) == len(predicted) == result.metrics["test"]["n"]
    with pytest.raises(InputError, match=r"has no channels of kinds \('cross',\), fields None and depth <= None"):
        train(small_cache, TrainConfig(channels=(4,), epochs=1, kinds=("cross",)), progress=False)


def test_evaluate_refuses_a_cache_of_another_shape(small_run, tmp_path):
    other = write_cache(tmp_path / "other.zarr", random_coefficients(10, 2, 4, seed=0), np.arange(10) % 2)
    with pytest.raises(InputError, match="does not match the checkpoint's training cache"):
        evaluate(small_run.out_dir / "checkpoint.pt", str(other))


def test_commands(small_cache, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"channels": [4], "epochs": 5, "threads": 1}))
    runner = CliRunner()
    result = runner.invoke(train_command, [small_cache, "-o", str(tmp_path / "out"), "--config", str(config), "--epochs", "1", "--no-progress",
                                           "--head-norm", "--input-means", "--restarts", "1"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["epochs_run"] == 1  # option overrides file
    assert saved["model"]["head_norm"] and saved["model"]["input_means"] and saved["config"]["restarts"] == 1
    result = runner.invoke(evaluate_command, [str(tmp_path / "out" / "checkpoint.pt"), small_cache, "--split", "val"])
    assert result.exit_code == 0 and json.loads(result.output)["n"] == 6, result.output
    missing = runner.invoke(train_command, [str(tmp_path / "none.zarr"), "-o", str(tmp_path / "x")])
    assert missing.exit_code == 2 and missing.output.startswith("error: no scattering cache at")
    assert len(missing.output.strip().splitlines()) == 1
    config.write_text(json.dumps({"epoch": 3}))
    unknown = runner.invoke(train_command, [small_cache, "-o", str(tmp_path / "y"), "--config", str(config)])
    assert unknown.exit_code == 2 and "unknown training option(s) ['epoch']" in unknown.output


@pytest.mark.parametrize(
    "options, message",
    [
        ({"model": "resnet"}, "model must be one of"),
        ({"fractions": (0.5, 0.5)}, "fractions must be three"),
        ({"bandlimits": (8,), "channels": (4,)}, "bandlimits must be non-increasing from L0 = 4"),
        ({"kinds": ("phase",)}, r"kinds must be a non-empty subset of \['modulus', 'signed_square', 'cross'\] or null, got \['phase'\]"),
        ({"restarts": -1}, r"^restarts must be an integer >= 0, got -1$"),
        ({"seed": -1}, r"^seed must be an integer >= 0, got -1$"),
        ({"head_norm": True, "batch_size": "32"}, r"^batch_size must be a positive integer, got '32'$"),
        ({"head_norm": True, "batch_size": 1}, r"^head_norm \(batch normalisation of the head's inputs\) needs batch_size >= 2, got 1$"),
        ({"model": "invariant_mlp", "input_means": True}, r"^input_means applies to the cnn only \(the invariant MLP reads every input invariant\)$"),
    ],
)
def test_bad_training_options(small_cache, options, message):
    with pytest.raises(InputError, match=message):
        train(small_cache, TrainConfig(**options), progress=False)


def test_training_needs_validation_maps(small_cache):
    with pytest.raises(InputError, match="no done, labelled maps in the 'val' split"):
        train(small_cache, TrainConfig(fractions=(1.0, 0.0, 0.0)), progress=False)


def test_at_input_bandlimit_keeps_every_cnn_block_at_l0_and_leaves_the_mlp_alone():
    from downstream.train.config import TrainConfig

    assert TrainConfig(model="cnn", channels=(8, 8, 8)).at_input_bandlimit(16).bandlimits == (16, 16, 16)
    assert TrainConfig(model="cnn").at_input_bandlimit(16).model_config(3, 16, 2).bandlimits == (16, 16)
    assert TrainConfig(model="cnn").model_config(3, 16, 2).bandlimits == (8, 4)  # the default halves
    assert TrainConfig(model="invariant_mlp").at_input_bandlimit(16) == TrainConfig(model="invariant_mlp")


def test_checkpoints_written_before_input_means_load_without_them(small_run):
    from downstream.nn.models import ModelConfig

    data = small_run.model.config.to_dict()
    assert data.pop("input_means") is False and data.pop("head_norm") is False
    assert ModelConfig.from_dict(data) == small_run.model.config
    assert ModelConfig.from_dict(data | {"input_means": True, "head_norm": True}).head_norm


def test_input_means_are_refused_on_a_masked_cache():
    from downstream.nn.models import ModelConfig

    with pytest.raises(ValueError, match=r"^input_means needs a full-sky cache: the whole-sphere means of a masked cache's channels include the contaminated sky$"):
        ModelConfig("cnn", 3, 8, 2, masked_pooling=True, input_means=True)


@pytest.mark.parametrize("model", ["cnn", "invariant_mlp"])
def test_a_batch_normalised_head_trains_when_the_last_batch_would_hold_one_map(small_cache, model, tmp_path):
    """28 training maps in batches of 27: the lone map that batch normalisation cannot take is left
    out. The checkpoint brings back the head's running statistics and the input means."""
    config = TrainConfig(model=model, channels=(4,), epochs=2, batch_size=27, head_norm=True, input_means=model == "cnn", threads=1)
    result = train(small_cache, config, tmp_path, progress=False)
    assert isinstance(result.model.head[0], torch.nn.BatchNorm1d) and result.metrics["splits"]["train"] == 28
    assert result.model.head[0].num_batches_tracked == result.metrics["best_epoch"]  # one batch per epoch, best epoch kept
    model_back, _ = load_checkpoint(tmp_path / "checkpoint.pt")
    assert model_back.config == result.model.config and not model_back.training
    loader = make_loader(open_split(small_cache, "all"), 16, shuffle=False)
    expected, _ = predict(result.model, loader, torch.device("cpu"))
    torch.testing.assert_close(predict(model_back, loader, torch.device("cpu"))[0], expected, atol=0, rtol=0)


def test_a_batch_normalised_head_needs_two_training_maps_but_not_two_validation_maps(small_cache):
    from downstream.data.index import read_cache_index, select_maps

    index, config = read_cache_index(small_cache), TrainConfig(channels=(4,), epochs=1, head_norm=True, threads=1)
    train_maps, val_maps = (select_maps(index, split, config.fractions, config.split_seed) for split in ("train", "val"))
    with pytest.raises(InputError, match=r"^head_norm \(batch normalisation of the head's inputs\) needs at least 2 training maps$"):
        train(small_cache, config, progress=False, maps=np.concatenate([train_maps[:1], val_maps]))
    result = train(small_cache, config, progress=False, maps=np.concatenate([train_maps[:2], val_maps[:1]]))
    assert result.metrics["splits"] == {"train": 2, "val": 1, "test": 0}


def test_a_run_collapsed_when_its_kept_epoch_predicts_one_class_for_validation_maps_of_several():
    from downstream.train.fitting import collapsed

    def row(loss, predicted, classes=2):
        return {"val_loss": loss, "val_classes_predicted": predicted, "val_classes": classes}

    assert collapsed([row(0.70, 2), row(0.69, 1), row(0.71, 2)])  # the kept epoch (lowest loss) is judged
    assert not collapsed([row(0.70, 1), row(0.65, 2)])
    assert not collapsed([row(0.30, 1, classes=1)])  # validation maps of one class: one class predicted is right
    assert not collapsed([row(float("nan"), 1), row(0.69, 2)])  # NaN is never the kept epoch


def _losses(history: list[dict]) -> list[tuple[float, float]]:
    return [(row["train_loss"], row["val_loss"]) for row in history]


def test_a_collapsed_run_is_restarted_and_the_lowest_validation_loss_kept(sparse_cache):
    """The MLP sees identical invariants in every map of this cache, and lr = 0 keeps its
    initialisation: it predicts one class for every map, so every restart is tried. Each restart
    is the run of its own seed."""
    config = TrainConfig(**{**LEARNING, "model": "invariant_mlp", "lr": 0.0, "epochs": 2, "restarts": 2})
    metrics = train(sparse_cache, config, progress=False).metrics
    assert [a["collapsed"] for a in metrics["attempts"]] == [True, True, True]
    losses = [a["best_val_loss"] for a in metrics["attempts"]]
    assert metrics["attempt"] == int(np.argmin(losses))
    assert metrics["attempts"][0]["seed"] == 0 and len({a["seed"] for a in metrics["attempts"]}) == 3
    alone = train(sparse_cache, replace(config, seed=metrics["attempts"][metrics["attempt"]]["seed"], restarts=0), progress=False)
    assert _losses(alone.metrics["history"]) == _losses(metrics["history"])


def test_a_run_that_did_not_collapse_is_not_restarted_and_is_unchanged_by_the_option(sparse_cache):
    config = TrainConfig(**{**LEARNING, "epochs": 6})
    metrics = train(sparse_cache, replace(config, restarts=2), progress=False).metrics
    assert len(metrics["attempts"]) == 1 and not metrics["attempts"][0]["collapsed"] and metrics["attempt"] == 0
    assert _losses(metrics["history"]) == _losses(train(sparse_cache, config, progress=False).metrics["history"])
