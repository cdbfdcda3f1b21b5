"""pipeline/job/model_probe.py: the launcher loads and probes a model folder once; the same files are not
loaded again (no TensorFlow at launch), and any change to the files is loaded and probed again, so a
broken model still stops the launch before anything is read. Real model files, real Keras."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model import METADATA_FILE, MODEL_DIR, MODEL_FILE
from model.contract import ModelContractError
from pipeline.job import model_probe
from pipeline.job.launch import check_model

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(model_probe.CACHE_DIR_ENV, str(folder))
    return folder


@pytest.fixture
def model(tmp_path) -> Path:
    """A copy of the shipped model folder, free to break."""
    folder = tmp_path / "model"
    folder.mkdir()
    for name in (MODEL_FILE, METADATA_FILE):
        shutil.copy2(MODEL_DIR / name, folder / name)
    return folder


def launcher_imports_tensorflow(model: Path, cache: Path) -> bool:
    """Run the launcher's model check in a new Python process; did it import TensorFlow?"""
    code = (
        "import sys\n"
        "from pipeline.job.launch import check_model\n"
        f"check_model({str(model)!r})\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, model_probe.CACHE_DIR_ENV: str(cache)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] == "True"


def test_a_probed_model_is_not_loaded_again(model, cache) -> None:
    assert launcher_imports_tensorflow(model, cache)  # the first launch loads and probes it
    assert [path.suffix for path in cache.iterdir()] == [".json"]
    assert not launcher_imports_tensorflow(model, cache)  # the same files: the record stands
    # A copy of the folder (new modification times, same bytes) is the model that passed.
    copy = model.parent / "copy"
    shutil.copytree(model, copy, copy_function=shutil.copy)
    assert not launcher_imports_tensorflow(copy, cache)


def nan_weights(path: Path) -> bytes:
    """The shipped network with every weight NaN, saved as a .keras file."""
    import keras

    from model import layers as _registers_the_models_own_layers  # noqa: F401

    network = keras.saving.load_model(MODEL_DIR / MODEL_FILE, compile=False)
    network.set_weights([np.full_like(weights, np.nan) for weights in network.get_weights()])
    network.save(path)
    return path.read_bytes()


def test_a_model_file_changed_after_its_probe_is_probed_again(tmp_path, model, cache) -> None:
    assert check_model(str(model)).version == json.loads((MODEL_DIR / METADATA_FILE).read_text())["version"]
    (model / MODEL_FILE).write_bytes(nan_weights(tmp_path / "nan.keras"))  # same metadata, new weights
    with pytest.raises(ModelContractError, match="non-finite outputs"):
        check_model(str(model))


def test_a_same_size_same_time_change_is_probed_again(model, cache) -> None:
    """Size and modification time are no proof: the bytes decide."""
    check_model(str(model))
    path = model / MODEL_FILE
    facts = path.stat()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2  # inside the weights
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(facts.st_atime_ns, facts.st_mtime_ns))
    assert path.stat().st_size == facts.st_size and path.stat().st_mtime_ns == facts.st_mtime_ns
    with pytest.raises(ModelContractError, match="cannot be loaded as a Keras model"):
        check_model(str(model))


def test_a_failed_probe_is_not_remembered(tmp_path, model, cache) -> None:
    (model / MODEL_FILE).write_bytes(nan_weights(tmp_path / "nan.keras"))
    for _ in range(2):  # refused every time, not only the first
        with pytest.raises(ModelContractError, match="non-finite outputs"):
            check_model(str(model))
    assert not cache.exists() or not list(cache.iterdir())


def test_an_unwritable_cache_folder_only_means_no_record(model, tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv(model_probe.CACHE_DIR_ENV, str(blocker / "cache"))
    assert check_model(str(model)).version
    assert blocker.read_text().startswith("a file")
