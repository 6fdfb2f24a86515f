"""The CMB dataset on disk: seeds, files, sidecars, manifest, reuse, deletion, Dask driver."""

import csv
import json
from collections import Counter

import numpy as np
import pytest

from pipeline.cmb.dataset import delete_maps, generate_dataset, map_status
from pipeline.cmb.plan import CMBDatasetConfig, assign_splits, healpix_nside, map_seeds, plan_maps
from pipeline.cmb.simulation import GAUSSIAN, NONGAUSSIAN, simulate_alm
from pipeline.cmb.spectra import cmb_spectra
from pipeline.errors import InputError
from pipeline.io.inputs import read_manifest as read_pipeline_manifest
from pipeline.io.readers import read_map
from pipeline.sphere.grids import HealpixGrid, RingGrid
from pipeline.sphere.harmonic import alm_to_map, map_to_alm

L = 16


def read_manifest(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_seeds_are_distinct_deterministic_and_stable():
    """(c) One SeedSequence: distinct seeds for all maps of both classes; map i of a class does not
    depend on n, and Gaussian maps do not depend on f."""
    g, ng = map_seeds(5, GAUSSIAN, 50), map_seeds(5, NONGAUSSIAN, 50)
    assert len(set(g) | set(ng)) == 100
    assert g == map_seeds(5, GAUSSIAN, 50) and map_seeds(5, GAUSSIAN, 10) == g[:10]
    assert set(map_seeds(6, GAUSSIAN, 50)).isdisjoint(g)
    assert all(0 <= s < 2**63 for s in g + ng)
    a = plan_maps(CMBDatasetConfig(L=L, n_per_class=4, f=0.1, seed=5))
    b = plan_maps(CMBDatasetConfig(L=L, n_per_class=4, f=0.7, seed=5))
    assert [s.seed for s in a] == [s.seed for s in b]
    assert [s.filename for s in a[:4]] == [s.filename for s in b[:4]]  # Gaussian maps shared
    assert not set(s.filename for s in a[4:]) & set(s.filename for s in b[4:])


def test_splits_are_balanced_and_deterministic():
    seeds = map_seeds(0, GAUSSIAN, 100)
    splits = assign_splits(seeds)
    assert Counter(splits) == {"train": 70, "val": 15, "test": 15}
    assert splits == assign_splits(seeds)
    ranked = [splits[i] for i in np.argsort(seeds)]
    assert ranked == ["train"] * 70 + ["val"] * 15 + ["test"] * 15


@pytest.mark.parametrize("grid", ["gl", "mw"])
def test_dataset_files_reproduce_from_recorded_seeds(tmp_path, grid):
    """Maps are float32 on the exact grid; the manifest's seed alone regenerates each file's
    values, and analysing the file recovers the coefficients to float32 precision. The
    preprocessing readers (manifest, sidecar) accept the files as they are."""
    config = CMBDatasetConfig(L=L, n_per_class=10, f=0.5, seed=3, grid=grid)
    result = generate_dataset(config, tmp_path, scheduler="synchronous")
    assert (result.generated, result.reused) == (20, 0)
    rows = read_manifest(result.manifest)
    assert list(rows[0]) == ["path", "label", "split", "seed", "f"]
    assert Counter(r["label"] for r in rows) == {"0": 10, "1": 10}
    assert {r["f"] for r in rows if r["label"] == "0"} == {"0.0"} and {r["f"] for r in rows if r["label"] == "1"} == {"0.5"}
    assert Counter((r["label"], r["split"]) for r in rows)[("1", "train")] == 7
    spectra = cmb_spectra(L)
    ring = RingGrid.for_bandlimit(grid, L)
    for row in rows[::3]:
        path = tmp_path / row["path"]
        values = np.load(path, allow_pickle=False)
        assert values.dtype == np.float32 and values.shape == (L, 2 * L - 1)
        assert json.loads(path.with_suffix(".json").read_text()) == {"grid": grid}
        record = json.loads(path.with_suffix(".provenance.json").read_text())
        assert (record["seed"], record["label"], record["L"]) == (int(row["seed"]), int(row["label"]), L)
        alm = simulate_alm(spectra, int(row["label"]), float(row["f"]), int(row["seed"]))
        assert np.array_equal(values, alm_to_map(alm, ring, L).astype(np.float32))
        back = map_to_alm(values, ring, L).alm
        assert np.abs(back - alm).max() < 1e-6 * np.abs(alm).max()
        read = read_map(path)
        assert read.grid == ring and np.array_equal(read.values, values)
    inputs = read_pipeline_manifest(result.manifest)
    assert [(i.label, i.split) for i in inputs] == [(int(r["label"]), r["split"]) for r in rows]
    assert inputs[-1].metadata == {"seed": rows[-1]["seed"], "f": "0.5"}


def test_reuse_grow_stale_overwrite_and_delete(tmp_path):
    config = CMBDatasetConfig(L=L, n_per_class=4, f=0.2, seed=1)
    generate_dataset(config, tmp_path, scheduler="threads", num_workers=2)
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("cmb_*")}
    again = generate_dataset(config, tmp_path)
    assert (again.generated, again.reused) == (0, 8)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("cmb_*")} == mtimes
    # more maps and another f: only the new non-Gaussian maps and the extra Gaussian ones are made
    grown = generate_dataset(CMBDatasetConfig(L=L, n_per_class=6, f=0.3, seed=1), tmp_path)
    assert (grown.generated, grown.reused) == (8, 4)
    # a map made from another C_l table (its provenance record no longer matches) is stale
    spec = plan_maps(config)[0]
    provenance = tmp_path / f"{spec.stem}.provenance.json"
    record = json.loads(provenance.read_text())
    provenance.write_text(json.dumps(record | {"cl_table_sha256": "0" * 64}))
    assert map_status(spec, tmp_path) == "stale"
    with pytest.raises(InputError, match="other settings"):
        generate_dataset(config, tmp_path)
    assert generate_dataset(config, tmp_path, overwrite=True).generated == 1
    assert map_status(spec, tmp_path) == "done"
    # a data file without its provenance record (killed before it was written) is redone
    provenance.unlink()
    assert map_status(spec, tmp_path) == "missing"
    assert generate_dataset(config, tmp_path).generated == 1
    assert delete_maps(tmp_path, L=L + 1) == 0
    assert delete_maps(tmp_path) == 6 + 6 + 4
    assert list(tmp_path.iterdir()) == []


def test_healpix_fits_output(tmp_path):
    astropy_fits = pytest.importorskip("astropy.io.fits")
    config = CMBDatasetConfig(L=L, n_per_class=1, f=0.5, seed=2, grid="healpix")
    rows = read_manifest(generate_dataset(config, tmp_path).manifest)
    nside = healpix_nside(L)
    assert nside == 8 and healpix_nside(17) == 16 and healpix_nside(2) == 1
    for row in rows:
        path = tmp_path / row["path"]
        assert path.suffix == ".fits"
        with astropy_fits.open(path) as hdul:
            header, values = hdul[1].header, np.asarray(hdul[1].data["TEMPERATURE"], dtype=np.float64)
        assert (header["PIXTYPE"], header["ORDERING"], header["NSIDE"], header["INDXSCHM"]) == ("HEALPIX", "RING", 8, "IMPLICIT")
        assert json.loads(path.with_suffix(".json").read_text()) == {"grid": "healpix", "ordering": "RING"}
        assert json.loads(path.with_suffix(".provenance.json").read_text())["nside"] == 8
        alm = simulate_alm(cmb_spectra(L), int(row["label"]), float(row["f"]), int(row["seed"]))
        expected = alm_to_map(alm, HealpixGrid(nside, "RING"), L).astype(np.float32)
        assert np.array_equal(values, expected)
        read = read_map(path)
        assert read.grid == HealpixGrid(nside, "RING") and np.array_equal(read.values, expected)


def test_distributed_client(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        result = generate_dataset(CMBDatasetConfig(L=L, n_per_class=3, f=0.1, seed=9), tmp_path, scheduler=client)
    assert result.generated == 6 and len(read_manifest(result.manifest)) == 6


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"L": 1}, "L must be an integer in \\[2, 4097\\]"),
        ({"L": 5000}, "L must be an integer in \\[2, 4097\\]"),
        ({"n_per_class": 0}, "n_per_class"),
        ({"f": float("nan")}, "f must be a finite number"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"grid": "cc"}, "grid must be one of gl, mw, healpix"),
        ({"cl_table": "/nonexistent/cl.txt"}, "does not exist"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        CMBDatasetConfig(**kwargs)
