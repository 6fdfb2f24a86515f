"""Per-map masks (docs/masks.md section 1): a manifest column ``mask`` and ``--bad-pixels mask``.
Each map gets bit for bit what its mask shared by a whole run gives; a map's own bad pixels are
the mask of those pixels; a bad own mask fails that map alone with its one-line reason; a changed
mask file is found and its map recomputed; training pools each item over its own valid region."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import replace

import healpy as hp
import numpy as np
import pytest
import torch
import zarr

from pipeline.errors import InputError
from pipeline.io.inputs import expand_inputs
from pipeline.io.mask_files import MaskOptions
from pipeline.io.readers import ReaderOptions, file_sha256
from pipeline.run import map_masks
from pipeline.run.masked import masked_sky
from pipeline.run.options import InputOptions, RunOptions
from pipeline.run.runner import preprocess
from pipeline.run.tasks import scatter_file, scatter_files
from pipeline.scattering.config import ScatteringConfig
from pipeline.sphere.grids import HealpixGrid, RingGrid
from pipeline.sphere.harmonic import alm_to_map
from pipeline.sphere.masks import pixel_directions
from pipeline.store.cache import Cache
from pipeline.store.format import DATA_ARRAYS, MASKED_ARRAYS, PENDING
from pipeline.store.inspection import changed_masks, find_problems, summary
from pipeline.testing import random_alm
from tests.masks.test_masks import galactic_cut, red_spectrum, write_mask
from tests.pipeline_helpers import run_cli

L, J0 = 32, 4
CONFIG = ScatteringConfig(L=L, J0=J0)
TOLERANCE = 0.05  # channel 0 keeps valid sky behind these masks at L0 = 16
ARRAYS = (*DATA_ARRAYS, *MASKED_ARRAYS)


def run(specs, store, scheduler, mask=None, **reader):
    options = InputOptions(ReaderOptions(**reader), mask=mask)
    return preprocess(specs, str(store), CONFIG, options, RunOptions(scheduler=scheduler, progress=False))


def mask_options(path=None):
    extra = {"tolerance": TOLERANCE}
    return MaskOptions.for_file(path, **extra) if path else MaskOptions(per_map=True, **extra)


def gl_maps(folder, n, seed):
    """n red Gaussian maps on the Gauss-Legendre grid of bandlimit L (with sidecars), and two masks:
    a Galactic cut (a) and a cap with a hole (b)."""
    rng = np.random.default_rng(seed)
    grid = RingGrid.for_bandlimit("gl", L)
    for i in range(n):
        np.save(folder / f"m{i}.npy", alm_to_map(random_alm(rng, L, red_spectrum(L)), grid, L) * (1 + i % 2))
        (folder / f"m{i}.json").write_text(json.dumps({"grid": "gl"}))
    z = pixel_directions(grid)[:, 2].reshape(grid.shape)
    b = (z < 0.6).astype(np.float64)
    b[20:24, 10:20] = 0
    return write_mask(folder, "a", galactic_cut(grid, 10.0)), write_mask(folder, "b", b)


@pytest.fixture(scope="module")
def two_masks(tmp_path_factory, scheduler):
    """A manifest of 8 maps whose own masks alternate a, b (relative paths), run with per-map
    masks; and the same maps run with a and with b shared."""
    folder = tmp_path_factory.mktemp("two_masks")
    a, b = gl_maps(folder, 8, seed=5)
    rows = ["path,label,split,mask"] + [f"m{i}.npy,{i % 2},{('train', 'train', 'val', 'test')[i // 2 % 4]},{'ab'[i % 2]}.npy"
                                        for i in range(8)]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    specs = expand_inputs([folder / "manifest.csv"])
    assert run(specs, folder / "c.zarr", scheduler, mask_options()).ok
    for k, path in enumerate((a, b)):
        assert run([replace(s, mask=None) for s in specs[k::2]], folder / f"{'ab'[k]}.zarr", scheduler, mask_options(path)).ok
    return folder


def test_each_map_gets_bit_for_bit_what_its_mask_shared_by_a_run_gives(two_masks):
    per_map = zarr.open_group(str(two_masks / "c.zarr"), mode="r")
    assert per_map.attrs["schema_version"] == 4 and per_map.attrs["mask"]["per_map"] and per_map["contamination"].shape[0] == 8
    for k, name in enumerate("ab"):
        shared = zarr.open_group(str(two_masks / f"{name}.zarr"), mode="r")
        assert shared.attrs["schema_version"] == 3 and "per_map" not in shared.attrs["mask"] and "mask" not in shared["maps"]
        for array in ARRAYS:
            assert np.array_equal(per_map[array][k::2], shared[array][:], equal_nan=True), array
        assert np.array_equal(per_map["contamination"][k::2], np.broadcast_to(shared["contamination"][:], (4, *shared["contamination"].shape)))
        assert np.array_equal(per_map["valid_fractions"][k::2], np.tile(shared.attrs["mask"]["valid_fractions"], (4, 1)))
        assert (per_map["observed_fraction"][k::2] == shared.attrs["mask"]["observed_fraction"]).all()
        assert (per_map["maps/mask_sha256"][k::2] == file_sha256(two_masks / f"{name}.npy")).all()
    cache = Cache.open(str(two_masks / "c.zarr"))
    assert find_problems(cache, check_inputs=True) == []
    fractions = summary(cache)["per_map_masks"]
    observed = sorted(zarr.open_group(str(two_masks / f"{n}.zarr"), mode="r").attrs["mask"]["observed_fraction"] for n in "ab")
    assert fractions["maps"] == fractions["own_mask_files"] == 8 and fractions["observed_fraction"] == pytest.approx(
        [observed[0], np.mean(observed), observed[1]], rel=1e-12)
    printed = run_cli("scatter-cache", "inspect", str(two_masks / "c.zarr")).stdout
    assert "per-map masks (binary, apodisation C1 2 deg; shared mask none; 8 of 8 done maps with a mask file of their own): observed sky " \
           f"per map (%, min/median/max): {100 * observed[0]:.0f}/{100 * np.mean(observed):.0f}/{100 * observed[1]:.0f}; valid sky" in printed


def test_maps_sharing_a_mask_prepare_it_once(two_masks, monkeypatch):
    calls = []
    prepare = map_masks.prepare_sky
    monkeypatch.setattr(map_masks, "prepare_sky", lambda *args: calls.append(1) or prepare(*args))
    monkeypatch.setattr(map_masks, "_prepared", type(map_masks._prepared)())
    items = [(i, str(two_masks / f"m{i}.npy")) for i in range(4)]
    results = scatter_files(items, CONFIG, InputOptions(mask=mask_options()), masks=[str(two_masks / f"{'ab'[i % 2]}.npy") for i in range(4)])
    assert not any(r.error for r in results) and len(calls) == 2


def test_bad_pixels_under_the_mask_policy_are_the_mask_of_those_pixels(tmp_path, rng):
    """A map's UNSEEN pixels (a partial-sky FITS file's unobserved ones too) masked give bit for bit
    the map with an explicit mask of those pixels, alone or times a shared mask."""
    nside = 16
    grid = HealpixGrid(nside, "RING")
    directions = pixel_directions(grid)
    values = alm_to_map(random_alm(rng, L, red_spectrum(L)), grid, L)
    hole = directions @ np.array([0.6, 0.0, 0.8]) > math.cos(math.radians(35))
    unseen = np.where(hole, hp.UNSEEN, values)
    hp.write_map(str(tmp_path / "clean.fits"), values, dtype=np.float64)
    hp.write_map(str(tmp_path / "unseen.fits"), unseen, dtype=np.float64)
    hp.write_map(str(tmp_path / "partial.fits"), unseen, dtype=np.float64, partial=True)
    cut = (np.abs(directions[:, 2]) > 0.2).astype(np.float64)
    for name, mask in {"hole": ~hole, "cut": cut, "both": cut * ~hole}.items():
        hp.write_map(str(tmp_path / f"{name}.fits"), mask.astype(np.float64), dtype=np.float64)

    def scatter(source, mask=None, own="", **reader):
        result = scatter_file(0, str(tmp_path / source), CONFIG, InputOptions(ReaderOptions(**reader), mask=mask), mask=own)
        assert not result.error, result.error
        return result

    explicit = scatter("clean.fits", mask_options(), str(tmp_path / "hole.fits"))
    for source in ("unseen.fits", "partial.fits"):
        masked = scatter(source, mask_options(), bad_pixels="mask")
        assert masked.masked_fraction == hole.mean() and masked.mask_sha256 == ""
        for name in (*ARRAYS, "contamination", "valid_fractions", "observed_fraction"):
            assert np.array_equal(getattr(masked, name), getattr(explicit, name), equal_nan=True), (source, name)
    shared = masked_sky(mask_options(tmp_path / "hole.fits"), CONFIG)
    assert np.array_equal(explicit.contamination, shared.contamination) and explicit.observed_fraction == shared.observed_fraction
    both = scatter("unseen.fits", mask_options(tmp_path / "cut.fits"), bad_pixels="mask")
    product = scatter("clean.fits", mask_options(), str(tmp_path / "both.fits"))
    for name in (*ARRAYS, "contamination", "valid_fractions"):
        assert np.array_equal(getattr(both, name), getattr(product, name), equal_nan=True), name


def test_a_bad_own_mask_fails_its_map_alone_with_its_one_line_reason(tmp_path, scheduler, rng):
    nside = 16
    grid = HealpixGrid(nside, "RING")
    z = pixel_directions(grid)[:, 2]
    cut = (np.abs(z) > 0.3).astype(np.float64)
    masks = {"good": cut, "nside8": (np.abs(pixel_directions(HealpixGrid(8, "RING"))[:, 2]) > 0.3).astype(np.float64),
             "range": cut * 1.5, "none": np.zeros_like(cut), "tiny": (z > 0.99).astype(np.float64)}
    for name, mask in masks.items():
        hp.write_map(str(tmp_path / f"{name}.fits"), mask, dtype=np.float64)
    names = [*masks, "good", "gone"]
    for i in range(len(names)):
        values = alm_to_map(random_alm(rng, L), grid, L)
        if i == len(masks):  # its own bad pixels leave too little sky beside the good mask
            values[z < 0.9] = np.nan
        hp.write_map(str(tmp_path / f"m{i}.fits"), values, dtype=np.float64)
    rows = ["path,mask"] + [f"m{i}.fits,{name}.fits" for i, name in enumerate(names)]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match="1 of 14 listed files do not exist"):
        expand_inputs([tmp_path / "manifest.csv"])
    summary_ = run(expand_inputs([tmp_path / "manifest.csv"], missing="fail"), tmp_path / "c.zarr", scheduler, mask_options(),
                   bad_pixels="mask")
    fraction = np.mean(cut * (z >= 0.9))
    m, f = (lambda i: tmp_path / f"m{i}.fits"), (lambda name: tmp_path / f"{name}.fits")
    assert summary_.failures == [
        f"{m(1)}: mask {f('nside8')}: the mask has HEALPix nside 8 and the map nside 16: masks are never regridded; make the mask at the map's nside",
        f"{m(2)}: mask {f('range')}: mask values must lie in [0, 1] (1 observed, 0 masked), found 0 to 1.5",
        f"{m(3)}: mask {f('none')}: the mask masks every pixel: nothing to analyse",
        f"{m(4)}: mask {f('tiny')}: it observes 0.391 % of the sky, below the minimum 5 % (--min-sky-fraction)",
        f"{m(5)}: the product of its masks (mask {f('good')}, its {int(np.sum((z < 0.9) & (cut == 1)))} NaN, inf or UNSEEN pixels): it observes "
        f"{100 * fraction:.3g} % of the sky, below the minimum 5 % (--min-sky-fraction)",
        f"{m(6)}: {f('gone')}: mask file not found",
    ]
    cache = Cache.open(str(tmp_path / "c.zarr"))
    assert list(cache.status()) == [1, 2, 2, 2, 2, 2, 2]
    assert [p.damage for p in find_problems(cache)] == [False] * 6


def test_a_map_whose_own_mask_changed_is_found_and_recomputed(tmp_path, scheduler):
    a, b = gl_maps(tmp_path, 2, seed=9)
    rows = ["path,mask", "m0.npy,a.npy", "m1.npy,b.npy"]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    specs = expand_inputs([tmp_path / "manifest.csv"])
    store = tmp_path / "c.zarr"
    assert run(specs, store, scheduler, mask_options()).n_computed == 2
    before = zarr.open_group(str(store), mode="r")["coefficients"][:]
    grid = RingGrid.for_bandlimit("gl", L)
    write_mask(tmp_path, "b", galactic_cut(grid, 25.0))
    problems = find_problems(Cache.open(str(store)), check_inputs=True)
    assert [(p.index, p.message[: len(f"mask {b} changed since the map was scattered")]) for p in problems] == [
        (1, f"mask {b} changed since the map was scattered")]
    again = run(specs, store, scheduler, mask_options())
    assert (again.n_computed, again.n_skipped) == (1, 1)
    group = zarr.open_group(str(store), mode="r")
    assert np.array_equal(group["coefficients"][0], before[0]) and not np.array_equal(group["coefficients"][1], before[1])
    assert np.array_equal(group["contamination"][1], masked_sky(mask_options(b), CONFIG).contamination)
    assert changed_masks(Cache.open(str(store))) == []
    (tmp_path / "other.csv").write_text("path,mask\nm0.npy,b.npy\n")
    with pytest.raises(InputError, match=re.escape(f"m0.npy is in the cache with mask '{a}'; the inputs now say '{b}'")):
        run(expand_inputs([tmp_path / "other.csv"]), store, scheduler, mask_options())
    assert run(expand_inputs([tmp_path / "m0.npy"]), tmp_path / "s.zarr", scheduler, mask_options(a)).ok
    with pytest.raises(InputError, match="was written with other input options"):
        run(specs[:1], tmp_path / "s.zarr", scheduler, mask_options(a))
    assert PENDING not in Cache.open(str(store)).status()


def test_the_pooled_invariants_of_an_item_follow_its_own_region_only(rng):
    from downstream.nn.invariants import RotationInvariants

    Lp = 8
    pooling = RotationInvariants(Lp, masked=True).double()
    x = torch.from_numpy(rng.standard_normal((2, 3, Lp * Lp)))
    shape = pooling.region.shape
    regions = torch.from_numpy((rng.random((2, *shape)) < 0.6).astype(np.float64))
    together = pooling(x, regions)
    for k in range(2):
        pooling.set_region(regions[k])
        assert torch.allclose(together[k], pooling(x[k : k + 1])[0], rtol=0, atol=1e-12)
    moved = regions.clone()
    moved[1] = torch.roll(moved[1], 3, dims=1)
    after = pooling(x, moved)
    assert torch.equal(after[0], together[0]) and (after[1] - together[1]).abs().max() > 1e-3


def test_training_pools_each_item_over_its_own_valid_region(two_masks, tmp_path, one_torch_thread):
    from downstream.data.dataset import CacheDataset
    from downstream.data.index import read_cache_index, select_maps
    from downstream.train.config import TrainConfig
    from downstream.train.training import train

    config = TrainConfig(model="invariant_mlp", epochs=1, max_depth=0, dtype="float64")
    trained = train(str(two_masks / "c.zarr"), config, progress=False)
    model = trained.model
    assert model.config.masked_pooling and torch.equal(model.invariants.region, torch.ones_like(model.invariants.region))
    index = read_cache_index(str(two_masks / "c.zarr"))
    channels = config.input_channels(index)
    maps = select_maps(index, "all")
    dataset = CacheDataset(index, maps, dtype=torch.float64, input_paths=channels, region_grid=2 * index.L0)
    for k, name in enumerate("ab"):
        shared = read_cache_index(str(two_masks / f"{name}.zarr")).valid_region(channels, 2 * index.L0)
        assert all(np.array_equal(dataset[i][0][1].numpy(), shared) for i in range(k, len(maps), 2))
    (x0, region0), _ = dataset[0]
    (x1, region1), _ = dataset[1]
    assert 0 < float(region0.mean()) < 1 and not torch.equal(region0, region1)
    # only map 1's contamination changes (to none): only its pooled invariants change
    copy = tmp_path / "c.zarr"
    shutil.copytree(two_masks / "c.zarr", copy)
    zarr.open_group(str(copy), mode="r+")["contamination"][int(maps[1])] = 0.0
    changed = CacheDataset(read_cache_index(str(copy)), maps, dtype=torch.float64, input_paths=channels, region_grid=2 * index.L0)
    assert torch.equal(changed[0][0][1], region0) and torch.equal(changed[1][0][1], torch.ones_like(region1))
    pooled = [model.invariants(model.normalize(torch.stack([d[0][0][0], d[1][0][0]])), torch.stack([d[0][0][1], d[1][0][1]]))
              for d in (dataset, changed)]
    assert torch.equal(pooled[0][0], pooled[1][0]) and not torch.allclose(pooled[0][1], pooled[1][1])
    with pytest.raises(ValueError, match=r"^this model pools each item over its own valid region \(per-map masks\): pass the batch of regions$"):
        model(torch.stack([x0, x1]))  # without the regions it would pool over the whole sphere
    with pytest.raises(InputError, match="has no per-map masks"):
        CacheDataset(read_cache_index(str(two_masks / "a.zarr")), maps[:1], region_grid=2 * index.L0)


def test_the_mlp_pools_each_channel_over_its_own_region_as_with_a_shared_mask(two_masks):
    """Per-map items bring one region per channel for the MLP: for the maps of mask a they are the
    shared a-cache's per-channel regions, and pooling with them equals pooling with that buffer."""
    from downstream.data.dataset import CacheDataset
    from downstream.data.index import read_cache_index, select_maps
    from downstream.nn.invariants import RotationInvariants

    index = read_cache_index(str(two_masks / "c.zarr"))
    shared = read_cache_index(str(two_masks / "a.zarr"))
    channels = [0, 1, 4]  # the channels with valid sky behind both masks
    grid = 2 * index.L0
    maps = select_maps(index, "all")
    dataset = CacheDataset(index, maps, dtype=torch.float64, input_paths=channels, region_grid=grid, region_per_channel=True)
    own = np.stack([shared.valid_region([c], grid) for c in channels])
    (x, regions), _ = dataset[0]
    assert regions.shape == own.shape and np.array_equal(regions.numpy(), own)
    assert not np.array_equal(own[0], own[2])  # the channels' regions differ: the intersection would lose sky
    per_item = RotationInvariants(index.L0, masked=True, channels=len(channels))
    buffered = RotationInvariants(index.L0, masked=True, channels=len(channels))
    buffered.set_region(torch.from_numpy(own))
    assert torch.allclose(per_item(x[None], regions[None]), buffered(x[None]), rtol=1e-12, atol=0)
    with pytest.raises(InputError, match=r"has no valid sky in channel 2; select other channels"):
        CacheDataset(index, maps, input_paths=[0, 2], region_grid=grid, region_per_channel=True)[0]
