"""Progress lines and start-up noise, alone: the tally files the steps write, the reporter that reads
them, the line a person sees, and the stderr filter. (Whole runs printing progress:
tests/test_output_commit.py.)"""

from __future__ import annotations

import logging
import os

from pipeline.job import progress as run_progress
from pipeline.job.progress import MATCHED, Progress, ProgressReporter, Tally, read_tallies
from pipeline.job.quiet import DropNoise, drop_noise, filtered_native_stderr

# Printed by TensorFlow 2.21 on this machine when the model loads (time stamps shortened).
TENSORFLOW_START = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795996061.352208   18102 port.cc:153] oneDNN custom operations are on. You may see slightly \
different numerical results due to floating-point round-off errors from different computation orders. \
To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1795996061.352564   18102 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU \
will not be used.
I0000 00:00:1795995998.367737   16669 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use \
available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, \
rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1795996070.509146   18102 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: \
Failed call to cuInit: UNKNOWN ERROR (303)
E0000 00:00:1795996072.795612   18102 util.cc:131] oneDNN supports DT_UINT8 only on platforms with \
AVX-512. Falling back to the default Eigen-based implementation if present.
"""
REAL_ERROR = "E0000 00:00:1795996072.8 18102 op_kernel.cc:1857] OP_REQUIRES failed: out of memory\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tally(folder: str, key: str, times: int) -> None:
    step = Tally(folder, key)
    step.setup()
    for element in range(times):
        assert list(step.process(element)) == [element]  # elements pass through unchanged
    step.finish_bundle()


def test_tallies_of_the_steps_add_up(tmp_path) -> None:
    folder = str(tmp_path)
    _tally(folder, MATCHED, 500)
    _tally(folder, "ok", 120)
    _tally(folder, "error", 3)
    # Another worker process's file: the launcher sums every one.
    (tmp_path / "99999.json").write_text('{"ok": 10, "skipped": 2}')
    assert read_tallies(folder) == {MATCHED: 500, "ok": 130, "error": 3, "skipped": 2}


def test_the_reporter_speaks_once_per_interval_with_rate_and_eta(tmp_path, caplog) -> None:
    folder = str(tmp_path)
    clock = FakeClock()
    reporter = ProgressReporter(folder, interval_s=30, clock=clock)
    _tally(folder, MATCHED, 1000)
    clock.now += 5
    assert reporter.poll() is None  # quiet until the interval has passed
    _tally(folder, "ok", 100)
    clock.now += 5
    assert reporter.poll() is None  # sees the first rows (times the rate from here), says nothing
    _tally(folder, "ok", 190)
    _tally(folder, "error", 10)
    clock.now += 20
    with caplog.at_level(logging.INFO, logger="pipeline.job.progress"):
        seen = reporter.poll()
    assert seen == Progress(elapsed_s=30, matched=1000, done=300, errors=10, skipped=0, rate=10.0)
    assert caplog.messages == [
        "progress: 300 of 1,000 files done (30%), 10.0 files/s, 10 errors, ETA 1m10s, 30s in"
    ]
    clock.now += 29
    assert reporter.poll() is None


def test_progress_lines() -> None:
    assert Progress(3, None, 0, 0, 0, None).line() == "progress: matching files, none scored yet (3s in)"
    assert (
        Progress(75, 12000, 0, 0, 0, None).line()
        == "progress: 12,000 files matched, none scored yet (1m15s in)"
    )
    line = Progress(4000, 100000, 40000, 12, 5, 10.0).line()
    assert line == (
        "progress: 40,000 of 100,000 files done (40%), 10.0 files/s, 12 errors, 5 skipped, "
        "ETA 1h40m, 1h06m in"
    )


def test_start_up_noise_is_dropped_and_real_errors_kept(capfd) -> None:
    assert drop_noise(TENSORFLOW_START + REAL_ERROR) == REAL_ERROR
    with filtered_native_stderr():
        os.write(2, (TENSORFLOW_START + REAL_ERROR).encode())  # as C++ writes it: to the descriptor
    assert capfd.readouterr().err == REAL_ERROR


def test_beam_noise_filter() -> None:
    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("root", logging.WARNING, __file__, 1, message, None, None)

    keep = DropNoise()
    assert not keep.filter(record("Resource module is not available for current platform, memory usage ..."))
    assert keep.filter(record("Could not read gs://bucket/x.jpg"))
    assert run_progress.FLUSH_EVERY_S <= 1.0  # a worker's tally is at most a second behind
