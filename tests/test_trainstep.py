"""The fast recurrent training step computes Keras's loss and gradients, and `fit` trains with it."""

from __future__ import annotations

import numpy as np
import pytest

from wordlm import trainstep
from wordlm.model import ModelSize, build_model


def batch(rng, vocab, rows=5, steps=9):
    """Post-padded inputs and targets of ragged lengths, one filler row (no targets)."""
    x = np.zeros((rows, steps), dtype=np.int32)
    y = np.zeros_like(x)
    for r, n in enumerate([steps, 1, 4, 7]):
        x[r, :n] = rng.integers(1, vocab, n)
        y[r, :n] = rng.integers(1, vocab, n)
    x[rows - 1, 0] = 1  # a filler row: one input, no targets
    return x, y


@pytest.mark.parametrize("layers, embedding_dim, units", [(1, 6, 8), (2, 5, 7)])
def test_loss_and_gradients_equal_keras(layers, embedding_dim, units):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    vocab = 23
    size = ModelSize(embedding_dim, units, layers, 0.5)  # dropout off below (training=False)
    model = build_model(vocab, None, True, size)
    x, y = batch(np.random.default_rng(0), vocab)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    fast_loss = trainstep.training_loss(model, size)
    with tf.GradientTape(persistent=True) as tape:
        want = keras_loss(y, model(x, training=False))
        got = fast_loss(x, y, training=False)
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    for a, b in zip(tape.gradient(got, model.trainable_weights), tape.gradient(want, model.trainable_weights)):
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(), atol=1e-6)


def test_fit_with_the_fast_step_matches_keras_fit_without_dropout():
    import keras

    vocab, size = 19, ModelSize(6, 8, 1, 0.0)
    x, y = batch(np.random.default_rng(1), vocab)
    weights = []
    for fast in (False, True):
        keras.utils.set_random_seed(5)
        model = build_model(vocab, None, True, size)
        model.compile(optimizer=keras.optimizers.Adam(0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0))
        if fast:
            trainstep.install(model, size)
        history = model.fit(x, y, batch_size=len(x), epochs=3, verbose=0, shuffle=False)
        assert history.history["loss"][-1] < history.history["loss"][0]
        trainstep.uninstall(model)
        assert "train_step" not in vars(model)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, atol=1e-5)
