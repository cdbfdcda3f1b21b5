"""The layout's promises (docs/architecture.md): modules stay small, and reading results stays cheap.

The import direction itself is checked by import-linter (pyproject.toml [tool.importlinter], run by
./run_tests.sh); these check what a contract cannot: what an import actually loads, and module length.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.photos import REPO_ROOT

MAX_MODULE_LINES = 450
PACKAGES = ("pipeline", "model", "training", "bench")


def test_no_module_is_over_the_length_limit() -> None:
    too_long = {
        str(path.relative_to(REPO_ROOT)): length
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("*.py")
        if (length := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def _loaded_after_import(module: str) -> set[str]:
    """The modules a fresh interpreter has loaded after importing `module`."""
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


HEAVY = ("tensorflow", "keras", "apache_beam.ml.inference.base")


@pytest.mark.parametrize("module", ["pipeline.schema", "pipeline.verdict", "model.inputs", "model.labels"])
def test_the_output_contract_loads_neither_beam_nor_tensorflow(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert not {name for name in loaded if name.split(".")[0] in ("tensorflow", "keras", "apache_beam")}


@pytest.mark.parametrize(
    "module",
    [
        "pipeline.results.reader",
        "pipeline.results.review.review",
        "pipeline.results.cull.cull",
        "pipeline.cull",
    ],
)
def test_reading_and_acting_on_results_loads_no_model_runtime(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_photo_decoding_loads_no_beam() -> None:
    loaded = _loaded_after_import("pipeline.photo.decode")
    assert not {name for name in loaded if name.split(".")[0] in ("apache_beam", "tensorflow", "keras")}
