"""The job translates for Dataflow: DataflowRunner with --dry_run builds the whole job description offline.

A dry run does everything a real submission does before the first API call: it applies Dataflow's
overrides, snapshots the pipeline as a runner-API proto, and builds the sdist of setup.py that would be
staged as workflow.tar.gz for the workers to pip-install. These tests inspect that proto and that sdist.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner

from pipeline import score
from pipeline.job.launch import LaunchError

REPO_ROOT = Path(__file__).resolve().parent.parent
DATAFLOW_FLAGS = [
    "--runner=DataflowRunner",
    "--dry_run=True",
    "--project=test-project",
    "--region=us-central1",
    "--temp_location=gs://bucket/tmp",
    "--no_auth",
    f"--setup_file={REPO_ROOT / 'setup.py'}",
]
JOB_FLAGS = ["--input", "gs://bucket/photos/**", "--output", "gs://bucket/blur/scores"]


def _refuse_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse and record every outbound connection or DNS look-up tried in this process.

    Recording, not only refusing, matters: client libraries catch connection errors and fall back
    quietly, so a refused call alone would not fail the test."""
    attempts: list[str] = []

    def refuse(what: str):
        def refused(*args, **kwargs):
            attempts.append(f"{what}{args[1:] if what == 'connect' else args}")
            raise OSError(f"network use in a dry run: {what}")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> DataflowRunner:
    """The job built by DataflowRunner with --dry_run; the runner keeps the job description it built."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        # The stager builds the sdist in a tempfile.mkdtemp() folder and leaves it there: make it ours.
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("staging")))
        network_attempts = _refuse_network(monkeypatch)
        runner = DataflowRunner()
        pipeline = beam.Pipeline(runner=runner, options=PipelineOptions(DATAFLOW_FLAGS))
        summary = score.run(JOB_FLAGS + DATAFLOW_FLAGS, test_pipeline=pipeline)
    assert summary is None  # a dry run scores nothing
    assert network_attempts == []
    return runner


def _staged_artifacts(runner: DataflowRunner) -> dict[str, Path]:
    """Staged name -> local file, for the artifacts the workers' environment would receive."""
    artifacts = {}
    for environment in runner.job.proto_pipeline.components.environments.values():
        for dependency in environment.dependencies:
            path = beam_runner_api_pb2.ArtifactFilePayload.FromString(dependency.type_payload).path
            role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dependency.role_payload)
            artifacts[role.staged_name] = Path(path)
    return artifacts


def test_job_graph_has_every_step(dry_run: DataflowRunner) -> None:
    transforms = dry_run.job.proto_pipeline.components.transforms.values()
    names = {transform.unique_name for transform in transforms}
    top_level = {name for name in names if "/" not in name}
    assert {"MatchFiles", "Reshuffle", "Decode", "RunInference"} <= top_level
    assert any("WriteToParquet" in name for name in names)
    assert dry_run.job.proto.type_.name == "JOB_TYPE_BATCH"


def test_workers_run_the_matching_beam_container(dry_run: DataflowRunner) -> None:
    images = set()
    for environment in dry_run.job.proto_pipeline.components.environments.values():
        payload = beam_runner_api_pb2.DockerPayload.FromString(environment.payload)
        images.add(payload.container_image)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    # Dataflow's own build of Beam's SDK image, for the launcher's Python and Beam versions.
    assert len(images) == 1
    assert images.pop().endswith(f"/beam_python{python}_sdk:{beam.__version__}")


def test_setup_file_sdist_carries_the_job_and_its_model(dry_run: DataflowRunner, tmp_path: Path) -> None:
    sdist = _staged_artifacts(dry_run)["workflow.tar.gz"]
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    expected = {
        "setup.py",
        "requirements.txt",  # setup.py reads it again when the worker installs the sdist
        "pipeline/score.py",
        "pipeline/photo/decode.py",
        "model/__init__.py",
        "model/blur_model.keras",
        "model/metadata.json",
    }
    assert expected <= names

    # Install it as a worker would (without the dependencies, already in this venv) and check that the
    # installed package finds its model through model.MODEL_DIR, away from the repo.
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--disable-pip-version-check", "--target", str(site), str(sdist)],
        check=True,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    probe = (
        "import model, pipeline.score; "
        "print(model.MODEL_DIR); "
        "print(all((model.MODEL_DIR / name).is_file() for name in ('blur_model.keras', 'metadata.json')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert found == [str(site / "model"), "True"]


# --- The dry run's job description, and what Dataflow cannot do (issue 22, item 7) ----------------

SECRET = "dry-run-s3cr3t-7c41e0"


@pytest.fixture(scope="module")
def job_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dry run given --dataflow_job_file (and a credential flag); the file it wrote."""
    folder = tmp_path_factory.mktemp("job")
    path = folder / "descriptions" / "job.json"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(tempfile, "tempdir", str(folder))
        flags = [*DATAFLOW_FLAGS, f"--dataflow_job_file={path}", f"--s3_secret_access_key={SECRET}"]
        pipeline = beam.Pipeline(runner=DataflowRunner(), options=PipelineOptions(flags))
        assert score.run(JOB_FLAGS + flags, test_pipeline=pipeline) is None
    return path


def test_dry_run_writes_the_job_description_to_the_job_file(job_file: Path) -> None:
    text = job_file.read_text()
    described = json.loads(text)
    assert described["job"]["type"] == "JOB_TYPE_BATCH" and described["job"]["name"].startswith("beamapp-")
    names = {
        transform["uniqueName"] for transform in described["pipeline"]["components"]["transforms"].values()
    }
    assert {"MatchFiles", "Reshuffle", "Decode", "RunInference"} <= names
    assert described["pipeline_options"]["project"] == "test-project"
    assert described["pipeline_options"]["s3_secret_access_key"] == "<redacted>"
    assert SECRET not in text


def test_dry_run_without_a_job_file_writes_one_and_says_where(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    pipeline = beam.Pipeline(runner=DataflowRunner(), options=PipelineOptions(DATAFLOW_FLAGS))
    with caplog.at_level(logging.INFO, logger="pipeline.score"):
        score.run(JOB_FLAGS + DATAFLOW_FLAGS, test_pipeline=pipeline)
    [said] = [
        record.getMessage() for record in caplog.records if "job description is in" in record.getMessage()
    ]
    path = Path(said.rsplit(" ", 1)[1])
    assert path.parent == tmp_path and path.name.startswith("blur-dataflow-job-")
    assert json.loads(path.read_text())["job"]["type"] == "JOB_TYPE_BATCH"


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--input", "/home/me/photos/**"), ("--output", "out/scores"), ("--model", "/home/me/model")],
)
def test_local_paths_are_refused_with_dataflow(flag: str, value: str) -> None:
    job = dict(zip(JOB_FLAGS[::2], JOB_FLAGS[1::2], strict=True)) | {flag: value}
    args = [item for pair in job.items() for item in pair]
    pipeline = beam.Pipeline(runner=DataflowRunner(), options=PipelineOptions(DATAFLOW_FLAGS))
    with pytest.raises(
        LaunchError, match=f"^{re.escape(flag + ' ' + value)}: a local path with DataflowRunner; "
    ):
        score.run(args + DATAFLOW_FLAGS, test_pipeline=pipeline)


def test_the_sdist_is_built_with_build_not_the_legacy_fallback() -> None:
    """Beam's stager runs `python -m build --sdist` first; without the `build` package it prints "No
    module named build" and falls back to `setup.py sdist`."""
    built = subprocess.run([sys.executable, "-m", "build", "--version"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
