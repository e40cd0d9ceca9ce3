"""What a newcomer hits first (issue 31): clear Python errors, a model that says what it is, a
training run that is never silent, warnings where defaults were never checked."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from conftest import tiny_model
from wordlm.cli import cli
from wordlm.errors import InputError, ModelError


@pytest.mark.parametrize("top", [0, -1])
def test_next_words_top_below_one_is_a_clear_value_error(seq_lm, top):
    with pytest.raises(ValueError, match=rf"^top must be at least 1 \(or None for every word\), got {top}$"):
        seq_lm.next_words("jack", top=top)
    with pytest.raises(ValueError, match="^top must be at least 1"):
        seq_lm.fill("jack ___ down", top=top)


def test_next_words_top_of_the_wrong_type_is_a_type_error(seq_lm):
    for top in (1.5, True, "3"):
        with pytest.raises(TypeError, match="^top: expected a positive integer or None"):
            seq_lm.next_words("jack", top=top)
    assert len(seq_lm.next_words("jack", top=1)) == 1


def test_python_errors_name_the_field_and_the_cli_its_option(seq_lm):
    with pytest.raises(InputError) as e:
        seq_lm.generate("jack", num=3)
    assert str(e.value) == "num > 1 needs strategy='sample' or 'beam' (greedy has one result)"
    with pytest.raises(InputError, match="^max_words must be at most 10,000"):
        seq_lm.generate("jack", max_words=10**6)
    with pytest.raises(InputError, match=r"^num \(5\) must not exceed beam_size \(4\)"):
        seq_lm.generate("jack", strategy="beam", num=5)
    result = CliRunner().invoke(cli, ["generate", "/no/such/model", "--prompt", "jack", "--num", "3"])
    assert result.exit_code == 2 and "--num > 1 needs --strategy sample or beam" in result.output


def test_repr_says_what_the_model_is(tmp_path):
    import wordlm

    import copy

    lm = copy.copy(tiny_model("sequence", epochs=1))  # the shared model may have been saved by another test
    lm.source = None
    assert repr(lm) == ("<LanguageModel sequence framing, boundaries on, keras tokenizer, 25 ids (21 words), "
                        "1x LSTM 16, embedding 8, not saved>")
    lm.save(tmp_path / "m")
    where = f"from {str(tmp_path / 'm')!r}>"
    assert repr(lm).endswith(where) and repr(wordlm.load(tmp_path / "m")) == repr(lm)


def test_a_file_or_device_given_as_a_model_says_what_it_is(tmp_path):
    from wordlm.saving import load

    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ModelError, match="a file, not a model directory"):
        load(secret)
    with pytest.raises(ModelError, match=r"^/dev/null: not a model directory \(a character device\)$"):
        load("/dev/null")
    with pytest.raises(ModelError, match="no such model directory"):
        load(tmp_path / "missing")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ModelError, match=r"not a model directory \(a FIFO\)"):
        load(tmp_path / "fifo")
    for model in ("/dev/null", str(secret)):  # on the command line too, never quoting the file
        result = CliRunner().invoke(cli, ["score", model, "-"], input="jack\n")
        assert result.exit_code == 1 and "root:x" not in result.output, result.output
        assert "not a model directory" in result.output or "not an ARPA" in result.output


def test_training_logs_progress_inside_an_epoch_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    from wordlm.training import callbacks

    monkeypatch.setattr(callbacks, "LOG_EVERY", 0.0)
    from wordlm.demo import rhyme_path
    from wordlm.model import ModelSize
    from wordlm.training import TrainConfig, train

    config = TrainConfig(epochs=2, batch_size=1, size=ModelSize(4, 4, 1, 0.0), seed=0)
    train([rhyme_path()], config, verbose=2)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    inside = [line for line in lines if "batches" in line]
    assert inside, lines
    assert re.fullmatch(r"epoch 1/2: 1/4 batches, loss \d+\.\d{4} \(0:00:\d\d left in the epoch\)", inside[0]), inside
    assert any(line.startswith("epoch 2/2: 4/4 batches, loss ") for line in inside)


NBEST = ('{"utt_id": "u1", "ref": "jack and jill", "hyps": [{"text": "jack an jill", "score": -1.0}, '
         '{"text": "jack and jill", "score": -1.2}]}\n')


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_rerank_with_weights_never_tuned_warns_on_stderr(seq_lm, tmp_path):
    seq_lm.save(tmp_path / "m")
    (tmp_path / "nb.jsonl").write_text(NBEST)
    (tmp_path / "tuned.json").write_text('{"lm_weight": 0.5, "word_bonus": 0}')
    plain = run("rerank", tmp_path / "m", tmp_path / "nb.jsonl")
    assert plain.exit_code == 0 and "warning: lm_weight 1 and word_bonus 0 are defaults, never tuned" in plain.stderr
    assert "warning" not in plain.stdout
    for given in (["--weights", tmp_path / "tuned.json"], ["--lm-weight", "0.3"], ["--word-bonus", "0"]):
        chosen = run("rerank", tmp_path / "m", tmp_path / "nb.jsonl", *given)
        assert chosen.exit_code == 0 and "warning" not in chosen.stderr, chosen.stderr


def test_tune_warns_when_its_best_point_lies_on_the_edge_of_its_grid():
    from types import SimpleNamespace

    import numpy as np

    from wordlm.cli.rerank_cmds import edge_warnings

    alphas, betas = np.array([0.0, 0.5, 1.0]), np.array([-1.0, 0.0, 1.0])
    errors = np.array([[9, 9, 9], [8, 6, 7], [7, 5, 5]])  # best at α = 1 (the top edge), falling towards it
    result = SimpleNamespace(lm_weights=alphas, word_bonuses=betas, lm_weight=1.0, word_bonus=0.0, errors=errors)
    assert edge_warnings(result, "0:1:0.5", "-1:1:1") == [
        "warning: the best lm_weight (1) lies on the edge of its grid (--lm-weights 0:1:0.5) and the WER still falls "
        "towards it: the optimum may lie beyond; widen --lm-weights"]
    flat = SimpleNamespace(lm_weights=alphas, word_bonuses=betas, lm_weight=1.0, word_bonus=1.0,
                           errors=np.array([[9, 9, 9], [8, 6, 6], [7, 5, 5]]))  # β's edge ties the next value: fine
    assert [w.split(" (")[0] for w in edge_warnings(flat, "0:1:0.5", "-1:1:1")] == ["warning: the best lm_weight"]
    no_lm = SimpleNamespace(lm_weights=alphas, word_bonuses=betas, lm_weight=0.0, word_bonus=0.0,
                            errors=np.array([[5, 4, 5], [8, 6, 7], [7, 5, 5]]))  # α = 0 is no edge
    assert edge_warnings(no_lm, "0:1:0.5", "-1:1:1") == []


def test_a_device_or_a_pipe_is_read_as_text(seq_lm, tmp_path):
    import threading

    seq_lm.save(tmp_path / "m")
    empty = run("score", tmp_path / "m", "/dev/null")
    assert empty.exit_code == 0 and empty.stdout == "" and "0 sentences" in empty.stderr
    fifo = tmp_path / "lines"  # what `<(zcat corpus.gz)` passes: read once, never counted first
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("jack\njill went\n"))
    writer.start()
    piped = run("score", tmp_path / "m", fifo)
    writer.join()
    assert piped.exit_code == 0 and [x.split("\t")[4] for x in piped.stdout.splitlines()] == ["jack", "jill went"]
