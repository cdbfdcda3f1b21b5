"""The blur network: one shared 200x200 CNN applied to every view of a photo, pooled into two heads."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from model.layers import LogPowerSpectrum
from pipeline.labels import BLUR_TYPES
from pipeline.preprocess import VIEW_SIZE, VIEWS_PER_PHOTO

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_EDGE_FILTERS = (
    np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32),  # Laplacian
    np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 4,  # Sobel x
    np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32) / 4,  # Sobel y
)


def _edge_filter_bank() -> np.ndarray:
    """(3, 3, 3 colours, 2 x filters) kernel: each edge filter on the luma, with + and - signs."""
    bank = np.zeros((3, 3, 3, 2 * len(_EDGE_FILTERS)), np.float32)
    for index, kernel in enumerate(_EDGE_FILTERS):
        for sign_index, sign in enumerate((1.0, -1.0)):
            bank[:, :, :, 2 * index + sign_index] = sign * kernel[:, :, None] * _LUMA[None, None, :]
    return bank


def build_view_encoder(width: int = 16) -> keras.Model:
    """Features of one 200x200 RGB view. Strided convolutions keep it cheap (about 15 M multiply-adds
    at width 16); global max pooling answers 'is there a sharp edge anywhere in this view'."""
    view = keras.Input((VIEW_SIZE, VIEW_SIZE, 3), dtype="uint8", name="view")
    x = layers.Rescaling(1.0 / 255.0)(view)
    spectral = spectrum_features(x)
    # Per-view contrast normalisation, so fog and dim scenes look as contrasty as any other; the epsilon
    # (a standard deviation of about 8 grey levels) keeps flat sky and noise from being blown up into edges.
    x = layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, epsilon=1e-3)(x)
    # A fixed bank of edge filters on the luma (Laplacian, Sobel x and y, each split into its positive
    # and negative part) handed to the network beside the colours: blur is the absence of steep edges,
    # and with those edges given, the small network learns in a fraction of the steps.
    edges = layers.Conv2D(
        2 * len(_EDGE_FILTERS), 3, padding="same", use_bias=False, trainable=False, name="edges"
    )
    x = layers.Concatenate()([x, layers.ReLU()(edges(x))])
    edges.set_weights([_edge_filter_bank()])
    # Every layer strides: a 3x3 filter evaluated at every other pixel still sees every pixel, so the
    # sharpest edge survives, at a quarter of the cost of a full-resolution first layer.
    x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
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
