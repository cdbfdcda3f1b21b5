"""Shared test fixtures: real photo files made from scikit-image's bundled photos, and a job runner.

Everything is generated into pytest's temporary folders, offline and deterministically. Pipeline
runs cost seconds each, so test modules share them through module-scoped fixtures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from support.photos import (
    REPO_ROOT,
    SHARED_DATA,
    SHARP_PHOTOS,
    JobOutput,
    PhotoFolder,
    committed_shards,
    encode,
    make_photo_folder,
    sharp_rgb,
)

# Workers of the multi-process DirectRunner are new Python processes: they must find `pipeline`
# wherever pytest was started from.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))


@pytest.fixture(autouse=True, scope="session")
def own_model_probe_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The launcher remembers model probes that passed (pipeline.job.model_probe): the tests start with
    none and keep theirs out of the user's cache."""
    from pipeline.job.model_probe import CACHE_DIR_ENV

    folder = tmp_path_factory.mktemp("model-probes")
    before = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(CACHE_DIR_ENV, None)
    else:
        os.environ[CACHE_DIR_ENV] = before


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> PhotoFolder:
    return make_photo_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
def sharp_photos() -> dict[str, np.ndarray]:
    """The sharp scikit-image photos as RGB uint8 arrays, by name."""
    return {name: sharp_rgb(name) for name in SHARP_PHOTOS}


@pytest.fixture(scope="session")
def photo_views(sharp_photos) -> list[np.ndarray]:
    """Views of three real photos, built the way the job builds them."""
    from pipeline.job.measure import measure_photo
    from pipeline.photo.decode import DecodedPhoto

    photos = [sharp_photos[name] for name in ("astronaut", "chelsea", "coffee")]
    return [measure_photo(DecodedPhoto(rgb, rgb.shape[1], rgb.shape[0], "PNG")).views for rgb in photos]


@pytest.fixture(scope="session")
def sharp_jpeg() -> bytes:
    """A real sharp photo as JPEG bytes."""
    return encode(sharp_rgb("coffee"), "JPEG", quality=90)


@pytest.fixture(scope="session")
def run_job(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., JobOutput]:
    """run_job(*args) runs `python -m pipeline.score ARGS --output <new tmp prefix>` in this process
    (the real DirectRunner) and returns the summary and the committed Parquet rows read back."""

    from pipeline import score  # Beam is imported only by the tests that run the job
    from pipeline.results.reader import read_results

    def run(*args: str) -> JobOutput:
        prefix = str(tmp_path_factory.mktemp("out") / "scores")
        summary = score.run([*args, "--output", prefix])
        assert summary is not None
        shards = committed_shards(prefix)
        assert sorted(shards) == sorted(summary.output_files)
        table = read_results(prefix).sort_by("uri")
        # The run's manifest sits beside the shards and agrees with the rows.
        written = json.loads(Path(f"{prefix}-manifest.json").read_text())
        assert written["rows"] == table.num_rows == written["files"] == summary.files
        assert written["run_id"] == summary.run_id
        assert set(table.column("run_id").to_pylist()) <= {summary.run_id}  # every row (if any)
        assert written["ok"] == table.column("status").to_pylist().count("ok")
        return JobOutput(prefix, summary, table.to_pylist(), table)

    return run


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running gcp-storage-emulator (see support/gcs_emulator.py); its URL. One per test module."""
    from support.gcs_emulator import running_emulator

    with running_emulator(tmp_path_factory.mktemp("gcs")) as url:
        yield url


@pytest.fixture(scope="session")
def photo_folder_run(photo_folder, run_job) -> JobOutput:
    """One run of the job over the whole photo folder, shared by the tests that read results."""
    return run_job("--input", f"{photo_folder.root}/**")


SLOW_MODULES = {
    "test_dataflow",
    "test_evaluate",
    "test_fuzz",
    "test_gcs",
    "test_hostile_files",
    "test_incremental",
    "test_launch_gcs",
    "test_model_quality",
    "test_output_commit",
    "test_pipeline_local",
    "test_readme",
    "test_review",
    "test_s3",
}
"""Modules whose tests run real jobs, servers, browsers or the model over real photos throughout."""

SLOW_TESTS = {
    "test_a_probed_model_is_not_loaded_again",
    "test_the_job_never_scores_its_own_output",
    "test_evaluating_a_model_does_not_import_beam",
    "test_manifests_and_shards_are_read_within_a_size_limit",
    "test_an_interrupted_move_loses_no_photo",
}
"""Single tests of 5 s or more elsewhere (pytest --durations, on an idle 2-core machine)."""

SLOW_FIXTURES = {"run_job", "photo_folder_run", "emulator"}
"""Fixtures that start a real Beam job or a storage emulator: any test using one is slow."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tests in one place, so `./run_tests.sh --fast` (-m "not slow") stays about two
    minutes; CI runs everything."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        slow_test = getattr(item, "originalname", item.name) in SLOW_TESTS
        if module in SLOW_MODULES or slow_test or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_report_header() -> str:
    state = "found" if SHARED_DATA.is_dir() else "MISSING: the tests on real photos will fail"
    return f"shared photos (../shared/data): {SHARED_DATA} ({state})"


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:
    """Say it once, at the end, where a reader of a red run looks first."""
    if not SHARED_DATA.is_dir() and terminalreporter.stats.get("failed"):
        terminalreporter.write_line(
            f"The team's real photos are missing at {SHARED_DATA}: tests that read them fail. Put the "
            "shared data beside the checkout (../shared/data); see ../shared/data/README.md.",
            red=True,
        )
