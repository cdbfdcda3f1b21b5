"""model/contract.py and pipeline/verdict.py: a model folder is checked before the job reads a photo,
evaluation loads the model without Beam, and the rows and evaluation decide "blurry" the same way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pytest

from model import METADATA_FILE, MODEL_DIR, MODEL_FILE
from model.contract import ModelContractError, ModelMetadata, read_metadata
from model.labels import BLUR_TYPES
from pipeline import score
from pipeline.job.inference import BlurPrediction
from pipeline.job.measure import PhotoFacts
from pipeline.job.rows import ok_row
from pipeline.storage.files import MatchedFile
from training.evaluation.rows import Row


def model_folder_with(tmp_path, change) -> str:
    """A copy of the shipped model folder whose metadata.json was edited by `change(dict)`."""
    shutil.copy(MODEL_DIR / MODEL_FILE, tmp_path / MODEL_FILE)
    metadata = json.loads((MODEL_DIR / METADATA_FILE).read_text())
    change(metadata)
    (tmp_path / METADATA_FILE).write_text(json.dumps(metadata))
    return str(tmp_path)


def test_shipped_metadata_round_trips_and_matches_the_job() -> None:
    metadata = read_metadata(MODEL_DIR)
    metadata.check_matches_job()
    assert metadata.blur_types == BLUR_TYPES
    assert ModelMetadata.from_json(metadata.to_json()) == metadata


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("blur_types"), "missing field blur_types"),
        (lambda m: m["input"].pop("view_size"), "missing field input.view_size"),
        (lambda m: m.pop("working_scale"), "missing field working_scale"),
        (lambda m: m["working_scale"].update(long_side=800), "working_long_side = 800"),
        (lambda m: m["working_scale"].update(kernel_id=1), "resize_kernel_id = 1"),
        (lambda m: m["input"].update(views_per_photo=3), "views_per_photo = 3"),
        (lambda m: m.update(blur_types=["sharp", "blurry"]), "blur_types"),
        (lambda m: m.update(version=""), "version is empty"),
    ],
)
def test_a_bad_metadata_file_stops_the_job_at_launch(tmp_path, change, message) -> None:
    model = model_folder_with(tmp_path, change)
    started = datetime.now(UTC)
    with pytest.raises(ModelContractError, match=message):
        score.run(
            [
                "--input",
                str(tmp_path / "*.jpg"),
                "--allow_empty",
                "--output",
                str(tmp_path / "out"),
                "--model",
                model,
            ]
        )
    assert (datetime.now(UTC) - started).total_seconds() < 30  # at launch, not after a night of scoring
    assert not list(tmp_path.glob("out*"))


def test_evaluating_a_model_does_not_import_beam() -> None:
    code = (
        "import sys, numpy as np\n"
        "import training.evaluate, training.evaluation.run\n"
        "from model import MODEL_DIR\n"
        "from model.contract import load_blur_model\n"
        "model = load_blur_model(MODEL_DIR)\n"
        "p = model.predict(np.zeros((2, 5, 200, 200, 3), np.uint8))\n"
        "assert p.blur_probability.shape == (2,) and p.type_probabilities.shape == (2, 6)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'apache_beam'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_rows_and_evaluation_give_the_same_verdict() -> None:
    """The job's rows and the held-out evaluation both decide through pipeline.verdict; if either ever
    writes its own rule, some of these random cases (thresholds, ties, type head against verdict) differ."""
    rng = np.random.default_rng(7)
    cases = [(0.5, 100.0), (0.4999999, 99.9999)] + [
        (float(rng.choice([rng.random(), 0.5])), float(rng.choice([rng.random() * 300, 100.0])))
        for _ in range(300)
    ]
    for probability, laplacian_var in cases:
        types = tuple(float(p) for p in rng.dirichlet(np.ones(len(BLUR_TYPES))))
        facts = PhotoFacts(MatchedFile("a.jpg"), 10, 10, "JPEG", laplacian_var)
        row = ok_row(
            facts,
            BlurPrediction(probability, types, "v"),
            laplacian_threshold=100.0,
            blur_threshold=0.5,
            scored_at=datetime.now(UTC),
        )
        evaluated = Row(
            set="synthetic", source="s", kind="k", blur_type="none", blurry=False, size="400", long_side=400,
            source_long_side=400, laplacian_var=laplacian_var, probability=probability,
            type_probabilities=list(types),
        )  # fmt: skip
        assert (row["blurry"], row["laplacian_blurry"], row["blur_type"]) == (
            evaluated.verdict,
            evaluated.laplacian_blurry,
            evaluated.predicted_type,
        )
