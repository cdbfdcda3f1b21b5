"""A real GCS-protocol server for tests: gcp-storage-emulator on 127.0.0.1 (the `emulator` fixture in
conftest.py starts it once per test module that asks for it)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from apache_beam.internal.gcp import auth as beam_auth
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

PROJECT = "test-project"
EMULATOR = Path(sys.executable).with_name("gcp-storage-emulator")  # the venv's console script
START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, probe_url: str, log: Path, name: str) -> None:
    """Until `probe_url` answers 200 (a loopback test server started as `process`, logging to `log`)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(probe_url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{name} did not answer within {START_TIMEOUT_S} s:\n{log.read_text()}")


def start_server(command: list[str], log: Path) -> subprocess.Popen:
    """Start a test server with its output in `log` (shown when it does not answer)."""
    with open(log, "wb") as log_file:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)


def moto_command(port: int | str) -> list[str]:
    """The command line of moto's S3 server on 127.0.0.1:`port` (the venv's console script)."""
    return [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]


def emulator_command(port: int | str) -> list[str]:
    """The command line of an in-memory emulator on 127.0.0.1:`port`."""
    return [str(EMULATOR), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"]


def stop_server(process: subprocess.Popen) -> None:
    """Stop a test server: politely, then for good after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_emulator(workdir: Path) -> Iterator[str]:
    """A running emulator; every GCS client in this process talks to it, anonymously, until exit."""
    log = workdir / "emulator.log"
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    with pytest.MonkeyPatch.context() as env:
        process = start_server(emulator_command(port), log)
        try:
            wait_until_serving(process, f"{url}/storage/v1/b?project={PROJECT}", log, "gcp-storage-emulator")
            env.setenv("STORAGE_EMULATOR_HOST", url)
            env.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
            # No real credentials may leak in, and google-auth must not probe the GCE metadata server.
            env.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
            env.setenv("CLOUDSDK_CONFIG", str(workdir / "gcloud"))
            env.setenv("NO_GCE_CHECK", "True")
            # With no credentials Beam's gs:// file system ends up on an anonymous client anyway, but only
            # after about 20 s of retried credential look-ups (once per process). Start from that outcome.
            env.setattr(beam_auth._Credentials, "_credentials_init", True)
            env.setattr(beam_auth._Credentials, "_credentials", None)
            yield url
        finally:
            stop_server(process)


def client() -> storage.Client:
    """A google-cloud-storage client of the running emulator."""
    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())
