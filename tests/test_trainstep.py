"""The fast recurrent training step computes Keras's loss and gradients, and `fit` trains with it."""

from __future__ import annotations

import numpy as np
import pytest

from wordlm.model import ModelSize, build_model
from wordlm.training import fast_step


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
    fast_loss = fast_step.training_loss(model, size)
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
            fast_step.install(model, size)
        history = model.fit(x, y, batch_size=len(x), epochs=3, verbose=0, shuffle=False)
        assert history.history["loss"][-1] < history.history["loss"][0]
        fast_step.uninstall(model)
        assert "train_step" not in vars(model)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_sampled_softmax_trains_then_switches_to_the_full_softmax():
    from conftest import RHYME_LINES

    from wordlm.demo import rhyme_path
    from wordlm.training import FULL_SOFTMAX_TAIL, TrainConfig, perplexity, train

    config = TrainConfig(epochs=40, size=ModelSize(8, 16, 1, 0.0), batch_size=2, seed=0, learning_rate=0.01,
                         sampled_softmax=8)
    lm = train([rhyme_path()], config, valid=[rhyme_path()], verbose=0)
    run = lm.info["runs"][-1]
    assert run["full_softmax_from_step"] == pytest.approx((1 - FULL_SOFTMAX_TAIL) * run["steps"], abs=1)
    ppls = lm.info["valid_ppl"]
    assert ppls[-1] < ppls[0] / 4 and lm.info["best_valid_ppl"] < 5.0  # it learns the rhyme
    streams = [lm.stream(t) for t in RHYME_LINES]
    assert perplexity(lm, streams) == pytest.approx(lm.info["best_valid_ppl"], rel=1e-5)  # scored by the full softmax


def test_sampled_softmax_without_sampling_is_the_full_loss():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    size = ModelSize(6, 8, 1, 0.0)
    model = build_model(31, None, True, size)
    x, y = batch(np.random.default_rng(2), 31)
    full = fast_step.training_loss(model, size)(x, y, training=False)
    both = fast_step.training_loss(model, size, sampled=5)
    assert float(both(x, y, training=False, use_sampled=tf.constant(False))) == pytest.approx(float(full), rel=1e-6)
    sampled = float(both(x, y, training=False, use_sampled=tf.constant(True)))
    assert np.isfinite(sampled) and sampled != pytest.approx(float(full), rel=1e-6)


def test_tied_loss_is_the_untied_loss_with_the_kernel_set_to_the_embedding():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(4)
    vocab, size = 29, ModelSize(7, 7, 1, 0.0)
    model = build_model(vocab, None, True, size)
    x, y = batch(np.random.default_rng(3), vocab)
    embedding, kernel = model.get_layer("embedding").embeddings, model.get_layer("logits").kernel
    assert not np.allclose(kernel.numpy(), embedding.numpy().T)
    tied = fast_step.training_loss(model, size, tied=True)
    before = float(tied(x, y, training=False))
    fast_step.tie_output(model)
    np.testing.assert_array_equal(kernel.numpy(), embedding.numpy().T)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    assert before == pytest.approx(float(keras_loss(y, model(x, training=False))), rel=1e-5)
    # The embedding's gradient has both parts: as the input lookup and as the output layer.
    with tf.GradientTape() as tape:
        loss = tied(x, y, training=False)
    got = tf.convert_to_tensor(tape.gradient(loss, embedding)).numpy()
    with tf.GradientTape(persistent=True) as tape:
        loss = keras_loss(y, model(x, training=False))
    as_input = tf.convert_to_tensor(tape.gradient(loss, embedding)).numpy()
    as_output = tape.gradient(loss, kernel).numpy().T
    np.testing.assert_allclose(got, as_input + as_output, atol=1e-6)


def test_tied_training_keeps_the_output_layer_equal_to_the_embedding(tmp_path):
    from conftest import RHYME_LINES

    from wordlm.demo import rhyme_path
    from wordlm.saving import load
    from wordlm.training import TrainConfig, perplexity, train

    config = TrainConfig(epochs=30, size=ModelSize(16, 16, 1, 0.0), batch_size=2, seed=0, learning_rate=0.03,
                         tie_embeddings=True, sampled_softmax=8)
    lm = train([rhyme_path()], config, valid=[rhyme_path()], verbose=0, output=tmp_path / "m")
    embedding = lm.keras_model.get_layer("embedding").embeddings.numpy()
    np.testing.assert_array_equal(lm.keras_model.get_layer("logits").kernel.numpy(), embedding.T)
    ppls = lm.info["valid_ppl"]
    assert ppls[-1] < ppls[0] / 4 and lm.info["best_valid_ppl"] < 5.0  # it learns the rhyme
    loaded = load(tmp_path / "m")
    streams = [loaded.stream(t) for t in RHYME_LINES]
    assert loaded.info["train_config"]["tie_embeddings"] is True
    assert perplexity(loaded, streams) == pytest.approx(lm.info["best_valid_ppl"], rel=1e-5)


@pytest.mark.parametrize("options, message", [
    (dict(size=ModelSize(8, 16, 1, 0.0)), "size.embedding_dim equal to size.units"),
    (dict(framing="window", size=ModelSize(8, 8, 1, 0.0)), "needs a sequence or char model"),
])
def test_tie_embeddings_refuses_what_it_cannot_tie(options, message):
    from wordlm.demo import rhyme_path
    from wordlm.errors import InputError
    from wordlm.training import TrainConfig, train

    with pytest.raises(InputError, match=message):
        train([rhyme_path()], TrainConfig(epochs=1, tie_embeddings=True, **options), verbose=0)


@pytest.mark.parametrize("framing, tied", [("sequence", False), ("sequence", True), ("word", False)])
def test_ema_model_is_the_moving_average_of_the_trained_weights(framing, tied):
    from wordlm.demo import rhyme_path
    from wordlm.training import TrainConfig, train

    def run(ema):
        raw = []
        config = TrainConfig(framing=framing, epochs=3, size=ModelSize(8, 8, 1, 0.0), batch_size=64, seed=0,
                             learning_rate=0.05, ema=ema, tie_embeddings=tied)
        lm = train([rhyme_path()], config, verbose=0,
                   on_epoch_end=lambda lm, epoch, logs: raw.append(lm.keras_model.get_weights()))
        assert lm.info["batches_per_epoch"] == 1  # one update an epoch: the weights after each are `raw`
        return lm.keras_model.get_weights(), raw

    final, raw = run(0.5)
    plain, plain_raw = run(0.0)
    for a, b in zip(raw[-1], plain):
        np.testing.assert_allclose(a, b, atol=1e-6)  # the average does not change training
    for i, got in enumerate(final):
        average = raw[0][i]  # Keras starts the average at the first update's weights
        for step in raw[1:]:
            average = 0.5 * average + 0.5 * step[i]
        np.testing.assert_allclose(got, average, atol=1e-6)
    assert not np.allclose(final[0], raw[-1][0])
    if tied:
        np.testing.assert_array_equal(final[-2], final[0].T)


def test_ema_saves_the_weights_it_validated(tmp_path):
    from conftest import RHYME_LINES

    from wordlm.demo import rhyme_path
    from wordlm.saving import load
    from wordlm.training import TrainConfig, perplexity, train

    config = TrainConfig(epochs=6, size=ModelSize(8, 8, 1, 0.0), batch_size=2, seed=0, learning_rate=0.03, ema=0.9)
    lm = train([rhyme_path()], config, valid=[rhyme_path()], verbose=0, output=tmp_path / "m")
    streams = [lm.stream(t) for t in RHYME_LINES]
    assert perplexity(load(tmp_path / "m"), streams) == pytest.approx(lm.info["best_valid_ppl"], rel=1e-5)
    assert perplexity(lm, streams) == pytest.approx(lm.info["best_valid_ppl"], rel=1e-5)


def test_resume_with_or_without_ema(tmp_path, capsys):
    from wordlm.demo import rhyme_path
    from wordlm.saving import load
    from wordlm.training import TrainConfig, train

    out = tmp_path / "m"
    config = dict(epochs=2, size=ModelSize(8, 8, 1, 0.0), batch_size=2, seed=0, learning_rate=0.03)
    train([rhyme_path()], TrainConfig(ema=0.9, **config), verbose=0, output=out)
    lm = train([rhyme_path()], TrainConfig(ema=0.9, **config), verbose=1, output=out, resume=True)
    assert "with optimizer state" in capsys.readouterr().err and lm.info["epochs_total"] == 4
    lm = train([rhyme_path()], TrainConfig(**config), verbose=1, output=out, resume=True)
    assert "without --ema, unlike the saved run: starting a fresh optimizer" in capsys.readouterr().err
    assert load(out).info["epochs_total"] == 6
