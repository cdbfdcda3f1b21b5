"""The job translates for Dataflow: DataflowRunner with --dry_run builds the whole job description offline.

A dry run does everything a real submission does before the first API call: it applies Dataflow's
overrides, snapshots the pipeline as a runner-API proto, and builds the sdist of setup.py that would be
staged as workflow.tar.gz for the workers to pip-install. These tests inspect that proto and that sdist.
"""

from __future__ import annotations

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
