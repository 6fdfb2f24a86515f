"""Reading caches written with plain zarr (tests/synthetic_cache.py) into torch: items, splits,
DataLoader workers, and clean errors for bad caches."""

import pickle

import numpy as np
import pytest
import torch
import zarr

from downstream.data.augment import RandomRotation
from downstream.data.dataset import CacheDataset, make_loader, open_split
from downstream.data.index import read_cache_index, select_maps
from downstream.nn.invariants import degree_power
from pipeline.errors import InputError
from tests.synthetic_cache import random_coefficients, write_cache

N, P, L0 = 30, 3, 4
STATUS = np.array([1] * 26 + [0, 2, 0, 1], dtype=np.uint8)


@pytest.fixture(scope="module")
def coefficients():
    return random_coefficients(N, P, L0, seed=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory, coefficients):
    labels = np.arange(N) % 3
    return str(write_cache(tmp_path_factory.mktemp("cache") / "c.zarr", coefficients, labels, status=STATUS))


def test_items_are_the_stored_coefficients_of_done_maps(cache, coefficients):
    dataset = open_split(cache, "all", dtype=torch.float64)
    np.testing.assert_array_equal(dataset.maps, np.flatnonzero(STATUS == 1))
    for i in (0, 5, len(dataset) - 1):
        x, label = dataset[i]
        assert x.dtype == torch.float64 and x.shape == (P, L0 * L0)
        np.testing.assert_array_equal(x.numpy(), coefficients[dataset.maps[i]])
        assert label == dataset.maps[i] % 3
    x32, _ = open_split(cache, "all")[3]
    assert x32.dtype == torch.float32
    np.testing.assert_allclose(x32.numpy(), coefficients[dataset.maps[3]], rtol=1e-7)


def test_input_paths_select_channels(cache, coefficients):
    dataset = open_split(cache, "all", dtype=torch.float64, input_paths=[2, 0], in_memory=True)
    x, _ = dataset[1]
    assert dataset.n_paths == 2
    np.testing.assert_array_equal(x.numpy(), coefficients[dataset.maps[1]][[2, 0]])
    with pytest.raises(InputError, match=r"input paths must be indices in \[0, 3\)"):
        open_split(cache, "all", input_paths=[3])
    index = read_cache_index(cache)
    np.testing.assert_array_equal(index.select(max_depth=0), [0])  # synthetic paths: [], [0], [1]
    np.testing.assert_array_equal(index.select(), [0, 1, 2])


def test_batched_and_in_memory_reads_agree(cache):
    lazy = open_split(cache, "all", dtype=torch.float64)
    memory = open_split(cache, "all", dtype=torch.float64, in_memory=True)
    items = [7, 2, 2, 11]
    for (xa, ya), (xb, yb), i in zip(lazy.__getitems__(items), memory.__getitems__(items), items):
        torch.testing.assert_close(xa, lazy[i][0], atol=0, rtol=0)
        torch.testing.assert_close(xb, xa, atol=0, rtol=0)
        assert ya == yb == lazy[i][1]


def test_dataset_never_pickles_an_open_store(cache):
    dataset = open_split(cache, "train")
    dataset[0]
    assert dataset._arrays
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._arrays == {}
    torch.testing.assert_close(clone[0][0], dataset[0][0])


def test_two_workers_give_the_same_batches_as_the_main_process(cache):
    dataset = open_split(cache, "all")
    batches = {}
    for workers in (0, 2):
        loader = make_loader(dataset, 4, shuffle=True, seed=3, num_workers=workers)
        batches[workers] = [(x.clone(), y.clone()) for x, y in loader]
    assert len(batches[0]) == len(batches[2]) == int(np.ceil(len(dataset) / 4))
    for (x0, y0), (x2, y2) in zip(batches[0], batches[2]):
        torch.testing.assert_close(x0, x2, atol=0, rtol=0)
        torch.testing.assert_close(y0, y2, atol=0, rtol=0)
    order = torch.cat([y for _, y in batches[0]])
    assert not torch.equal(order, torch.as_tensor(dataset.labels))  # it did shuffle


def test_random_rotation_keeps_power_per_degree(cache):
    torch.manual_seed(0)
    rotated = open_split(cache, "all", dtype=torch.float64, transform=RandomRotation(L0))
    plain = open_split(cache, "all", dtype=torch.float64)
    (x, _), (y, _) = rotated[4], plain[4]
    torch.testing.assert_close(degree_power(x, L0), degree_power(y, L0), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(x[:, 0], y[:, 0], atol=1e-12, rtol=0)  # l = 0 is invariant
    assert (x - y).abs().max() > 1e-3


def test_seeded_split_is_stratified_disjoint_and_reproducible(cache):
    index = read_cache_index(cache)
    parts = {s: select_maps(index, s, (0.5, 0.25, 0.25), seed=4) for s in ("train", "val", "test")}
    together = np.concatenate(list(parts.values()))
    np.testing.assert_array_equal(np.sort(together), np.flatnonzero(STATUS == 1))
    for label in range(3):
        counts = [np.sum(index.labels[m] == label) for m in parts.values()]
        n = sum(counts)
        assert abs(counts[0] - n / 2) <= 1 and abs(counts[1] - n / 4) <= 1, counts
    np.testing.assert_array_equal(select_maps(index, "train", (0.5, 0.25, 0.25), seed=4), parts["train"])
    assert not np.array_equal(select_maps(index, "train", (0.5, 0.25, 0.25), seed=5), parts["train"])


def test_stored_split_is_used(tmp_path, coefficients):
    splits = ["train", "val", "test"] * (N // 3)
    path = write_cache(tmp_path / "s.zarr", coefficients, np.arange(N) % 2, splits=splits)
    index = read_cache_index(str(path))
    np.testing.assert_array_equal(select_maps(index, "val", seed=123), np.arange(1, N, 3))


def bad_cache(tmp_path, coefficients, **options):
    return str(write_cache(tmp_path / "bad.zarr", coefficients, options.pop("labels", np.arange(N) % 2), **options))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp, c: str(tmp / "missing.zarr"), "no scattering cache at .*missing.zarr"),
        (lambda tmp, c: bad_cache(tmp, c, schema_version=5), r"schema_version 5; this reader needs one of \[1, 2, 3, 4\]"),
        (lambda tmp, c: bad_cache(tmp, c, status=np.zeros(N)), r"no done maps \(maps/status == 1\)"),
        (lambda tmp, c: bad_cache(tmp, c, labels=np.full(N, -1)), "has no labels"),
        (lambda tmp, c: bad_cache(tmp, c, splits=["train"] + [""] * (N - 1)), "set for some done maps and empty for others"),
        (lambda tmp, c: bad_cache(tmp, c, splits=["training"] * N), r"maps/split holds \['training'\]"),
    ],
)
def test_bad_caches_raise_input_errors(tmp_path, coefficients, make, message):
    path = make(tmp_path, coefficients)
    with pytest.raises(InputError, match=message):
        select_maps(read_cache_index(path), "train")


def test_a_group_that_is_not_a_cache(tmp_path):
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w", zarr_format=3).attrs["format"] = "something-else"
    with pytest.raises(InputError, match="not a scattering cache: expected attribute format = 'sphere-scatter-cache'"):
        read_cache_index(str(tmp_path / "other.zarr"))


def test_dataset_of_an_empty_selection(cache):
    dataset = CacheDataset(read_cache_index(cache), np.array([], dtype=np.int64))
    assert len(dataset) == 0
