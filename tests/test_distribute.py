"""Distributed training on CPU: mirrored over two logical CPU devices, multi-worker over two processes.

Both must reach the single-device validation perplexity for the same seed and global batch within
TOLERANCE (relative). The training lines here all have the same length and the line count is a
multiple of the batch size, so every replica predicts as many tokens as the others and the
distributed step is the single-device step up to the order of float sums. (With ragged lines
Keras averages each replica's per-token mean loss, weighting replicas rather than tokens equally:
close, not equal; `distribute.py` says so.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from wordlm.cli import cli
from wordlm.training.distribute import check_tf_config
from wordlm.errors import InputError

TOLERANCE = 0.005
ARGS = dict(units=24, embedding_dim=12, epochs=2, batch_size=8, learning_rate=0.01)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def write_corpus(path, lines, seed):
    """A learnable corpus: four-word sentences from templates with random fillers."""
    rng = np.random.default_rng(seed)
    parts = (["jack", "jill", "tom", "dog"], ["went", "came", "fell"], ["up", "down"], ["hill", "well", "stairs"])
    text = [" ".join(rng.choice(p) for p in parts) for _ in range(lines)]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    return write_corpus(d / "train.txt", 96, 0), write_corpus(d / "valid.txt", 30, 1), d


@pytest.fixture(scope="module")
def single_device_ppl(data):
    from wordlm.model import ModelSize
    from wordlm.training import TrainConfig, train

    train_file, valid_file, _ = data
    config = TrainConfig(size=ModelSize(ARGS["embedding_dim"], ARGS["units"], 1, 0.0), epochs=ARGS["epochs"],
                         batch_size=ARGS["batch_size"], learning_rate=ARGS["learning_rate"], seed=0)
    return train([train_file], config, valid=[valid_file], verbose=0).info["valid_ppl"]


def cli_args():
    return [f"--{k.replace('_', '-')}={v}" for k, v in ARGS.items()] + ["-q"]


def test_mirrored_on_two_logical_cpus_matches_single_device(data, single_device_ppl):
    train_file, valid_file, d = data
    # Logical devices must be configured before TensorFlow initialises them: a fresh process.
    script = textwrap.dedent(f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from wordlm.model import ModelSize
        from wordlm.training import TrainConfig, train
        config = TrainConfig(size=ModelSize({ARGS['embedding_dim']}, {ARGS['units']}, 1, 0.0), epochs={ARGS['epochs']},
                             batch_size={ARGS['batch_size']}, learning_rate={ARGS['learning_rate']}, seed=0,
                             distribute="mirrored")
        lm = train([{train_file!r}], config, valid=[{valid_file!r}], verbose=0, output={str(d / 'mirrored')!r})
        print(json.dumps({{"replicas": len(tf.config.list_logical_devices("CPU")), "ppl": lm.info["valid_ppl"]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["ppl"][-1] == pytest.approx(single_device_ppl[-1], rel=TOLERANCE)
    assert (d / "mirrored" / "wordlm.json").is_file()


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_two_processes_match_single_device(data, single_device_ppl):
    train_file, valid_file, d = data
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        cmd = [sys.executable, "-m", "wordlm", "train", train_file, "--valid", valid_file, "-o", str(d / f"worker{index}"),
               "--distribute", "multi-worker", *cli_args()]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=300)  # bounded: a stuck cluster fails the test, never hangs it
            assert p.returncode == 0, err[-2000:]
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    ppls = [float(o.split("validation perplexity:")[1].split()[0]) for o in outs]
    assert ppls[0] == ppls[1]  # the workers hold the same weights
    assert ppls[0] == pytest.approx(single_device_ppl[-1], rel=TOLERANCE, abs=0.01)
    assert (d / "worker0" / "wordlm.json").is_file()  # the chief writes the model ...
    assert not (d / "worker1" / "wordlm.json").exists()  # ... the other worker does not
    saved = json.loads((d / "worker0" / "wordlm.json").read_text())
    assert saved["info"]["train_config"]["distribute"] == "multi-worker"


def test_multi_worker_without_tf_config_is_a_clear_error(data, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    train_file, _, d = data
    result = CliRunner().invoke(cli, ["train", train_file, "-o", str(d / "x"), "--distribute", "multi-worker", "-q"])
    assert result.exit_code == 1
    assert "needs TF_CONFIG" in result.output


@pytest.mark.parametrize("value,message", [
    ("{", "not JSON"),
    ('{"cluster": {}}', '"worker" list'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "task index 3"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', '"task" needs'),
])
def test_tf_config_checks(value, message):
    with pytest.raises(InputError, match=message):
        check_tf_config(value)
    assert check_tf_config('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')


def test_mirrored_from_the_cli_on_one_device(data):
    """The CLI path: one local device is a one-replica strategy, training as usual."""
    train_file, valid_file, d = data
    out = d / "cli-mirrored"
    result = CliRunner().invoke(cli, ["train", train_file, "--valid", valid_file, "-o", str(out), "--distribute", "mirrored",
                                      "--epochs", "1", "--units", "8", "--embedding-dim", "4", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "wordlm.json").read_text())["info"]["train_config"]["distribute"] == "mirrored"
    assert Path(out).is_dir()
