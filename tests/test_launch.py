"""Launch checks and the match step end to end (real DirectRunner, real files in tmp folders): mistakes
stop the launcher in seconds with one line; every matched file, whatever its name, gets one row."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from model import METADATA_FILE, MODEL_DIR, MODEL_FILE
from model.contract import ModelContractError
from pipeline import score
from pipeline.job import cli
from pipeline.job.launch import LaunchError

REPO_ROOT = Path(__file__).resolve().parents[1]


def launch_fails(tmp_path: Path, *args: str, error=LaunchError, match: str = "") -> str:
    """Run the job and expect it to stop at launch, fast, having written nothing."""
    started = time.monotonic()
    with pytest.raises(error, match=match) as raised:
        score.run([*args, "--output", str(tmp_path / "out" / "scores")])
    assert time.monotonic() - started < 60
    assert not (tmp_path / "out").exists()
    return str(raised.value)


# --- flags -------------------------------------------------------------------------------------------


def test_a_misspelt_flag_is_an_error_naming_the_right_one(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.parse_job_args(["--input", "x/*.jpg", "--output", "o", "--blur_thresold", "0.3"])
    assert raised.value.code == 2
    assert "--blur_thresold (did you mean --blur_threshold?)" in capsys.readouterr().err


def test_beam_options_still_pass_through() -> None:
    job, beam_args = cli.parse_job_args(
        ["--input", "x", "--output", "o", "--direct_num_workers=2", "--runner", "DirectRunner", "--no_auth"]
    )
    assert beam_args == ["--direct_num_workers=2", "--runner", "DirectRunner", "--no_auth"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--blur_threshold", "1.5", "must be between 0 and 1"),
        ("--blur_threshold", "-0.1", "must be between 0 and 1"),
        ("--laplacian_threshold", "-5", "must be at least 0"),
        ("--blur_threshold", "half", "is not a number"),
    ],
)
def test_out_of_range_values_are_errors(capsys, flag, value, message) -> None:
    with pytest.raises(SystemExit):
        cli.parse_job_args(["--input", "x", "--output", "o", flag, value])
    assert message in capsys.readouterr().err


def test_the_command_prints_one_line_and_exits_2(tmp_path) -> None:
    """main(): a launch error is one line on stderr, no traceback, exit status 2 (before TensorFlow)."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.score", "--input", str(tmp_path / "nope" / "**"), "--output", "o"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"{tmp_path}/nope/** matched no file" in lines[0]
    assert "Traceback" not in done.stderr


# --- patterns ----------------------------------------------------------------------------------------


def test_no_match_names_the_pattern_unless_allow_empty(tmp_path, sharp_jpeg, run_job) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(sharp_jpeg)
    message = launch_fails(tmp_path, "--input", f"{tmp_path}/photos/*.jpg", match="matched no file")
    assert f"{tmp_path}/photos/*.jpg" in message and "--allow_empty" in message
    # A plain path that does not exist is a typo, --allow_empty or not.
    launch_fails(tmp_path, "--input", f"{tmp_path}/photos/b.jpg", match="no such file or folder")
    empty = run_job("--input", f"{tmp_path}/photos/*.jpg", "--allow_empty")
    assert empty.rows == [] and empty.summary.files == 0


def test_unbalanced_braces_are_an_error(tmp_path) -> None:
    launch_fails(tmp_path, "--input", f"{tmp_path}/*.{{jpg,png", match="without its")


@pytest.fixture(scope="module")
def album(tmp_path_factory, sharp_jpeg) -> Path:
    """Photos with every awkward spelling: upper-case extensions, brackets in names, a name that is not
    UTF-8, a dangling symlink, a symlink loop, a symlinked folder pointing back up."""
    root = tmp_path_factory.mktemp("album")
    for name in ("a.jpg", "DCIM/IMG_1.JPG", "DCIM/IMG_2.Jpg", "names/br[1].jpg", "names/br1.jpg", "x.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(sharp_jpeg)
    with open(os.fsencode(root) + b"/caf\xe9.jpg", "wb") as stream:
        stream.write(sharp_jpeg)
    (root / "dangling.jpg").symlink_to(root / "deleted.jpg")
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    (root / "DCIM" / "up").symlink_to(root)  # a folder link back to the top: listed once, no loop
    return root


@pytest.fixture(scope="module")
def album_run(album, run_job):
    """One run over the album, the same files spelt several ways: overlapping patterns, `..`, `//`,
    a relative pattern, a folder, upper-case extensions, braces."""
    cwd = os.getcwd()
    os.chdir(album / "DCIM")
    try:
        return run_job(
            "--input", f"{album}",  # a folder: every file under it
            "--input", f"{album}//DCIM/../**/*.jpg",
            "--input", "*.jpg",  # relative to the working directory
            "--input", f"{album}/*.{{png,jpg}}",
        )  # fmt: skip
    finally:
        os.chdir(cwd)


def test_every_file_gets_exactly_one_row_whatever_its_spelling(album, album_run) -> None:
    uris = [row["uri"] for row in album_run.rows]
    assert len(uris) == len(set(uris)), "a file was written twice"
    expected = {
        f"{album}/{name}"
        for name in ("a.jpg", "DCIM/IMG_1.JPG", "DCIM/IMG_2.Jpg", "names/br[1].jpg", "names/br1.jpg", "x.png")
    } | {f"{album}/caf\\xe9.jpg", f"{album}/dangling.jpg", f"{album}/loop.jpg"}
    assert set(uris) == expected
    by_uri = {row["uri"]: row for row in album_run.rows}
    assert by_uri[f"{album}/DCIM/IMG_1.JPG"]["status"] == "ok"
    # A name that is not UTF-8, from the folder and the glob forms alike, is read through its bytes.
    assert by_uri[f"{album}/caf\\xe9.jpg"]["status"] == "ok", by_uri[f"{album}/caf\\xe9.jpg"]["error"]
    assert by_uri[f"{album}/dangling.jpg"]["status"] == "error"
    assert by_uri[f"{album}/loop.jpg"]["status"] == "error"


def test_rows_carry_the_file_facts_from_the_listing(album, album_run) -> None:
    by_uri = {row["uri"]: row for row in album_run.rows}
    facts = os.stat(album / "a.jpg")
    row = by_uri[f"{album}/a.jpg"]
    assert row["file_size"] == facts.st_size
    assert row["modified_at"].timestamp() == pytest.approx(facts.st_mtime, abs=1e-6)
    assert row["carried_over"] is False
    assert by_uri[f"{album}/dangling.jpg"]["file_size"] is None


def test_a_relative_pattern_with_upper_case_extensions(album, run_job, monkeypatch) -> None:
    monkeypatch.chdir(album / "DCIM")
    output = run_job("--input", "*.jpg")
    assert sorted(row["uri"] for row in output.rows) == [f"{album}/DCIM/IMG_1.JPG", f"{album}/DCIM/IMG_2.Jpg"]


def test_a_literal_name_with_brackets_is_that_file(album, run_job) -> None:
    output = run_job("--input", f"{album}/names/br[1].jpg")
    assert [row["uri"] for row in output.rows] == [f"{album}/names/br[1].jpg"]
    assert output.rows[0]["status"] == "ok"


def test_a_quoted_tilde_is_the_home_folder(album, run_job, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(album))
    output = run_job("--input", "~/names/*.jpg")
    assert sorted(row["uri"] for row in output.rows) == [f"{album}/names/br1.jpg", f"{album}/names/br[1].jpg"]


def test_the_job_never_scores_its_own_output(tmp_path, sharp_jpeg) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(sharp_jpeg)
    prefix = str(folder / "scores")
    first = score.run(["--input", str(folder), "--output", prefix])
    assert first.files == 1 and list(folder.glob("scores-*"))  # shards and manifest sit among the photos
    (folder / "beam-temp-scores-0123").mkdir()
    (folder / "beam-temp-scores-0123" / "leftover").write_bytes(b"x")
    again = score.run(["--input", f"{folder}/**", "--output", prefix])
    assert again.files == 1 and again.errors == 0


# --- manifest ----------------------------------------------------------------------------------------


def test_manifest_names_with_hash_bom_and_spaces(tmp_path, sharp_jpeg, run_job) -> None:
    for name in ("#hash.jpg", "plain.jpg", " padded.jpg"):
        (tmp_path / name).write_bytes(sharp_jpeg)
    manifest = tmp_path / "list.txt"
    manifest.write_text(
        "\ufeff"
        + "\n".join(
            [
                "# a comment",
                f"{tmp_path}/#hash.jpg",
                f"  {tmp_path}/plain.jpg\t",
                f"{tmp_path}/ padded.jpg",
                "",
            ]
        ),  # fmt: skip
        encoding="utf-8",
    )
    output = run_job("--input_manifest", str(manifest))
    assert sorted(row["uri"] for row in output.rows) == sorted(
        [f"{tmp_path}/#hash.jpg", f"{tmp_path}/plain.jpg", f"{tmp_path}/ padded.jpg"]
    )
    assert all(row["status"] == "ok" and row["file_size"] == len(sharp_jpeg) for row in output.rows)


def test_a_manifest_in_another_encoding_stops_the_launch(tmp_path) -> None:
    manifest = tmp_path / "list.txt"
    manifest.write_bytes(f"{tmp_path}/a.jpg\n{tmp_path}/café.jpg\n".encode("latin-1"))
    message = launch_fails(tmp_path, "--input_manifest", str(manifest), match="line 2 is not UTF-8")
    assert "0xe9" in message
    manifest.write_bytes(f"{tmp_path}/a.jpg\n".encode("utf-16"))
    launch_fails(
        tmp_path, "--input_manifest", str(manifest), match="line 1 is not UTF-8 text .it starts like UTF-16"
    )


def test_an_empty_manifest_is_an_error_unless_allow_empty(tmp_path) -> None:
    manifest = tmp_path / "list.txt"
    manifest.write_text("# nothing yet\n\n")
    launch_fails(tmp_path, "--input_manifest", str(manifest), match="list.txt matched no file")


# --- model -------------------------------------------------------------------------------------------


def model_copy(tmp_path: Path, keras_bytes: bytes | None = None, metadata=None) -> str:
    folder = tmp_path / "model"
    folder.mkdir()
    if keras_bytes is not None:
        (folder / MODEL_FILE).write_bytes(keras_bytes)
    data = json.loads((MODEL_DIR / METADATA_FILE).read_text())
    (folder / METADATA_FILE).write_text(json.dumps(metadata(data) if metadata else data))
    return str(folder)


def model_fails(tmp_path: Path, model: str, match: str) -> None:
    (tmp_path / "a.jpg").write_bytes(b"never read")
    launch_fails(
        tmp_path, "--input", str(tmp_path / "a.jpg"), "--model", model, error=ModelContractError, match=match
    )


def test_a_missing_model_file_stops_the_launch(tmp_path) -> None:
    model_fails(tmp_path, model_copy(tmp_path), "no blur_model.keras in model folder")


def test_a_truncated_model_file_stops_the_launch(tmp_path) -> None:
    data = (MODEL_DIR / MODEL_FILE).read_bytes()
    model_fails(tmp_path, model_copy(tmp_path, data[: len(data) // 2]), "cannot be loaded as a Keras model")


def test_a_model_with_other_blur_types_stops_the_launch(tmp_path) -> None:
    def seven_types(data):
        data["blur_types"] = [*data["blur_types"], "lens_smudge"]
        return data

    model = model_copy(tmp_path, (MODEL_DIR / MODEL_FILE).read_bytes(), seven_types)
    model_fails(tmp_path, model, "blur_types")


def test_metadata_without_blur_types_stops_the_launch(tmp_path) -> None:
    def without(data):
        data.pop("blur_types")
        return data

    model_fails(tmp_path, model_copy(tmp_path, (MODEL_DIR / MODEL_FILE).read_bytes(), without), "blur_types")


def test_a_model_with_nan_weights_stops_the_launch(tmp_path) -> None:
    import keras

    from model import layers as _registers_the_models_own_layers  # noqa: F401

    network = keras.saving.load_model(MODEL_DIR / MODEL_FILE, compile=False)
    network.set_weights([np.full_like(weights, np.nan) for weights in network.get_weights()])
    broken = tmp_path / "broken.keras"
    network.save(broken)
    model_fails(tmp_path, model_copy(tmp_path, broken.read_bytes()), "non-finite outputs")


def test_a_model_folder_that_does_not_exist_stops_the_launch(tmp_path) -> None:
    shutil.rmtree(tmp_path / "model", ignore_errors=True)
    model_fails(tmp_path, str(tmp_path / "model"), "no metadata.json in model folder")
