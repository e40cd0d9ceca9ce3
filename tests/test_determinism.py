"""Determinism: the same seed gives the same trained weights (on one machine); batch size never
changes a score beyond 1e-5."""

import numpy as np

from wordlm.model import ModelSize
from wordlm.training import TrainConfig, train


def _train(rhyme_file, seed, framing="sequence"):
    config = TrainConfig(framing=framing, epochs=3, batch_size=2, seed=seed, size=ModelSize(8, 8, 1, 0.0))
    return train([rhyme_file], config, verbose=0)


def test_same_seed_same_weights(rhyme_file):
    a, b = _train(rhyme_file, 3), _train(rhyme_file, 3)
    for wa, wb in zip(a.keras_model.get_weights(), b.keras_model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    c = _train(rhyme_file, 4)
    assert any(not np.array_equal(x, y) for x, y in zip(a.keras_model.get_weights(), c.keras_model.get_weights()))


def test_batch_size_never_changes_a_score(rhyme_file):
    lm = _train(rhyme_file, 0)
    rng = np.random.default_rng(1)
    words = lm.vocab.id_to_token[4:]
    streams = [lm.stream(" ".join(rng.choice(words, size=rng.integers(0, 40)))) for _ in range(60)]
    reference = lm.stream_logprobs(streams, batch_size=1)
    for batch_size in (2, 7, 64, 1000):
        for ref, got in zip(reference, lm.stream_logprobs(streams, batch_size=batch_size)):
            np.testing.assert_allclose(got, ref, atol=1e-5)
