"""Checkpoints during training, interrupts that leave a usable model, and resuming a saved model.

- `Checkpointer.epoch_end` saves the model to the output directory after every epoch that is the
  best so far (by validation perplexity; every epoch without validation text; then at most once
  every `MIN_INTERVAL` seconds after the first, as `loop.py` asks): a save costs tens of milliseconds, more than an epoch of a
  small corpus (200 epochs of the rhyme saved 200 times spent 3/4 of their time saving). A best
  epoch not saved for that reason is kept in memory (weights and info) until the next save, an
  interrupt or the end. `saving.save` is atomic, so the directory always holds a complete model,
  whatever moment the process dies (a SIGKILL loses at most `MIN_INTERVAL` seconds of training).
  Only the chief writes (multi-worker training).
- `Checkpointer.interrupted` is called when training stops on Ctrl-C or SIGTERM: if no epoch has
  been saved yet, the current weights are (the model is usable, `info["interrupted"]` says how
  far it got); otherwise the best epoch so far is (saved then, or now from memory).
- `stop_on_interrupt(request_stop)` makes Ctrl-C and SIGTERM ask training to stop after the
  current step (weights are never half-updated, no exception unwinds through Keras's loop); a
  second signal interrupts at once.
- `check_destination(directory, resume, overwrite)`, before any work: a trained model there is
  replaced only with `overwrite` (or continued with `resume`), and the directory (or the folder
  it will be made in) must be writable.
- `load_for_resume(directory)` loads a saved model (safe mode) together with its optimizer state:
  Keras's `.keras` file of a compiled model holds the optimizer's variables (Adam's moments and step
  count), so training continues where it stopped, not from a cold optimizer.

Not here: the file format (`saving.py`), the training loop (`loop.py`).
"""

from __future__ import annotations

import contextlib
import copy
import signal
import sys
import threading
import time
from pathlib import Path

from wordlm.errors import InputError, ModelError
from wordlm.model_dir import CONFIG_FILE, read_config, save
from wordlm.saving import load
from wordlm.files import check_writable


MIN_INTERVAL = 1.0  # seconds between two checkpoint saves (the first best epoch is saved at once)


class Checkpointer:
    """Writes the best model so far to `directory` (None: checkpoints off)."""

    def __init__(self, directory, chief: bool = True, min_interval: float | None = None):
        self.directory = Path(directory) if directory is not None else None
        self.chief = chief
        self.min_interval = MIN_INTERVAL if min_interval is None else min_interval
        self.saved_epoch: int | None = None
        self.saved_at = 0.0
        self.pending = None  # (epoch, weights, info) of a best epoch not saved yet

    @property
    def active(self) -> bool:
        return self.directory is not None and self.chief

    def epoch_end(self, lm, epoch: int, improved: bool) -> None:
        """After epoch `epoch` (1-based): save if it is the best so far (or keep it to save later)."""
        if not (self.active and improved):
            return
        if self.saved_epoch is None or time.monotonic() - self.saved_at >= self.min_interval:
            self._save(lm, epoch)
        else:
            self.pending = (epoch, lm.keras_model.get_weights(), copy.deepcopy(lm.info))

    def _save(self, lm, epoch: int) -> None:
        save(lm, self.directory)
        self.saved_epoch, self.saved_at, self.pending = epoch, time.monotonic(), None

    def flush(self, lm) -> None:
        """Save the best epoch kept in memory, if any (the model's own weights and info stay)."""
        if self.pending is None:
            return
        epoch, weights, info = self.pending
        current, current_info = lm.keras_model.get_weights(), lm.info
        lm.keras_model.set_weights(weights)
        lm.info = info
        try:
            self._save(lm, epoch)
        finally:
            lm.keras_model.set_weights(current)
            lm.info = current_info

    def interrupted(self, lm) -> str:
        """Leave a usable model behind after an interrupt; returns a one-line account of it."""
        if not self.active:
            return ""
        self.flush(lm)
        if self.saved_epoch is None:
            save(lm, self.directory)
            return f"interrupted before the first epoch ended: saved the current weights to {self.directory}"
        return f"interrupted: {self.directory} holds the model of epoch {self.saved_epoch} (the best so far)"


@contextlib.contextmanager
def stop_on_interrupt(request_stop):
    """While inside, the first Ctrl-C or SIGTERM calls `request_stop()`; a second one raises KeyboardInterrupt.

    Training asks Keras to stop after the current step instead of raising KeyboardInterrupt in
    the middle of `fit` (which can leave TensorFlow's input threads in a state that crashes the
    interpreter at exit); a second signal is the user insisting, and interrupts at once.
    Outside the main thread (where Python cannot install handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        request_stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def has_model(directory) -> bool:
    return directory is not None and (Path(directory) / CONFIG_FILE).is_file()


def check_destination(directory, resume: bool = False, overwrite: bool = False) -> None:
    """Raise InputError unless training may write its model to `directory` (checked before any work)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: exists and is not a directory (-o names the model directory)")
    if has_model(directory) and not (resume or overwrite):
        raise InputError(f"{directory}: already holds a trained model; --resume continues it, "
                         f"--overwrite replaces it (or choose another -o)")
    check_writable(directory, directory, "the model directory", "the model")


def load_for_resume(directory):
    """(LanguageModel, optimizer or None): the saved model, and its optimizer state when it has one.

    The model is first loaded and checked by `saving.load` (safe mode, wordlm layers only); the
    same file is then reloaded compiled, which restores the built-in Adam optimizer and its
    variables. A file without optimizer state (never compiled) resumes with a fresh optimizer.
    """
    import keras

    lm = load(directory, runtime="tensorflow")  # training goes on in Keras
    config = read_config(directory)
    weights = Path(directory) / config["weights_file"]
    optimizer = None
    try:
        with _quiet_keras():
            compiled = keras.saving.load_model(weights, compile=True, safe_mode=True)
        if getattr(compiled, "optimizer", None) is not None and compiled.optimizer.variables:
            if [type(layer).__name__ for layer in compiled.layers] != [type(layer).__name__ for layer in lm.keras_model.layers]:
                raise ModelError(f"{weights}: changed while it was being read")
            lm.keras_model, optimizer = compiled, compiled.optimizer
            lm.reset_compiled()
    except ModelError:
        raise
    except Exception as e:  # no or unreadable optimizer state: weights alone still resume
        print(f"resume: no optimizer state restored ({type(e).__name__}); starting a fresh optimizer", file=sys.stderr)
    return lm, optimizer


@contextlib.contextmanager
def _quiet_keras():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
