"""The Keras callback that runs a training run's epochs: exact validation, checkpoints, stopping rules.

`EpochLog` after each epoch: the loss, the validation perplexity as the scorer computes it
(`validation.perplexity`), the best weights so far (saved through `Checkpointer`), `patience`
and `lr_decay`; per step: the cosine schedule, the switch from the sampled to the full softmax
for the last `FULL_SOFTMAX_TAIL` of training, `time_limit`, and a stop requested by a signal.
With `ema`, validation and checkpoints see the optimizer's moving averages. `finish` restores the
best weights and records the run in `lm.info`. Progress lines go to stderr.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time

import keras
import numpy as np

from wordlm.errors import TrainingDiverged
from wordlm.training import fast_step
from wordlm.training.config import FULL_SOFTMAX_TAIL, TrainConfig
from wordlm.training.validation import perplexity

# A training loss (mean nats per predicted token) at or above this, or not finite, is divergence:
# a uniform guess costs ln V (under 21 nats for any vocabulary up to 10^9 words).
DIVERGED_LOSS = 1e4
# Not on a terminal (verbose 2: Keras prints one line per epoch), a line inside the epoch this often.
LOG_EVERY = 30.0


def log(verbose: int, message: str) -> None:
    """A progress line on stderr (nothing when `verbose` is 0)."""
    if verbose:
        print(message, file=sys.stderr)


class EpochLog(keras.callbacks.Callback):
    """Keras callback: loss, exact validation perplexity, checkpoints, early stopping, time limit."""

    def __init__(self, lm, valid_streams, config: TrainConfig, on_epoch_end, checkpointer, started, previous, verbose,
                 switch=None):
        super().__init__()
        self.switch = switch if switch is not None and switch.sampled else None
        self.lm, self.valid_streams, self.config = lm, valid_streams, config
        self.user_callback, self.checkpointer = on_epoch_end, checkpointer
        self.started, self.previous, self.verbose = started, previous, verbose
        self.fit_started = None
        self.losses, self.valid_ppls = [], []
        self.best_ppl, self.best_epoch, self.best_weights = math.inf, None, None
        self.epochs_run, self.stale, self.timed_out = 0, 0, False
        self.steps, self.fit_seconds, self.epoch_started = 0, 0.0, None
        self.base_lr = config.learning_rate
        self.interrupted = False
        self.diverged: str | None = None  # why training stopped on a non-finite loss or weights
        self.full_softmax_step = None
        self.pending: list[str] = []  # epoch-end lines, printed after Keras's own line for the epoch
        self.epoch, self.epoch_steps, self.logged = 0, 0, 0.0

    def request_stop(self) -> None:
        """From a signal handler: stop after the current step (`train` then saves and re-raises)."""
        self.interrupted = True
        if self.model is not None:
            self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self.fit_started = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._flush()
        self.epoch_started = self.logged = time.time()
        self.epoch, self.epoch_steps = epoch, 0

    def on_train_end(self, logs=None):
        self._flush()

    def _later(self, message: str) -> None:
        """Keras calls this callback's `on_epoch_end` before its progress bar ends the epoch's line:
        lines written then would be glued onto the bar, so they wait for the next hook."""
        self.pending.append(message)

    def _flush(self) -> None:
        for message in self.pending:
            log(self.verbose, message)
        self.pending.clear()

    def progress(self) -> float:
        """How far training is, 0 to 1: by steps over the epochs, or by time over the time limit."""
        progress = self.steps / (self.config.epochs * self.params["steps"])
        if self.config.time_limit:
            progress = max(progress, (time.time() - self.fit_started) / self.config.time_limit)
        return min(progress, 1.0)

    def on_train_batch_begin(self, batch, logs=None):
        if self.config.lr_schedule == "cosine":
            # Cosine from the base rate down to a tenth of it, over the epochs or the time limit.
            scale = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * self.progress()))
            self.model.optimizer.learning_rate = self.base_lr * scale
        if self.switch is not None and self.switch.on and self.progress() >= 1 - FULL_SOFTMAX_TAIL:
            self.switch.full()
            self.full_softmax_step = self.steps
            log(self.verbose, f"full softmax from step {self.steps} (the last {FULL_SOFTMAX_TAIL:.0%} of training)")

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.epoch_steps += 1
        if self.interrupted:
            self.model.stop_training = True
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not float(loss) < DIVERGED_LOSS:
            self._diverge(f"the training loss became {float(loss):.4g} at step {self.steps}")
            return
        if self.verbose == 2 and time.time() - self.logged >= LOG_EVERY:
            self._log_inside_epoch(loss)
        limit = self.config.time_limit
        if limit is not None and time.time() - self.fit_started >= limit and not self.timed_out:
            self.timed_out = True
            self.model.stop_training = True
            log(self.verbose, f"time limit: stopping after {limit:g} s of training")

    def _log_inside_epoch(self, loss) -> None:
        """`epoch 1/10: 120/600 batches, loss 5.2341 (0:01:30 left in the epoch)`: a log file or CI
        sees training move inside a long epoch (Keras's verbose=2 prints only at its end)."""
        from wordlm.progress import clock

        self.logged = now = time.time()
        total = (self.params or {}).get("steps")
        done = f"{self.epoch_steps:,}/{total:,}" if total else f"{self.epoch_steps:,}"
        line = f"epoch {self.epoch + 1}/{self.config.epochs}: {done} batches"
        if loss is not None:
            line += f", loss {float(loss):.4f}"
        if total and 0 < self.epoch_steps < total:
            left = (now - self.epoch_started) * (total - self.epoch_steps) / self.epoch_steps
            line += f" ({clock(left)} left in the epoch)"
        log(self.verbose, line)

    def on_epoch_end(self, epoch, logs=None):
        self.fit_seconds += time.time() - self.epoch_started  # training steps only, not validation
        if self.interrupted or self.diverged:  # a partial epoch: not validated, counted or checkpointed
            return
        logs = dict(logs or {})
        loss = float(logs.get("loss", float("nan")))
        if not loss < DIVERGED_LOSS or not all(np.isfinite(w).all() for w in self.lm.keras_model.get_weights()):
            self._diverge(f"the loss or the weights stopped being finite in epoch {epoch + 1} (loss {loss})")
            return
        self.epochs_run = epoch + 1
        self.losses.append(round(loss, 6))
        with self._averaged_weights():
            self._validate_and_save(epoch, logs)
        if self.user_callback:
            self.user_callback(self.lm, epoch + 1, logs)

    def _diverge(self, why: str) -> None:
        self.diverged = why
        self.model.stop_training = True

    def check_finite(self) -> None:
        """After `fit`: raise `TrainingDiverged` if it stopped on non-finite numbers (nothing of them saved)."""
        if self.diverged:
            pending = self.checkpointer.pending
            if pending is not None and all(np.isfinite(w).all() for w in pending[1]):
                self.checkpointer.flush(self.lm)  # the last finite best epoch, kept in memory
            kept = self.checkpointer.saved_epoch
            where = (f"{self.checkpointer.directory} keeps the model of epoch {kept}" if kept is not None
                     else "nothing was saved")
            raise TrainingDiverged(f"training diverged: {self.diverged}; {where}. "
                                   f"Try a lower --learning-rate or --clipnorm 1")

    def _validate_and_save(self, epoch: int, logs: dict) -> None:
        improved = True
        if self.valid_streams:
            ppl = perplexity(self.lm, self.valid_streams, self.config.context_tokens)
            self.valid_ppls.append(round(ppl, 4))
            logs["valid_ppl"] = ppl
            self._later(f"epoch {epoch + 1}: validation perplexity {ppl:.2f}")
            improved = ppl < self.best_ppl
            if improved:
                self.best_ppl, self.best_epoch, self.stale = ppl, epoch + 1, 0
                self.best_weights = self.lm.keras_model.get_weights()
            else:
                self.stale += 1
                if self.config.lr_decay and self.config.lr_decay < 1:
                    self.base_lr *= self.config.lr_decay
                    self.model.optimizer.learning_rate = self.base_lr
                    self._later(f"learning rate now {self.base_lr:.3g}")
                if self.config.patience and self.stale >= self.config.patience:
                    self._later(f"early stopping: no improvement for {self.config.patience} epochs")
                    self.model.stop_training = True
        else:
            self.best_epoch = epoch + 1
        if improved:
            self._update_info(interrupted=False, complete=False)
            self.checkpointer.epoch_end(self.lm, epoch + 1, improved)

    @contextlib.contextmanager
    def _averaged_weights(self):
        """With `ema`: the optimizer's moving averages in place of the weights while inside (validation
        and checkpoints see the averaged model; training goes on from the raw weights)."""
        optimizer = self.model.optimizer
        averages = getattr(optimizer, "_model_variables_moving_average", None) if self.config.ema else None
        if not averages:
            yield
            return
        variables = optimizer._trainable_variables  # the order of the averages (as Keras's SwapEMAWeights)
        raw = [keras.ops.convert_to_numpy(v) for v in variables]
        for variable, average in zip(variables, averages):
            variable.assign(average)
        self._retie()
        try:
            yield
        finally:
            for variable, value in zip(variables, raw):
                variable.assign(value)

    def _retie(self) -> None:
        """Tied: the output kernel is the embedding's transpose again (its average lags one step)."""
        if self.config.tie_embeddings:
            fast_step.tie_output(self.lm.keras_model)

    def finish(self, interrupted: bool) -> None:
        """Keep the best weights and record the run in `lm.info`."""
        # With `ema`, fit ends by writing the averages into the model: the best epoch's are restored
        # exactly (and re-tied), even when it is the last.
        if self.best_weights is not None and (self.best_epoch != self.epochs_run or self.config.ema):
            self.lm.keras_model.set_weights(self.best_weights)
            if self.best_epoch != self.epochs_run:
                log(self.verbose, f"kept the weights of epoch {self.best_epoch} (best validation perplexity)")
        self._retie()
        self._update_info(interrupted=interrupted, complete=not interrupted)

    def _update_info(self, interrupted: bool, complete: bool) -> None:
        previous = self.previous or {}
        run = {
            "files": self.lm.info["corpus"]["files"],
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_valid_ppl": self.best_ppl if self.valid_streams and self.best_epoch else None,
            "train_seconds": round(time.time() - self.started, 2),
            "steps": self.steps,
            "fit_seconds": round(self.fit_seconds, 2),
            "time_limited": self.timed_out,
            "full_softmax_from_step": self.full_softmax_step,
            "tie_embeddings": self.config.tie_embeddings,
            "interrupted": interrupted,
        }
        self.lm.info.update(
            epochs_run=self.epochs_run,
            best_epoch=self.best_epoch,
            train_loss=self.losses,
            valid_ppl=self.valid_ppls or None,
            best_valid_ppl=run["best_valid_ppl"],
            train_seconds=run["train_seconds"],
            fit_seconds=run["fit_seconds"],
            steps=self.steps,
            interrupted=interrupted,
            complete=complete,
            train_config=self.config.to_config() if not self.previous else previous.get("train_config"),
            runs=[*previous.get("runs", []), run],
            epochs_total=int(previous.get("epochs_total", previous.get("epochs_run") or 0)) + self.epochs_run,
        )
