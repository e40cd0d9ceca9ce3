"""`wordlm train -o`: the destination is checked before any work; a trained model is never replaced
silently; a diverged run exits 1 and saves nothing non-finite; `lm.describe()` is `info --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from wordlm.cli import cli

SMALL = ["--embedding-dim", "4", "--units", "4", "--epochs", "1", "-q"]


@pytest.fixture()
def runner():
    return CliRunner()


def _files(directory):
    return {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}


def test_existing_model_needs_resume_or_overwrite(runner, rhyme_file, tmp_path):
    out = tmp_path / "m"
    assert runner.invoke(cli, ["train", rhyme_file, "-o", str(out), *SMALL]).exit_code == 0
    before = _files(out)
    result = runner.invoke(cli, ["train", rhyme_file, "-o", str(out), *SMALL])
    assert result.exit_code == 1
    assert "already holds a trained model" in result.stderr and "--resume" in result.stderr
    assert "Traceback" not in result.output
    assert _files(out) == before  # untouched
    result = runner.invoke(cli, ["train", rhyme_file, "-o", str(out), *SMALL, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert _files(out) != before


def test_destination_that_is_a_file_or_under_a_file(runner, rhyme_file, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    for target, code, message in ((plain, 2, "is a file"), (plain / "m", 1, "is not a directory")):
        result = runner.invoke(cli, ["train", rhyme_file, "-o", str(target), *SMALL])
        assert result.exit_code == code and message in result.stderr, result.output
    assert plain.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0 and sys.platform != "linux", reason="root ignores permissions")
def test_read_only_destination_fails_before_training(rhyme_file, tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        # a subprocess, so the time to the error includes no training (it must come before TensorFlow)
        result = subprocess.run([sys.executable, "-m", "wordlm", "train", rhyme_file, "-o", str(locked / "m"), *SMALL],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and "cannot write the model" in result.stderr
        assert "epoch" not in result.stderr.lower()
    finally:
        locked.chmod(0o755)


def test_diverged_run_exits_1_and_saves_nothing_non_finite(runner, rhyme_file, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(cli, ["train", rhyme_file, "-o", str(out), "--embedding-dim", "4", "--units", "4",
                                 "--epochs", "3", "-q", "--learning-rate", "1e35"])
    assert result.exit_code == 1, result.output
    assert "training diverged" in result.stderr and "--learning-rate" in result.stderr
    assert "Traceback" not in result.output
    if (out / "wordlm.json").exists():  # a model that was saved is finite and loads
        import wordlm

        lm = wordlm.load(out, runtime="tensorflow")  # its Keras weights
        assert all(np.isfinite(w).all() for w in lm.keras_model.get_weights())
        scored = runner.invoke(cli, ["score", str(out), rhyme_file, "--json"])  # huge but finite: no traceback
        assert scored.exit_code == 0, scored.output
        assert all(json.loads(line)["logprob"] is not None for line in scored.stdout.splitlines())


def test_huge_scores_give_infinite_perplexity_not_a_traceback(runner, tmp_path):
    from wordlm.scoring.sentences import perplexity_of

    assert perplexity_of(-1e35, 3) == float("inf") and perplexity_of(-3.0, 3) == pytest.approx(np.e)
    assert perplexity_of(0.0, 0) is None


def test_describe_equals_info_json(runner, seq_lm, tmp_path):
    seq_lm.save(tmp_path / "m")
    import wordlm

    described = wordlm.load(tmp_path / "m").describe()
    info = json.loads(runner.invoke(cli, ["info", str(tmp_path / "m"), "--json"]).stdout)
    assert described == info


def test_trainconfig_alone_does_not_import_tensorflow():
    code = ("import sys, wordlm.training as t; c = t.TrainConfig(epochs=2).validate(); "
            "print(c.epochs, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "False", "False"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_unwritable_destination_fails_in_under_a_second_before_tensorflow(rhyme_file):
    """/proc refuses new directories even to root: the check creates one, it does not trust permission bits."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "wordlm", "train", rhyme_file, "-o", "/proc/wordlm-model", *SMALL],
                            capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    assert result.returncode == 1 and "cannot write the model" in result.stderr, result.stderr
    assert "Epoch" not in result.stderr and elapsed < 5  # no TensorFlow start-up, no training
