"""The README's commands, run as a reader would type them, so that they cannot drift from the code.

Every ```bash block is run as a shell script and every ```python block as a Python program, in README
order, in a copy of the repository (its own out/ and demo_photos/), with the virtualenv these tests run in
as its .venv. ```sh blocks are shown, not run: they need cloud credentials, so each of their commands must
name gs://, s3://, a cloud login or Dataflow. The demo's summary in the ```text block must be what the
demo prints.

`./run_tests.sh` cannot run the suite it is part of: its lines get `--collect-only -q` appended, which
still runs the set-up, ruff, the import contracts and the collection of every test.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.photos import REPO_ROOT

README = REPO_ROOT / "README.md"
MAX_LINES = 250
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHOWN_ONLY = {"sh", "text", ""}
CLOUD_ONLY = ("gs://", "s3://", "gcloud ", "AWS_", "DataflowRunner")
SUMMARY_COUNTS = ("files", "ok", "errors", "skipped", "blurry")
TIMEOUT_S = 900

# Not copied: the virtualenv (linked instead), outputs and caches of this checkout.
SKIP_AT_ROOT = {".git", ".venv", "out", "demo_photos", "training_cache", "build", "dist"}
SKIP_IN = {REPO_ROOT / "bench": {"work", "results"}}
SKIP_ANYWHERE = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(text)]


def shell_commands(body: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, blank and comment lines dropped."""
    joined = body.replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def runnable_script(body: str) -> str:
    """A bash block as the test runs it: `./run_tests.sh` lines only collect the tests (see above)."""
    lines = []
    for line in body.splitlines():
        if line.startswith("./run_tests.sh"):
            line = line.split("#", 1)[0].rstrip() + " --collect-only -q"
        lines.append(line)
    return "set -euo pipefail\n" + "\n".join(lines) + "\n"


def missing_modules(code: str) -> list[str]:
    """Top-level modules a Python block imports that this environment does not have."""
    names = re.findall(r"^(?:import|from)\s+(\w+)", code, re.MULTILINE)
    return [name for name in dict.fromkeys(names) if importlib.util.find_spec(name) is None]


def copy_repository(destination: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        skipped = {name for name in names if name in SKIP_ANYWHERE or name.endswith(".egg-info")}
        skipped |= SKIP_IN.get(here, set()) & set(names)
        if here == REPO_ROOT:
            skipped |= {name for name in names if name in SKIP_AT_ROOT or re.match(r"cull-.*\.csv$", name)}
        return skipped

    repo = destination / "repo"
    shutil.copytree(REPO_ROOT, repo, ignore=ignore, symlinks=True)
    (repo / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return repo


def test_readme_is_short_and_its_links_exist() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (REPO_ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_readme_shows_only_cloud_commands_it_does_not_run() -> None:
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    language, body = blocks[0]
    assert (language, [command.split()[0] for command in shell_commands(body)]) == (
        "bash",
        ["./run_local.sh", "./run_tests.sh"],
    ), "the quick start opens with ./run_local.sh and ./run_tests.sh"
    for language, body in blocks:
        assert language in SHOWN_ONLY | {"bash", "python"}, f"```{language}: run it (bash) or show it (sh)"
        if language == "sh":
            for command in shell_commands(body):
                assert any(mark in command for mark in CLOUD_ONLY), (
                    f"{command!r} can run here: put it in a ```bash block, which this test runs"
                )


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path: Path) -> None:
    repo = copy_repository(tmp_path)
    python = repo / ".venv" / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(repo)}  # worker processes import the copy, not this checkout
    outputs: list[str] = []
    not_run: list[str] = []
    for index, (language, body) in enumerate(fenced_blocks(README.read_text(encoding="utf-8"))):
        if language == "bash":
            script = tmp_path / f"block{index}.sh"
            script.write_text(runnable_script(body))
            command = ["bash", str(script)]
        elif language == "python":
            missing = missing_modules(body)
            if missing:
                not_run.append(f"python block {index} needs {', '.join(missing)}")
                continue
            program = tmp_path / f"block{index}.py"
            program.write_text(body)
            command = [str(python), str(program)]
        else:
            continue
        done = subprocess.run(
            command, cwd=repo, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"block {index} exited {done.returncode}:\n{body}\n{output[-6000:]}"
        outputs.append(output)

    # The demo's summary as the README shows it: the counts must be what the demo printed.
    text_block = next(body for language, body in fenced_blocks(README.read_text()) if language == "text")
    shown = [line for line in text_block.splitlines() if line.split(":")[0] in SUMMARY_COUNTS]
    assert len(shown) == len(SUMMARY_COUNTS)
    printed = {" ".join(line.split()) for line in outputs[0].splitlines()}
    for line in shown:
        assert " ".join(line.split()) in printed, f"README: {line!r}; the demo said:\n{outputs[0][-2000:]}"
    # A README example that cannot run with the pinned requirements is a broken promise, not a skip.
    assert not not_run, "README blocks that could not run: " + "; ".join(not_run)
