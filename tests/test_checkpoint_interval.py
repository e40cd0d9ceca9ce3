"""Checkpoints during training without validation text are saved at most once every
`checkpoint.MIN_INTERVAL` seconds (the first epoch at once, the last at the end; with validation,
each best epoch at once: test_training.py); a best epoch not saved yet is kept in memory and
saved on an interrupt, so the directory then holds exactly that epoch's model."""

from __future__ import annotations

import json

import numpy as np

from wordlm import saving
from wordlm.training import checkpoint

from helpers import tiny_model


def test_a_long_run_on_a_tiny_corpus_saves_a_few_times_not_every_epoch(tmp_path, monkeypatch, rhyme_file):
    from wordlm.model import ModelSize
    from wordlm.training import TrainConfig, train

    saves = []
    real = checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda lm, d: saves.append(lm.info["epochs_run"]) or real(lm, d))
    monkeypatch.setattr(checkpoint, "MIN_INTERVAL", 1e9)
    out = tmp_path / "m"
    lm = train([rhyme_file], TrainConfig(epochs=12, size=ModelSize(8, 8, 1, 0.0), seed=0), verbose=0, output=out)
    assert saves == [1]  # epoch 1 at once; the rest within the interval (the end's save is the loop's)
    done = saving.load(out, runtime="tensorflow")  # its Keras weights
    for a, b in zip(done.keras_model.get_weights(), lm.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert json.loads((out / "wordlm.json").read_text())["info"]["epochs_run"] == 12


def test_an_interrupt_saves_the_best_epoch_kept_in_memory(tmp_path):
    lm = tiny_model("sequence", epochs=1)
    original, info = lm.keras_model.get_weights(), dict(lm.info)
    try:
        ckpt = checkpoint.Checkpointer(tmp_path / "m", min_interval=1e9)
        lm.info = {**info, "epochs_run": 1}
        ckpt.epoch_end(lm, 1, True)  # saved at once
        lm.keras_model.set_weights([w + 0.01 for w in original])
        lm.info = {**info, "epochs_run": 2}
        ckpt.epoch_end(lm, 2, True)  # within the interval: kept in memory
        assert ckpt.saved_epoch == 1 and ckpt.pending[0] == 2
        assert saving.load(tmp_path / "m").info["epochs_run"] == 1
        lm.keras_model.set_weights([w + 0.02 for w in original])  # half-way through epoch 3
        lm.info = {**info, "epochs_run": 2, "interrupted": True}
        message = ckpt.interrupted(lm)
        assert "holds the model of epoch 2" in message
        saved = saving.load(tmp_path / "m", runtime="tensorflow")
        assert saved.info["epochs_run"] == 2 and saved.info.get("interrupted") == info.get("interrupted")
        for a, b in zip(saved.keras_model.get_weights(), original):
            np.testing.assert_allclose(a, b + 0.01, rtol=0, atol=1e-7)
        for a, b in zip(lm.keras_model.get_weights(), original):  # the model itself goes on unchanged
            np.testing.assert_allclose(a, b + 0.02, rtol=0, atol=1e-7)
        assert lm.info["interrupted"] is True
    finally:
        lm.keras_model.set_weights(original)
        lm.info = info
