"""The benchmark harness's own parts (bench/): the photos it makes, its arithmetic, its process measuring.

No timing is asserted here: speed is measured by `python -m bench.run_bench`, never by a test.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import skimage.data
from PIL import Image

from bench import camera_roll
from bench.figures import DataflowPrices, WorkerShape, dataflow_cost_per_million, inrun_rate, steady_state
from bench.procs import measure_command, parse_stat
from bench.report import markdown
from bench.runs import summarize_system
from bench.systems import job_counts, job_shards, model_load_lines, read_job_manifest, scored_at_times
from pipeline.job.commit import RunSummary, write_manifest
from pipeline.photo.decode import decode_photo
from pipeline.storage.output import OutputLocation

SMALL = camera_roll.RollRecipe(width=160, height=120, quality=92, noise_sigma=4.0, seed=7)


@pytest.fixture
def sources(tmp_path: Path) -> list[Path]:
    """Two real photos: one landscape, one portrait (a tall crop of the astronaut)."""
    folder = tmp_path / "sources"
    folder.mkdir()
    Image.fromarray(skimage.data.chelsea()).save(folder / "cat.png")  # 451x300
    Image.fromarray(np.ascontiguousarray(skimage.data.astronaut()[:, :300])).save(
        folder / "tall.jpg"
    )  # 300x512
    return camera_roll.image_files(folder)


def test_camera_roll_makes_phone_like_jpegs(sources: list[Path], tmp_path: Path) -> None:
    paths = camera_roll.make_roll(sources, tmp_path / "roll", 4, SMALL, processes=1)

    assert [path.name for path in paths] == [camera_roll.photo_name(index) for index in range(4)]
    portraits = 0
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.size == (160, 120)  # stored landscape, as phones do
            orientation = image.getexif().get(camera_roll.EXIF_ORIENTATION, 1)
        decoded = decode_photo(path.read_bytes())  # the job's decoder applies the orientation
        if orientation == camera_roll.ROTATE_90_CW_TO_VIEW:
            portraits += 1
            assert (decoded.width, decoded.height) == (120, 160)
        else:
            assert (decoded.width, decoded.height) == (160, 120)
    assert portraits == 2  # both sources are used, round and round
    assert len({path.read_bytes() for path in paths}) == 4  # own crop and noise: no two files alike


def test_camera_roll_noise_is_there_and_unbiased() -> None:
    flat = np.full((200, 200, 3), 128, np.uint8)
    noisy = camera_roll.sensor_noise(flat, 4.0, np.random.default_rng(0)).astype(np.float64)
    assert 2.0 < noisy.std() < 8.0
    assert abs(noisy.mean() - 128) < 0.5


def test_camera_roll_is_reused_and_remade_when_the_recipe_changes(
    sources: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "roll"
    first = camera_roll.make_roll(sources, folder, 2, SMALL, processes=1)
    stamps = [path.stat().st_mtime_ns for path in first]
    size_at_92 = first[0].stat().st_size
    again = camera_roll.make_roll(sources, folder, 3, SMALL, processes=1)
    assert [path.stat().st_mtime_ns for path in again[:2]] == stamps  # the first two were kept
    assert again[2].exists()

    other = camera_roll.make_roll(sources, folder, 2, replace(SMALL, quality=70), processes=1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(p.name for p in other), camera_roll.MANIFEST]
    )
    assert other[0].stat().st_size < size_at_92  # remade at the lower quality


def test_link_subset_repeats_the_files_as_links(sources: list[Path], tmp_path: Path) -> None:
    folder = camera_roll.link_subset(sources, tmp_path / "five", 5)
    links = sorted(folder.iterdir())
    assert len(links) == 5
    assert [os.path.samefile(link, sources[index % 2]) for index, link in enumerate(links)] == [True] * 5
    assert len(list(camera_roll.link_subset(sources, folder, 3).iterdir())) == 3  # replaced, not added to


def test_steady_state_cancels_start_up() -> None:
    # 10 s of start-up, then 20 photos a second.
    steady = steady_state(100, 10 + 100 / 20, 300, 10 + 300 / 20, c1=12.0, c2=22.0)
    assert steady.images_per_s == pytest.approx(20.0)
    assert steady.startup_s == pytest.approx(10.0)
    assert steady.cpu_s_per_image == pytest.approx(0.05)


def test_steady_state_refuses_what_it_cannot_tell() -> None:
    assert steady_state(100, 30.0, 200, 29.0).images_per_s is None  # noise larger than the work
    with pytest.raises(ValueError):
        steady_state(200, 1.0, 100, 2.0)


def test_inrun_rate_leaves_out_start_and_end() -> None:
    # 100 photos at 10 a second, after 20 s of start-up and before a 5 s straggler.
    times = [20 + index / 10 for index in range(99)] + [40.0]
    assert inrun_rate(times) == pytest.approx(10.0)
    assert inrun_rate([5.0] * 50) is None  # all in one instant: no rate to tell


def test_dataflow_cost_adds_up() -> None:
    prices = DataflowPrices(vcpu_hour=0.1, memory_gb_hour=0.01, standard_pd_gb_hour=0.001, shuffle_gb=0.0)
    worker = WorkerShape("test-2", vcpus=2, memory_gb=4.0, disk_gb=10.0)
    cost = dataflow_cost_per_million(
        1_000_000 / 3600 / 2, worker=worker, prices=prices, photos=1_000_000
    )  # exactly 2 vCPU-hours = 1 worker-hour
    assert cost["vcpu_hours"] == 2.0 and cost["worker_hours"] == 1.0
    usd = cost["usd"]
    assert usd["vcpu"] == pytest.approx(0.2)
    assert usd["memory"] == pytest.approx(0.04)
    assert usd["disk"] == pytest.approx(0.01)
    assert usd["gcs_reads"] == pytest.approx(0.4)
    assert usd["total"] == pytest.approx(0.65)


def test_parse_stat_survives_odd_process_names() -> None:
    fields = ["S", "42"] + ["0"] * 9 + ["250", "150"] + ["0"] * 30
    text = "1234 (we(ird) name) " + " ".join(fields)
    parent, cpu = parse_stat(text)
    assert parent == 42
    assert cpu == pytest.approx(400 / os.sysconf("SC_CLK_TCK"))


def test_measure_command_sees_the_whole_process_tree(tmp_path: Path) -> None:
    # A parent that starts a child holding 200 MB: the child's memory must be counted with the parent's.
    child = "import time; block = bytearray(200 * 1024 * 1024); time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    measured = measure_command([sys.executable, "-c", parent], log_prefix=tmp_path / "run", interval=0.05)
    assert measured.returncode == 0
    assert measured.peak_rss_mb > 200
    assert measured.peak_processes == 2
    assert len(measured.descendants) == 1 and "bytearray" in measured.descendants[0]
    assert (tmp_path / "run.out").exists() and (tmp_path / "run.err").exists()


def test_job_counts_and_rows_come_from_the_manifest_and_the_shards_it_lists(tmp_path: Path) -> None:
    prefix = tmp_path / "out" / "scores"
    prefix.parent.mkdir()
    assert read_job_manifest(prefix) is None  # a run without a manifest is not a result
    assert job_counts(None)["manifest"] is None

    stamps = [datetime(2026, 11, 29, 0, 0, second, tzinfo=UTC) for second in (1, 2, 3)]
    table = pa.table(
        {"status": ["ok", "error", "ok"], "scored_at": pa.array(stamps, pa.timestamp("us", "UTC"))}
    )
    shard = prefix.parent / "scores-00000-of-00001.parquet"
    pq.write_table(table, shard)
    pq.write_table(table, prefix.parent / "scores-stray-00000-of-00001.parquet")  # not listed: not read
    summary = RunSummary(
        files=12,
        ok=11,
        errors=1,
        blurry=4,
        model_loads=2,
        output_prefix=str(prefix),
        output_files=(str(shard),),
        source="metrics",
        run_id="20261129T000000Z-abcdef",
        rows=3,
        model_version="v",
    )
    write_manifest(summary, OutputLocation(str(prefix)))

    manifest = read_job_manifest(prefix)
    found = job_counts(manifest)
    assert {key: found[key] for key in ("files", "ok", "errors", "blurry", "model_loads_metric")} == {
        "files": 12,
        "ok": 11,
        "errors": 1,
        "blurry": 4,
        "model_loads_metric": 2,
    }
    assert found["manifest"]["shards"] == [shard.name] and found["manifest"]["run_id"] == summary.run_id
    assert job_shards(prefix, manifest) == [shard]
    assert scored_at_times(job_shards(prefix, manifest)) == [stamps[0].timestamp(), stamps[2].timestamp()]

    line = (
        "2026-11-27 00:08:31,951 INFO pipeline.job.inference: "
        "Loaded blur model m (version v) in pid 165 in 0.9 s"
    )
    assert model_load_lines(line + "\n" + line) == {"model_load_log_lines": 2, "model_load_log_pids": 1}


def test_report_from_two_runs() -> None:
    def run(n: int, wall: float) -> dict:
        return {
            "n": n,
            "wall_s": wall,
            "cpu_s": wall * 2,
            "peak_rss_mb": 1000.0,
            "peak_pss_mb": 600.0,
            "reported": {"model_loads_metric": 2},
        }

    job = summarize_system([run(100, 15.0), run(200, 20.0), run(200, 21.0)], 100, 200, cpus=2)
    assert job["steady_images_per_s"] == 20.0 and job["steady_images_per_s_per_core"] == 10.0
    result = {
        "sizes": [100, 200],
        "photos": {"count": 200, "first_file_pixels": "4032x3024", "mean_mb": 3.0},
        "systems": {"job_all_cores": job},
        "headline": {},
    }
    assert "| job_all_cores | 20.0 | - | 10.0 | 10.0 | 100 | 1000 (600) | 2 |" in markdown(result)
