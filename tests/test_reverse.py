"""Backward models: trained on reversed lines, `next_logprobs` predicts the previous word."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from conftest import tiny_model
from wordlm.cli import cli
from wordlm.saving import load, save


def reverse_lm():
    return tiny_model("sequence", epochs=200, units=32, reverse=True, learning_rate=0.01)


def test_a_reverse_model_predicts_the_previous_word_on_the_rhyme():
    lm = reverse_lm()
    assert lm.reverse
    # The prompt is the text that follows the word to predict, in normal order.
    cases = {"went up the hill": "jill", "fell down and broke his crown": "jack", "came tumbling after": "jill",
             "pail of water": "a", "jack and jill went up the hill": "</s>"}
    for prompt, previous in cases.items():
        lp = lm.next_logprobs([lm.history(prompt)])[0]
        assert lm.vocab.id_to_token[int(np.argmax(lp))] == previous, prompt
        assert np.exp(lp.astype(np.float64)).sum() == np.float64(1.0) or abs(np.exp(lp.astype(np.float64)).sum() - 1) < 1e-5


def test_reverse_streams_read_right_to_left():
    lm = reverse_lm()
    assert lm.vocab.decode(lm.stream("jack and jill")) == ["<s>", "jill", "and", "jack", "</s>"]


def test_info_shows_a_reverse_model(tmp_path):
    out = tmp_path / "rev"
    save(reverse_lm(), out)
    assert load(out).reverse
    text = CliRunner().invoke(cli, ["info", str(out)])
    assert text.exit_code == 0 and ", reverse" in text.output.splitlines()[0]
    as_json = CliRunner().invoke(cli, ["info", str(out), "--json"])
    assert json.loads(as_json.output)["reverse"] is True


def test_train_command_reverse(tmp_path, rhyme_file):
    out = tmp_path / "m"
    result = CliRunner().invoke(cli, ["train", rhyme_file, "-o", str(out), "--reverse", "--epochs", "1", "--units", "8",
                                      "--embedding-dim", "4", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "wordlm.json").read_text())["info"]["reverse"] is True
