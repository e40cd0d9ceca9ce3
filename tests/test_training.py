"""Training: the tutorial's counts, checkpoints each epoch, time limit, schedules, the train command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from wordlm.cli import cli
from wordlm.errors import InputError
from wordlm.model import ModelSize
from wordlm.saving import load
from wordlm.training import TrainConfig, read_tokenized, train
from wordlm.text import Tokenizer

TINY = ModelSize(8, 16, 1, 0.0)


def corpus(tmp_path, name="train.txt", lines=40, seed=0):
    rng = np.random.default_rng(seed)
    parts = (["jack", "jill", "tom"], ["went", "came", "fell"], ["up", "down"], ["the hill", "the well", ""])
    text = [" ".join(x for x in (rng.choice(p) for p in parts) if x) for _ in range(lines)]
    path = tmp_path / name
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("framing,context,examples", [("word", 1, 24), ("line", 1, 21), ("window", 2, 23), ("sequence", 1, 4)])
def test_tutorial_counts_on_the_rhyme(rhyme_file, framing, context, examples):
    config = TrainConfig(framing=framing, context=context, boundaries=False, size=TINY, epochs=1, seed=0)
    lm = train([rhyme_file], config, verbose=0)
    assert lm.vocab.num_words == 21
    assert lm.info["examples"] == examples
    assert lm.info["batches_per_epoch"] == 1 and lm.info["steps"] == 1


def test_best_model_saved_after_each_epoch_and_at_the_end(tmp_path):
    out = tmp_path / "model"
    seen = []

    def check(lm, epoch, logs):
        saved = json.loads((out / "wordlm.json").read_text())["info"]
        seen.append((epoch, saved["epochs_run"], saved["complete"]))

    config = TrainConfig(size=TINY, epochs=3, batch_size=8, seed=0)
    lm = train([corpus(tmp_path)], config, valid=[corpus(tmp_path, "valid.txt", 10, 1)], verbose=0,
               on_epoch_end=check, output=out)
    improved = [e for e, ppl in enumerate(lm.info["valid_ppl"], 1) if ppl == min(lm.info["valid_ppl"][:e])]
    assert [e for e, run, _ in seen if run == e] == improved  # the checkpoint is the best epoch so far
    final = load(out)
    assert final.info["complete"] and final.info["best_epoch"] == lm.info["best_epoch"]
    streams = [lm.stream("jack went up the hill"), lm.stream("tom fell")]
    for a, b in zip(lm.stream_logprobs(streams), final.stream_logprobs(streams)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_time_limit_stops_mid_run_and_keeps_a_model(tmp_path):
    config = TrainConfig(size=TINY, epochs=10_000, batch_size=2, seed=0, time_limit=1.0)
    lm = train([corpus(tmp_path)], config, verbose=0)
    assert lm.info["runs"][-1]["time_limited"]
    assert lm.info["epochs_run"] < 10_000


def test_cosine_schedule_ends_at_a_tenth_and_clipping_trains(tmp_path):
    config = TrainConfig(size=TINY, epochs=4, batch_size=8, seed=0, learning_rate=0.01, lr_schedule="cosine", clipnorm=1.0)
    lm = train([corpus(tmp_path)], config, verbose=0)
    final = float(np.asarray(lm.keras_model.optimizer.learning_rate))
    assert 0.001 <= final < 0.0012  # the last step's rate: just above a tenth
    assert lm.info["train_loss"][-1] < lm.info["train_loss"][0]


def test_same_seed_same_model(tmp_path):
    path = corpus(tmp_path)
    config = TrainConfig(size=TINY, epochs=2, batch_size=8, seed=3)
    a, b = train([path], config, verbose=0), train([path], config, verbose=0)
    for x, y in zip(a.keras_model.get_weights(), b.keras_model.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_config_errors_are_clear():
    with pytest.raises(InputError, match="^lr_decay must be"):  # Python names the field, not the CLI option
        TrainConfig(lr_decay=1.5).validate()
    with pytest.raises(InputError, match="^freeze_embeddings needs embeddings$"):
        TrainConfig(freeze_embeddings=True).validate()
    with pytest.raises(InputError, match="^distribute"):
        TrainConfig(distribute="tpu").validate()
    with pytest.raises(InputError, match="^size.units and size.embedding_dim"):
        TrainConfig(size=ModelSize(units=0)).validate()
    with pytest.raises(InputError, match="^--lr-decay must be"):  # the CLI's spelling, asked for
        TrainConfig(lr_decay=1.5).validate(spelling="cli")


def test_read_tokenized_empty_corpus(tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="e.txt: no words found"):
        read_tokenized([str(empty)], Tokenizer())


def test_train_command_from_stdin_with_validation(tmp_path):
    path = corpus(tmp_path)
    out = tmp_path / "m"
    text = open(path, encoding="utf-8").read()
    result = CliRunner().invoke(cli, ["train", "-", "-o", str(out), "--valid", corpus(tmp_path, "v.txt", 8, 2),
                                      "--epochs", "2", "--units", "8", "--embedding-dim", "4", "-q"], input=text)
    assert result.exit_code == 0, result.output
    assert "vocabulary size: 11" in result.output and "validation perplexity:" in result.output
    info = json.loads((out / "wordlm.json").read_text())["info"]
    assert info["corpus"]["files"] == ["<stdin>"] and info["corpus"]["lines"] == 40


def test_train_command_usage_errors(tmp_path):
    path = corpus(tmp_path)
    result = CliRunner().invoke(cli, ["train", path, "-o", str(tmp_path / "m"), "--freeze-embeddings"])
    assert result.exit_code == 2 and "--freeze-embeddings needs --embeddings" in result.output
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "m"), "-q"])
    assert result.exit_code == 1 and "missing.txt: no such file" in result.output


def test_perplexity_is_independent_of_grouping_and_matches_the_token_scores():
    from conftest import tiny_model
    from wordlm.training import perplexity

    lm = tiny_model("sequence")
    streams = [lm.stream(t) for t in ("jack and jill", "went up the hill to fetch a pail of water", "jill", "jack fell down")]
    scores = lm.stream_logprobs(streams)
    expected = float(np.exp(-sum(s.sum() for s in scores) / sum(len(s) for s in scores)))
    assert perplexity(lm, streams) == pytest.approx(expected, rel=1e-6)
    from wordlm.inference.streams import stream_logprobs

    one_token_chunks = stream_logprobs(lm, streams, max_logits=1)  # each stream alone, state carried token by token
    assert np.allclose(np.concatenate(one_token_chunks), np.concatenate(scores), atol=1e-5)


def test_bad_utf8_on_stdin_names_stdin_and_the_line(tmp_path):
    result = CliRunner().invoke(cli, ["train", "-", "-o", str(tmp_path / "m"), "-q"], input=b"jack went up\n\xff\xfe\n")
    assert result.exit_code == 1
    assert "<stdin>:2: invalid UTF-8" in result.output
