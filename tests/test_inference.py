"""The blur model handler with the shipped model: one load, one graph, right shapes, failures as rows."""

from __future__ import annotations

import json
import math
import shutil

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing.util import assert_that

from model import MODEL_DIR
from model.inputs import VIEW_SIZE, VIEWS_PER_PHOTO
from model.labels import BLUR_TYPES
from pipeline.job.inference import (
    BATCH_SIZE,
    METADATA_FILE,
    MODEL_FILE,
    BlurModelHandler,
    read_metadata,
    stack_padded,
)
from pipeline.job.measure import PhotoFacts
from pipeline.job.steps import METRICS_NAMESPACE, inference_failures
from pipeline.storage.files import MatchedFile


@pytest.fixture(scope="module")
def handler() -> BlurModelHandler:
    return BlurModelHandler(MODEL_DIR)


@pytest.fixture(scope="module")
def loaded(handler):
    return handler.load_model()


def test_loads_the_shipped_model(loaded) -> None:
    assert loaded.version == read_metadata(str(MODEL_DIR)).version
    assert loaded.model._graph.experimental_get_tracing_count() == 1  # the graph is built at load time


def test_batches_of_any_size_share_one_graph(handler, loaded, photo_views) -> None:
    for size in (1, 3, 8, 17, 64):
        batch = [photo_views[index % len(photo_views)] for index in range(size)]
        predictions = list(handler.run_inference(batch, loaded))
        assert len(predictions) == size
        for prediction in predictions:
            assert 0.0 <= prediction.blur_probability <= 1.0
            assert len(prediction.type_probabilities) == len(BLUR_TYPES)
            assert all(0.0 <= p <= 1.0 for p in prediction.type_probabilities)
            assert math.isclose(sum(prediction.type_probabilities), 1.0, abs_tol=1e-5)
        # The same photo gets the same answer whatever batch it is in.
        alone = list(handler.run_inference(batch[:1], loaded))[0]
        assert math.isclose(predictions[0].blur_probability, alone.blur_probability, abs_tol=1e-6)
    assert loaded.model._graph.experimental_get_tracing_count() == 1


def test_batching_is_bounded(handler) -> None:
    kwargs = handler.batch_elements_kwargs()
    assert (kwargs["min_batch_size"], kwargs["max_batch_size"]) == (BATCH_SIZE, BATCH_SIZE)
    # No max_batch_duration_secs: it would make BatchElements stateful (a shuffle of every photo's views).
    assert "max_batch_duration_secs" not in kwargs


def test_num_bytes_is_the_pixels(handler, photo_views) -> None:
    assert (
        handler.get_num_bytes(photo_views) == len(photo_views) * VIEWS_PER_PHOTO * VIEW_SIZE * VIEW_SIZE * 3
    )


def test_a_model_with_other_blur_types_is_refused(tmp_path) -> None:
    shutil.copy(MODEL_DIR / MODEL_FILE, tmp_path / MODEL_FILE)
    metadata = read_metadata(str(MODEL_DIR)).to_json()
    metadata["blur_types"] = ["sharp", "blurry"]
    (tmp_path / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="blur_types"):
        BlurModelHandler(tmp_path).load_model()


def test_in_a_pipeline_the_model_loads_once_and_failed_batches_become_failures(photo_views) -> None:
    """RunInference on the real DirectRunner: 24 photos in batches of 4 need one model load. One
    example the model cannot take fails its whole batch; inference_failures makes a failure of each
    photo in that batch, so every photo comes out exactly once, scored or failed."""
    views = photo_views[0]  # one real photo's views, reused: Create would pickle every element into the job

    def example(index: int) -> tuple[PhotoFacts, np.ndarray]:
        if index == 24:  # views of the wrong size: the model's input signature refuses them
            return PhotoFacts(MatchedFile("wrong-size.jpg"), 1, 1, "JPEG", 1.0), views[:, :100, :100]
        return PhotoFacts(MatchedFile(f"photo-{index}.jpg"), 1, 1, "JPEG", 1.0), views

    all_uris = sorted([*(f"photo-{index}.jpg" for index in range(24)), "wrong-size.jpg"])
    handler = KeyedModelHandler(BlurModelHandler(MODEL_DIR, min_batch_size=4, max_batch_size=4))

    def check(outcomes: list[tuple[str, str]]) -> None:
        assert sorted(uri for uri, _ in outcomes) == all_uris
        failed = {uri: outcome for uri, outcome in outcomes if outcome != "ok"}
        assert "wrong-size.jpg" in failed and len(failed) <= 4
        assert all(reason.startswith("model inference failed (") for reason in failed.values())

    pipeline = beam.Pipeline()
    predictions, failed = (
        pipeline
        | beam.Create(range(25))
        | beam.Map(example)
        | RunInference(handler).with_exception_handling()
    )
    scored = predictions | "Scored" >> beam.MapTuple(lambda facts, prediction: (facts.uri, "ok"))
    failures = (
        failed.failed_inferences
        | beam.FlatMap(inference_failures)
        | "Failed" >> beam.Map(lambda failure: (failure.uri, failure.reason))
    )
    assert_that((scored, failures) | beam.Flatten(), check)
    result = pipeline.run()
    result.wait_until_finish()
    loads = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name("model_loads"))
    assert sum(counter.committed for counter in loads["counters"]) == 1


def test_batches_are_padded_to_one_size_so_worker_memory_stays_flat():
    sizes = {len(stack_padded([np.ones((1, 2, 2, 3), np.uint8)] * n, BATCH_SIZE)) for n in range(1, 33)}
    assert sizes == {BATCH_SIZE}
    padded = stack_padded([np.full((1, 2, 2, 3), value, np.uint8) for value in range(1, 6)], 8)
    assert padded.shape == (8, 1, 2, 2, 3)
    assert [int(photo.max()) for photo in padded] == [1, 2, 3, 4, 5, 0, 0, 0]
    assert len(stack_padded([padded[0]] * 9, 8)) == 16
