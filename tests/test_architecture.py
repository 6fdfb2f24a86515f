"""The house rules that keep the code navigable: no heavy imports where they are not needed, no
import cycles, modules of one concern (at most ~300 lines), documentation that cites only this
repository's own files, and a cache that xarray opens with named dimensions (cache_format.md)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "downstream")
MAX_MODULE_LINES = 300


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    out["cli"] = ROOT / "cli.py"
    return out


def _loaded_after(code: str) -> set[str]:
    """Top-level names of the modules loaded by `code` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize("code", ["import pipeline", "import pipeline.store, pipeline.run, pipeline.io, pipeline.cmb", "import cli"])
def test_the_pipeline_imports_neither_torch_nor_matplotlib(code):
    assert not _loaded_after(code) & {"torch", "matplotlib"}


def test_scatter_preprocess_help_starts_without_torch():
    code = ("import sys, cli\nsys.argv = ['scatter-preprocess', '--help']\n"
            "try:\n    cli.preprocess_main()\nexcept SystemExit:\n    pass")
    assert "torch" not in _loaded_after(code)


def test_importing_the_figures_switches_no_matplotlib_backend():
    code = "import matplotlib; before = matplotlib.get_backend(); import downstream.cmb.report; assert matplotlib.get_backend() == before"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_no_module_is_over_the_size_of_one_concern():
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports at module level (TYPE_CHECKING blocks excluded)."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        out |= {name for name in names if name in modules}
    return out


def test_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for nxt in graph[name]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [name, nxt]) if nxt in trail else f"{name} -> {nxt}")
            if nxt not in state:
                visit(nxt, trail + [name])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return [ROOT / line for line in out.split() if (ROOT / line).is_file()]


def test_documentation_cites_only_files_of_this_repository():
    background = "|".join(("science", "pitfalls", "style", "dependencies"))  # the workplace's notes, not this repo's
    outside = re.compile(r"\.\./" + "shared" + r"|" + "shared" + r"/reference|\b(" + background + r")\.md\b")
    cited = re.compile(r"(?<![\w/.-])((?:pipeline|downstream|docs|tests|benchmarks|scripts)/[\w/.-]*\w\.(?:py|md|txt))")
    problems = []
    for path in _tracked("*.py", "*.md"):
        if path.name == Path(__file__).name:
            continue
        text = path.read_text()
        problems += [f"{path.relative_to(ROOT)}: names {m.group(0)}" for m in outside.finditer(text)]
        problems += [f"{path.relative_to(ROOT)}: cites missing {m.group(1)}" for m in cited.finditer(text)
                     if not (ROOT / m.group(1)).exists()]
    assert problems == []


def test_xarray_opens_a_cache_with_named_dimensions(tmp_path, rng):
    xr = pytest.importorskip("xarray")
    from pipeline.scattering import ScatteringConfig
    from pipeline.store import Cache, MapResult
    from pipeline.store.format import RECORDS

    config = ScatteringConfig(L=32, J0=2)
    cache = Cache.create(str(tmp_path / "c.zarr"), config, {}, overwrite=False)
    cache.group["maps/status"].resize((2,))
    for name in RECORDS:
        cache.group[f"maps/{name}"].resize((2,))
    shapes = cache.layout.row_shapes
    for name in shapes:
        cache.group[name].resize((2, *shapes[name]))
    rows = [MapResult(index=i, **{name: rng.standard_normal(shape) for name, shape in shapes.items()}) for i in range(2)]
    cache.write(rows)
    ds = xr.open_zarr(str(tmp_path / "c.zarr"), consolidated=False)
    assert ds["coefficients"].dims == ("map", "path", "coefficient")
    assert ds["power_spectra"].dims == ("map", "path", "l") and ds["means"].dims == ("map", "path")
    assert ds.sizes["path"] == cache.layout.n_paths and ds.sizes["coefficient"] == config.L0**2
    assert list(ds["path_kinds"].values) == list(cache.layout.kinds) and ds["path_kinds"].dims == ("path",)
    np.testing.assert_array_equal(ds["coefficients"].values, np.stack([r.coefficients for r in rows]))
    maps = xr.open_zarr(str(tmp_path / "c.zarr"), group="maps", consolidated=False)
    assert list(maps["status"].values) == [1, 1] and maps["status"].dims == ("map",)
