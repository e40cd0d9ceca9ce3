"""Resume and interrupts: training continues from the saved weights and optimizer; a killed run loads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from wordlm.training.checkpoint import load_for_resume
from wordlm.cli import cli
from wordlm.model import ModelSize
from wordlm.saving import load
from wordlm.training import TrainConfig, train

TINY = ModelSize(8, 16, 1, 0.0)


def corpus(path, lines=40, seed=0, words=("jack", "jill", "tom")):
    rng = np.random.default_rng(seed)
    parts = (list(words), ["went", "came", "fell"], ["up", "down"], ["the hill", "the well"])
    path.write_text("\n".join(" ".join(rng.choice(p) for p in parts) for _ in range(lines)) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    out = d / "model"
    lm = train([corpus(d / "train.txt")], TrainConfig(size=TINY, epochs=2, batch_size=8, seed=0), verbose=0, output=out)
    return d, out, lm


def test_resume_starts_from_the_saved_weights_and_optimizer_state(trained, tmp_path):
    d, out, first = trained
    lm, optimizer = load_for_resume(out)
    for a, b in zip(lm.keras_model.get_weights(), first.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(optimizer.iterations.numpy()) == first.info["steps"] == 10
    saved_moments = [v.numpy() for v in optimizer.variables if "momentum" in v.path]
    live_moments = [v.numpy() for v in first.keras_model.optimizer.variables if "momentum" in v.path]
    for a, b in zip(saved_moments, live_moments):
        np.testing.assert_array_equal(a, b)

    # Continue on a copy with a vanishing learning rate: the weights stay where the first run left them.
    copy = tmp_path / "copy"
    from wordlm.saving import save

    save(first, copy)
    again = train([str(d / "train.txt")], TrainConfig(epochs=1, batch_size=8, learning_rate=1e-12), verbose=0,
                  output=copy, resume=True)
    for a, b in zip(again.keras_model.get_weights(), first.keras_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert int(again.keras_model.optimizer.iterations.numpy()) == 15  # 10 saved steps + 5 more
    assert again.info["epochs_total"] == 3 and len(again.info["runs"]) == 2
    shown = CliRunner().invoke(cli, ["info", str(copy)])
    assert shown.exit_code == 0 and "3 epochs in 2 runs (last: 1)" in shown.output
    summary = json.loads(CliRunner().invoke(cli, ["info", str(copy), "--json"]).output)
    assert (summary["epochs_total"], summary["runs"], summary["epochs_run"]) == (3, 2, 1)


def test_resume_keeps_the_vocabulary_new_words_become_unk(trained, tmp_path):
    d, out, first = trained
    new_text = corpus(tmp_path / "new.txt", seed=5, words=("zebra", "yak"))
    copy = tmp_path / "copy"
    from wordlm.saving import save

    save(first, copy)
    lm = train([new_text], TrainConfig(epochs=1, batch_size=8), verbose=0, output=copy, resume=True)
    assert lm.vocab.id_to_token == first.vocab.id_to_token
    assert lm.info["corpus"]["oov_rate"] == pytest.approx(0.2)  # one word in five ("jack went up the hill") is new
    assert load(copy).info["corpus"]["files"] == [new_text]


def test_resume_refuses_a_different_network_and_starts_anew_without_a_model(trained, tmp_path):
    d, out, _ = trained
    result = CliRunner().invoke(cli, ["train", str(d / "train.txt"), "-o", str(out), "--resume", "--units", "99", "-q"])
    assert result.exit_code == 1
    assert "--units 99 differs from the saved model's 16" in result.output
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(cli, ["train", str(d / "train.txt"), "-o", str(fresh), "--resume", "--epochs", "1",
                                      "--units", "8", "--embedding-dim", "4"])
    assert result.exit_code == 0, result.output
    assert "training a new one" in result.output and load(fresh).info["epochs_run"] == 1


@pytest.mark.parametrize("signum,after", [(signal.SIGTERM, "Epoch 2/"), (signal.SIGINT, "Epoch 1/")])
def test_an_interrupted_run_leaves_a_model_that_loads(tmp_path, signum, after):
    """Killed after its first checkpoint (SIGTERM), or during its first epoch (SIGINT)."""
    text = corpus(tmp_path / "big.txt", lines=3000)
    out = tmp_path / "model"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-u", "-m", "wordlm", "train", text, "-o", str(out), "--epochs", "1000", "--batch-size", "4",
           "--units", "16", "--embedding-dim", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stderr:  # Keras's progress (verbose 2 when not a terminal) goes to stderr
            if after in line:
                proc.send_signal(signum)
                break
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-1000:]
    assert "interrupted" in err
    assert not any(line.strip() == "interrupted" for line in err.splitlines())  # one line says it all
    lm = load(out)
    assert np.isfinite(lm.stream_logprobs([lm.stream("jack went up the hill")])[0]).all()
    info = json.loads((out / "wordlm.json").read_text())["info"]
    if after == "Epoch 2/":  # the checkpoint of epoch 1 (or later) stays
        assert "holds the model of epoch" in err and info["epochs_run"] >= 1 and not info["interrupted"]
    else:  # 750 steps in epoch 1: stopped inside it, the current weights were saved
        assert "saved the current weights" in err and info["interrupted"] and info["epochs_run"] == 0


def test_first_signal_asks_to_stop_and_a_second_interrupts_at_once():
    from wordlm.training.checkpoint import stop_on_interrupt

    asked = []
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with stop_on_interrupt(lambda: asked.append(1)):
            os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler before the next bytecode
            assert asked == [1]
            os.kill(os.getpid(), signal.SIGTERM)
    assert asked == [1] and signal.getsignal(signal.SIGTERM) is before  # handlers restored
