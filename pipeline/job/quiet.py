"""Hide start-up noise: TensorFlow's (CUDA probing on a machine without a GPU, oneDNN notices), Beam's.

TensorFlow 2.21 writes these lines from C++ through absl before logging is set up, so
TF_CPP_MIN_LOG_LEVEL no longer hides them (tensorflow/tensorflow#100442; checked here: levels 1-3 all
print them). TF_ENABLE_ONEDNN_OPTS=0 would silence one of them by switching oneDNN off, which changes
the arithmetic; the job keeps oneDNN and only filters the lines. `filtered_native_stderr` captures
file descriptor 2 while TensorFlow is imported and the model loaded, drops the lines known to be
noise and writes every other line back, so a real error still shows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

TENSORFLOW_NOISE = re.compile(
    "|".join(
        [
            r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
            r"cudart_stub\.cc.*Could not find cuda drivers",
            r"cuda_platform\.cc.*failed call to cuInit",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
            r"oneDNN custom operations are on",
            r"oneDNN supports DT_\w+ only on platforms with",
            r"cpu_feature_guard\.cc.*This TensorFlow binary is optimized",
            r"^To enable the following instructions: .* rebuild TensorFlow",
        ]
    )
)
"""Lines TensorFlow prints on every start on a CPU-only machine; none of them needs action."""

_lock = threading.Lock()


def drop_noise(text: str, noise: re.Pattern[str] = TENSORFLOW_NOISE) -> str:
    """`text` without its lines that match `noise`."""
    return "".join(line for line in text.splitlines(keepends=True) if not noise.search(line))


@contextlib.contextmanager
def filtered_native_stderr(noise: re.Pattern[str] = TENSORFLOW_NOISE) -> Iterator[None]:
    """While the block runs, whatever this process writes to stderr (C++ included) is held back; at
    the end, the lines not matching `noise` are written to stderr. One block at a time per process."""
    with _lock:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = drop_noise(capture.read().decode("utf-8", errors="replace"), noise)
                if kept:
                    os.write(2, kept.encode("utf-8"))


BEAM_NOISE = re.compile(
    "|".join(
        [
            r"Resource module is not available for current platform",  # RunInference's memory probe
            r"No semi_persistent_directory found",  # DirectRunner worker processes, every start
            r"Discarding unparseable args",  # the same: runner-only flags reach the workers
        ]
    )
)
"""Warnings Beam logs on every local run (also forwarded from multi_processing workers); none needs
action."""


class DropNoise(logging.Filter):
    """A logging filter that drops records whose message matches `noise`."""

    def __init__(self, noise: re.Pattern[str] = BEAM_NOISE):
        super().__init__()
        self._noise = noise

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._noise.search(record.getMessage())
