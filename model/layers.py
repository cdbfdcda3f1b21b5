"""Keras layers of our own inside the shipped model. The job imports this module before it loads
blur_model.keras (pipeline.job.inference), so the saved model can name these classes; training builds
the network from them (training.network). Imports Keras: import it only where the model is used.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@keras.saving.register_keras_serializable(package="blur_model")
class LogPowerSpectrum(keras.layers.Layer):
    """Pooled log power spectrum of each image's luma: (B, H, W, 3) floats -> (B, H/pool, W/2/pool, 1).

    Why: the kinds of blur differ most plainly in frequency. A disk (defocus) has rings where its
    response drops to zero, a Gaussian falls off smoothly, a motion path removes one direction only,
    and a sharp photo keeps power up to the noise. Small spatial filters see none of that across a
    16-px blur. The image is Hann-windowed (so the frame's own edges do not streak the spectrum),
    power is averaged over pool x pool frequency bins, and the log is taken relative to the image's
    mean, so brightness and contrast do not shift the result. Rows run from the lowest negative to the
    highest positive vertical frequency; columns from zero to the highest horizontal frequency.
    """

    def __init__(self, pool: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.pool = pool

    def build(self, input_shape):
        height, width = int(input_shape[1]), int(input_shape[2])
        window = np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)
        self._window = tf.constant(window)
        self._luma = tf.constant(np.array(LUMA_WEIGHTS, np.float32))

    def call(self, images):
        luma = tf.tensordot(tf.cast(images, tf.float32), self._luma, axes=[[3], [0]])
        luma = (luma - tf.reduce_mean(luma, axis=[1, 2], keepdims=True)) * self._window
        spectrum = tf.signal.rfft2d(luma)
        height = tf.shape(luma)[1]
        power = tf.square(tf.abs(spectrum))[:, :, :-1]  # drop the Nyquist column: width/2 columns remain
        power = tf.roll(power, shift=height // 2, axis=1)  # zero vertical frequency in the middle row
        pooled = tf.nn.avg_pool2d(power[..., None], self.pool, self.pool, "VALID")
        log_power = tf.math.log(pooled + 1e-6)
        return log_power - tf.reduce_mean(log_power, axis=[1, 2, 3], keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // self.pool, input_shape[2] // 2 // self.pool, 1)

    def get_config(self):
        return {**super().get_config(), "pool": self.pool}
