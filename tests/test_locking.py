"""One writer per model directory, with real processes; readers never see a mixed state."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import tiny_model
from wordlm import locking, saving
from wordlm.errors import InputError

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def _wait_for_holder(lock, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if lock.exists() and lock.read_text().startswith("pid "):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the first writer ended early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    raise AssertionError("the first writer never took the lock")


def test_a_second_trainer_on_the_same_directory_gets_a_one_line_error(rhyme_file, tmp_path):
    out = tmp_path / "m"
    first = subprocess.Popen([sys.executable, "-m", "wordlm", "train", rhyme_file, "-o", str(out), "--epochs", "100000",
                              "--time-limit", "20", "--units", "4", "--embedding-dim", "4", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        _wait_for_holder(out / ".wordlm.lock", first)
        second = subprocess.run([sys.executable, "-m", "wordlm", "train", rhyme_file, "-o", str(out), "--overwrite",
                                 "--epochs", "1", "--units", "4", "--embedding-dim", "4", "-q"],
                                capture_output=True, text=True, env=ENV, timeout=120)
        assert second.returncode == 1, second.stderr
        assert f"locked by another process (pid {first.pid}: " in second.stderr
        assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
        # (the lock is taken before TensorFlow starts: let the first run save a checkpoint before
        # stopping it, so that its SIGTERM handling, and the model it leaves, are what is tested)
        deadline = time.monotonic() + 120
        while not (out / "wordlm.json").exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        first.terminate()
        first.communicate(timeout=120)
    assert first.returncode in (0, 130)
    assert np.isfinite(saving.load(out).stream_logprobs([[2, 4, 5, 3]])[0]).all()  # the first run's model stands


WRITER = """
import sys
from wordlm import saving
lm = saving.load(sys.argv[1])
for _ in range(int(sys.argv[3])):
    saving.save(lm, sys.argv[2])
print("done")
"""


def test_a_reader_never_sees_a_mixed_state_while_a_writer_saves(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    lm = tiny_model("sequence")
    saving.save(lm, source)
    saving.save(lm, target)
    expected = lm.stream_logprobs([lm.stream("jack and jill")])[0]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(source), str(target), "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    loads = 0
    try:
        while writer.poll() is None:
            loaded = saving.load(target)  # must never fail, whatever the writer is doing
            np.testing.assert_allclose(loaded.stream_logprobs([loaded.stream("jack and jill")])[0], expected, atol=1e-6)
            loads += 1
        out, err = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0 and out.strip() == "done", err[-2000:]
    assert loads >= 3
    weights = [p.name for p in target.glob("model-*.keras")]
    assert len(weights) == 1  # every previous weights file removed by the save that replaced it


def test_lock_is_reentrant_in_a_process_and_exclusive_across_processes(tmp_path):
    with locking.hold(tmp_path):
        with locking.hold(tmp_path):  # a checkpoint's save inside a training run
            pass
        probe = subprocess.run([sys.executable, "-c", "import sys; from wordlm import locking\n"
                                "with locking.hold(sys.argv[1]): pass", str(tmp_path)],
                               capture_output=True, text=True, env=ENV, timeout=60)
        assert probe.returncode == 1 and "locked by another process" in probe.stderr
    with locking.hold(tmp_path):  # released: free again
        pass
    with pytest.raises(InputError, match="cannot create the lock file"):
        with locking.hold(tmp_path / "missing"):
            pass
