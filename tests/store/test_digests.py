"""Each map's coefficients are bound to it by a digest written with the map
(maps/coefficients_sha256): two valid coefficient chunks swapped on disk are named by verify and
repaired; a damaged maps/status chunk makes inspect say the cache is not complete. Before, both
passed unnoticed (per-chunk crc32c does not say which map a chunk belongs to)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import zarr

from pipeline.store.format import coefficients_digest
from tests.pipeline_helpers import CONFIG_ARGS, run_cli, store_contents, write_inputs

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digests")
    write_inputs(folder / "inputs")
    store = folder / "cache.zarr"
    inputs = sorted(str(p) for p in (folder / "inputs").iterdir() if p.suffix in (".fits", ".npy"))
    assert run_cli("scatter-preprocess", *inputs, "-o", str(store), *CONFIG_ARGS, "--no-progress").returncode == 0
    return store


def test_every_done_map_has_the_digest_of_its_stored_coefficients(clean):
    g = zarr.open_group(str(clean), mode="r")
    digests = g["maps/coefficients_sha256"][:]
    assert all(digests[i] == coefficients_digest(g["coefficients"][i]) for i in range(len(digests)))
    assert len(set(digests)) == 4  # the same sky as RING / NESTED FITS and NESTED .npy has the same coefficients
    assert g["maps/coefficients_sha256"].metadata.dimension_names == ("map",)


def test_swapped_coefficient_chunks_are_named_and_repaired(clean, tmp_path):
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean, store)
    chunks = store / "coefficients" / "c"
    (chunks / "1").rename(chunks / "swap")
    (chunks / "3").rename(chunks / "1")
    (chunks / "swap").rename(chunks / "3")
    found = run_cli("scatter-cache", "verify", str(store))
    assert found.returncode == 1
    sources = zarr.open_group(str(store), mode="r")["maps/source"][:]
    assert found.stdout.splitlines() == [
        f"problem: map {i} ({sources[i]}): coefficients do not match the digest written with the map (another map's chunk, or altered)"
        for i in (1, 3)]
    repaired = run_cli("scatter-cache", "verify", str(store), "--repair", "--workers", "1")
    assert repaired.returncode == 0, repaired.stdout
    np.testing.assert_array_equal(store_contents(store)["coefficients"], store_contents(clean)["coefficients"])


def test_a_damaged_status_chunk_is_never_reported_complete(clean, tmp_path):
    store = tmp_path / "cache.zarr"
    shutil.copytree(clean, store)
    chunk = store / "maps" / "status" / "c" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-1] + bytes([chunk.read_bytes()[-1] ^ 0xFF]))
    shown = run_cli("scatter-cache", "inspect", str(store), "--json")
    summary = json.loads(shown.stdout)
    assert summary["complete"] is False and summary["unreadable_status_chunks"] == 1 and summary["done"] == 0
    text = run_cli("scatter-cache", "inspect", str(store)).stdout
    assert "1 chunk(s) of maps/status unreadable: their maps count as pending" in text
