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
