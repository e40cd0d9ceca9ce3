"""Fault injection: SIGKILL a process that keeps saving models; the model directory must always load.

Slow (about a minute): run with `pytest -m slow tests/test_faults.py`. Figures go to benchmarks/README.md.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SAVER = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.path.insert(0, {tests!r})
    from conftest import tiny_model
    from wordlm import saving
    lm = tiny_model("sequence", epochs=1)
    weights = lm.keras_model.get_weights()
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        lm.keras_model.set_weights([w + 0.001 * i for w in weights])  # a different model each save
        saving.save(lm, sys.argv[1])
""")


def test_sigkill_during_saves_never_breaks_the_model(tmp_path):
    from wordlm import saving

    d = tmp_path / "model"
    script = tmp_path / "saver.py"
    script.write_text(SAVER.format(tests=os.path.dirname(__file__)))
    rng = random.Random(0)
    kills = 0
    for round_ in range(12):
        proc = subprocess.Popen([sys.executable, str(script), str(d)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 1.5))  # somewhere inside one of many saves
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if not (d / "wordlm.json").exists():
            continue  # killed before the very first save completed: nothing to check yet
        lm = saving.load(d)  # must always load
        lp = lm.stream_logprobs([lm.stream("jack and jill")])[0]
        assert np.all(np.isfinite(lp))
        visible = [p.name for p in d.iterdir() if not p.name.startswith(".")]
        assert sorted(visible)[-1] == "wordlm.json"
        assert all(n.startswith("model-") and n.endswith(".keras") for n in sorted(visible)[:-1])
    assert kills == 12
    print(f"faults injected: {kills} SIGKILLs during saves; model loaded after each")


def test_sigkill_during_training_with_checkpoints(tmp_path, rhyme_file):
    """`wordlm train -o DIR` checkpoints every epoch; SIGKILL at random moments never leaves a
    model directory that fails to load."""
    from wordlm import saving

    rng = random.Random(1)
    d = tmp_path / "model"
    loaded = 0
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-m", "wordlm", "train", rhyme_file, "-o", str(d), "--epochs", "400", "--units", "8",
             "--embedding-dim", "8", "-q", "--seed", str(round_)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(12.0, 30.0))  # TensorFlow start-up, then somewhere in the epochs
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (d / "wordlm.json").exists():
            lm = saving.load(d)
            assert np.all(np.isfinite(lm.stream_logprobs([lm.stream("jack and jill")])[0]))
            loaded += 1
    assert loaded >= 1, "no checkpoint was ever written: kill later or check per-epoch checkpoints"
    print(f"faults injected: 4 SIGKILLs during training; the checkpoint loaded after {loaded} of them")
