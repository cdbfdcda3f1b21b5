"""The launcher's model probe, remembered: a model folder whose exact files already passed the probe
(model.contract.load_blur_model: loadable, shaped as its metadata says, finite outputs for a probe
batch) is not loaded again at launch, so a launch need not import TensorFlow (3-4 s of CPU) only to
repeat a check that passed. The workers load the model as before.

A passed probe is recorded under a key made of everything the probe's outcome depends on: the bytes
(SHA-256) and sizes of `blur_model.keras` and `metadata.json`, the versions of Keras, TensorFlow and
NumPy, and the source of the code that loads and probes a model (model/contract.py, model/layers.py).
Any change to one of them is a new key, so the model is loaded and probed again before anything is
read. The files' modification times are not part of the key: the same bytes give the same outcome, and
a copied model folder (new times) is still the model that passed. A failed probe is never recorded.

Records are small JSON files in $BLUR_JOB_CACHE_DIR, else $XDG_CACHE_HOME/blur-photo-scoring/model-probes,
else ~/.cache/blur-photo-scoring/model-probes. A folder that cannot be written only means no record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from importlib import metadata as installed
from pathlib import Path

from model import METADATA_FILE, MODEL_DIR, MODEL_FILE

CACHE_DIR_ENV = "BLUR_JOB_CACHE_DIR"
PROBE_CODE = (MODEL_DIR / "contract.py", MODEL_DIR / "layers.py")
"""The code whose behaviour the probe's outcome depends on, besides the libraries."""
LIBRARIES = ("keras", "tensorflow", "numpy")

_log = logging.getLogger(__name__)


def cache_folder() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "blur-photo-scoring", "model-probes")


def _library_version(name: str) -> str:
    try:
        return installed.version(name)
    except installed.PackageNotFoundError:
        return "absent"


def probe_key(local_dir: str | os.PathLike) -> str | None:
    """The key of a probe of the local model folder `local_dir`, or None when a model file is missing
    (the probe itself then says which)."""
    digest = hashlib.sha256()
    for path in (Path(local_dir, MODEL_FILE), Path(local_dir, METADATA_FILE), *PROBE_CODE):
        try:
            data = path.read_bytes()
        except OSError:
            return None
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(hashlib.sha256(data).digest())
    for name in LIBRARIES:
        digest.update(f"{name}\0{_library_version(name)}\0".encode())
    return digest.hexdigest()


def _record(key: str) -> Path:
    return cache_folder() / f"{key}.json"


def passed_before(key: str | None, model_version: str) -> bool:
    """Did a probe under `key` pass (and name the same model version)?"""
    if key is None:
        return False
    try:
        record = json.loads(_record(key).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict) and record.get("key") == key and record.get("model_version") == model_version
    )


def remember(key: str | None, model_version: str) -> None:
    """Record that the probe under `key` passed; a cache folder that cannot be written is no error."""
    if key is None:
        return
    record = {"key": key, "model_version": model_version, "passed_at": datetime.now(UTC).isoformat()}
    folder = cache_folder()
    written = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a concurrent launch reads a whole record or none.
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as stream:
            written = stream.name
            json.dump(record, stream)
        os.replace(written, _record(key))
    except OSError as error:
        _log.debug("model probe not recorded in %s (%s)", folder, error)
        if written and os.path.exists(written):
            os.unlink(written)
