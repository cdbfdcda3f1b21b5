"""The blur network: one shared 200x200 CNN applied to every view of a photo, pooled into two heads."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from model.inputs import VIEW_SIZE, VIEWS_PER_PHOTO
from model.labels import BLUR_TYPES
from model.layers import LUMA_WEIGHTS, LogPowerSpectrum

_EDGE_FILTERS = (
    np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], np.float32),  # the luma itself
    np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32),  # Laplacian
    np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 4,  # Sobel x
    np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32) / 4,  # Sobel y
)


def _edge_filter_bank() -> np.ndarray:
    """(3, 3, 1 luma, 2 x filters) kernel: each filter with + and - signs, so that after a ReLU the pair
    keeps all of its response (ReLU(v) and ReLU(-v) together are v)."""
    bank = np.zeros((3, 3, 1, 2 * len(_EDGE_FILTERS)), np.float32)
    for index, kernel in enumerate(_EDGE_FILTERS):
        bank[:, :, 0, 2 * index] = kernel
        bank[:, :, 0, 2 * index + 1] = -kernel
    return bank


def _fixed_conv(inputs: keras.KerasTensor, kernel: np.ndarray, name: str, strides: int = 1):
    """A convolution with a fixed (untrained) kernel and no bias."""
    conv = layers.Conv2D(
        kernel.shape[-1], kernel.shape[:2], strides=strides, padding="same", use_bias=False,
        trainable=False, name=name,
    )  # fmt: skip
    outputs = conv(inputs)
    conv.set_weights([kernel])
    return outputs


def build_view_encoder(width: int = 16) -> keras.Model:
    """Features of one 200x200 RGB view. Strided convolutions keep it cheap (about 23 M multiply-adds
    at width 16, the spectrum included); global max pooling answers 'is there a sharp edge anywhere in
    this view'."""
    view = keras.Input((VIEW_SIZE, VIEW_SIZE, 3), dtype="uint8", name="view")
    x = layers.Rescaling(1.0 / 255.0)(view)
    spectral = spectrum_features(x)
    # Blur is in the luma. The colours were three times the work in every full-resolution layer; the
    # same training without them (and with the edge bank read at every other pixel, below) took the
    # model from 10.5 to 6.7 core-ms per photo and was no less accurate held out (model/HISTORY.md,
    # blur-cnn-20261127-0529).
    x = _fixed_conv(x, np.array(LUMA_WEIGHTS, np.float32).reshape(1, 1, 3, 1), "luma")
    # Per-view contrast normalisation, so fog and dim scenes look as contrasty as any other; the epsilon
    # (a standard deviation of about 8 grey levels) keeps flat sky and noise from being blown up into edges.
    x = layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, epsilon=1e-3)(x)
    # A fixed bank of edge filters (Laplacian, Sobel x and y) beside the luma: blur is the absence of
    # steep edges, and with those edges given, the small network learns in a fraction of the steps. The
    # bank is read at every other pixel: its 3x3 support still covers every pixel, so the sharpest edge
    # survives, and everything after it costs a quarter (the bank at full resolution and a concatenation
    # were 4 of the model's 10.5 core-ms per photo).
    x = layers.ReLU()(_fixed_conv(x, _edge_filter_bank(), "edges", strides=2))
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(width * 2, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(width * 2, 3, strides=2, padding="same", activation="relu")(x)
    features = layers.Concatenate()(
        [layers.GlobalMaxPooling2D()(x), layers.GlobalAveragePooling2D()(x), spectral]
    )
    return keras.Model(view, features, name="view_encoder")


def spectrum_features(view: keras.KerasTensor) -> keras.KerasTensor:
    """32 features of a view's pooled log power spectrum (50x25 bins). Flattened, not pooled: where in
    frequency the power falls off, and in which direction, is the information (blur size and kind).
    Finer bins (pool 2, 100x50, one more strided layer) were tried: no better on blur type (74.1% vs
    73.7%), worse on bokeh and low-detail photos kept (84.5% and 85.7% vs 87.2% and 89.5%)."""
    x = LogPowerSpectrum(pool=4, name="log_power_spectrum")(view)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    return layers.Dense(32, activation="relu")(layers.Flatten()(x))


def build_blur_model(width: int = 16) -> keras.Model:
    """Photo-level model: input (V, 200, 200, 3) uint8 views; outputs the probability that the photo
    is blurry (`blurry`, shape (1,)) and the blur-type distribution (`blur_type`, one per BLUR_TYPES).

    Pooling the views' features both ways lets the heads learn 'one sharp crop keeps the photo' (max)
    and 'the rest of the frame is soft' (mean), which together tell bokeh from blur."""
    views = keras.Input((VIEWS_PER_PHOTO, VIEW_SIZE, VIEW_SIZE, 3), dtype="uint8", name="views")
    per_view = layers.TimeDistributed(build_view_encoder(width), name="per_view")(views)
    pooled = layers.Concatenate()(
        [
            layers.Flatten()(per_view),
            layers.GlobalMaxPooling1D()(per_view),
            layers.GlobalAveragePooling1D()(per_view),
        ]
    )
    hidden = layers.Dropout(0.2)(layers.Dense(64, activation="relu")(pooled))
    blurry = layers.Dense(1, activation="sigmoid", name="blurry")(hidden)
    blur_type = layers.Dense(len(BLUR_TYPES), activation="softmax", name="blur_type")(hidden)
    return keras.Model(views, {"blurry": blurry, "blur_type": blur_type}, name="blur_model")
