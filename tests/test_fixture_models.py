"""The committed tiny models (tests/golden/tiny/) are what `tests/golden/make_golden.py --tiny` makes:
`tiny_model(...)` loads them instead of training, so they must not rot.

The default suite retrains the most used one (the 30-epoch sequence model) and checks its scores
and weights against the committed ones; `-m slow` retrains every one.
"""

from __future__ import annotations

import numpy as np
import pytest

import helpers
from helpers import TINY, TINY_MODELS, committed_scores, probe_scores, tiny_model, train_tiny


def test_every_fixture_is_committed_with_its_scores():
    scores = committed_scores()
    assert set(scores) == set(TINY_MODELS)
    for name in TINY_MODELS:
        assert (TINY / name / "wordlm.json").is_file(), name
        weights = sum(p.stat().st_size for p in (TINY / name).iterdir())
        assert weights < 200_000, (name, weights)  # tens of KB


@pytest.mark.parametrize("name", list(TINY_MODELS))
def test_tiny_model_serves_the_committed_fixture(name):
    lm = tiny_model(**TINY_MODELS[name])
    assert helpers.load_tiny(name).source is None  # as if just trained: a save never touches the committed files
    np.testing.assert_allclose(probe_scores(lm), committed_scores()[name], rtol=0, atol=1e-6)
    assert helpers.tiny_key(**TINY_MODELS[name]) in helpers.FIXTURE_OF


def _retrained_equals_committed(name):
    """Same seed, same weights on one machine (test_determinism.py); another CPU may round a little
    differently, so the tolerance is 1e-3: a change to training moves scores by far more."""
    settings = TINY_MODELS[name]
    lm, committed = train_tiny(**settings), helpers.load_tiny(name)
    np.testing.assert_allclose(probe_scores(lm), committed_scores()[name], rtol=0, atol=1e-3)
    for a, b in zip(lm.keras_model.get_weights(), committed.keras_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)
    assert lm.vocab.id_to_token == committed.vocab.id_to_token


def test_the_script_reproduces_the_most_used_fixture():
    _retrained_equals_committed("seq")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TINY_MODELS if n != "seq"])
def test_the_script_reproduces_every_fixture(name):
    _retrained_equals_committed(name)
