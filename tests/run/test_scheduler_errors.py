"""A --scheduler that cannot be reached ends with one line and exit 2, for scatter-preprocess and
for scatter-cache verify --repair; nothing already in the cache is lost (maps added by the refused
run stay pending for the next one). Before, a malformed
address or a scheduler with nothing listening ended in a traceback."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.io.inputs import expand_inputs
from pipeline.run import InputOptions, RunOptions, cluster, preprocess
from pipeline.scattering.config import ScatteringConfig
from tests.pipeline_helpers import CONFIG_ARGS, J0, L, run_cli, store_contents, write_inputs

pytestmark = pytest.mark.cli


def test_an_unusable_scheduler_address_is_one_line(tmp_path):
    write_inputs(tmp_path / "inputs")
    source = str(tmp_path / "inputs" / "gl.npy")
    store = tmp_path / "cache.zarr"
    assert run_cli("scatter-preprocess", source, "-o", str(store), *CONFIG_ARGS, "--no-progress", "--workers", "1").returncode == 0
    before = store_contents(store)
    for address, reason in (("not a scheduler", "ValueError: missing port number in address 'not a scheduler'"),
                            ("foo://x", "ValueError: unknown address scheme 'foo'")):
        more = str(tmp_path / "inputs" / "sky_ring.fits")
        result = run_cli("scatter-preprocess", source, more, "-o", str(store), *CONFIG_ARGS, "--scheduler", address)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        line = result.stderr.strip()
        assert line.startswith(f"error: cannot reach the Dask scheduler at {address!r} ({reason}")
        assert line.endswith("); nothing was computed") and "\n" not in line
    after = store_contents(store)  # the first map as it was; the second added, pending (a rerun computes it)
    assert all(np.array_equal(after[name][:1], values[:1], equal_nan=values.dtype.kind == "f") for name, values in before.items())
    assert list(after["maps/status"]) == [1, 0]
    (store / "coefficients" / "c" / "0" / "0" / "0").unlink()  # a problem for verify --repair to find
    refused = run_cli("scatter-cache", "verify", str(store), "--repair", "--scheduler", "not a scheduler")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().startswith("error: cannot reach the Dask scheduler at 'not a scheduler'")
    repaired = run_cli("scatter-cache", "verify", str(store), "--repair", "--workers", "1")
    assert repaired.returncode == 0, repaired.stdout
    np.testing.assert_array_equal(store_contents(store)["coefficients"][0], before["coefficients"][0])


def test_a_scheduler_with_nothing_listening_is_one_line_after_the_timeout(tmp_path, monkeypatch):
    write_inputs(tmp_path / "inputs")
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(InputError) as err:
        preprocess(expand_inputs([str(tmp_path / "inputs" / "gl.npy")]), str(tmp_path / "cache.zarr"),
                   ScatteringConfig(L=L, J0=J0), InputOptions(), RunOptions(scheduler="tcp://127.0.0.1:9", progress=False))
    assert str(err.value).startswith("cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' (OSError: Timed out trying to connect")
