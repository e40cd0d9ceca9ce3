"""`train`: corpus files → vocabulary → streamed, bucketed batches → fitted Keras model → LanguageModel.

The steps are the package's modules in order (see `wordlm.training`): the destination is checked
first (`checkpoint.check_destination`), then the vocabulary is counted and the corpus encoded on
disk (`corpus.py`), the model built (`factory.py`) or resumed (`checkpoint.py`) inside the
distribution strategy's scope (`distribute.py`), the batches planned (`batches.py`), and Keras's
`fit` runs with `callbacks.EpochLog` and, for recurrent models on one device, `fast_step.py`'s step.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np

from wordlm.errors import InputError
from wordlm.inference.streams import MAX_LOGITS
from wordlm.lm import LanguageModel
from wordlm.locking import hold
from wordlm.training import distribute, fast_step
from wordlm.training.batches import make_dataset, make_plan
from wordlm.training.callbacks import EpochLog, log
from wordlm.training.checkpoint import (
    Checkpointer,
    check_destination,
    has_model,
    load_for_resume,
    stop_on_interrupt,
)
from wordlm.training.config import TrainConfig
from wordlm.training.corpus import (
    encode_corpus,
    read_tokenized,
    rereadable,
    token_lines,
)
from wordlm.training.factory import new_framing, new_model, tokenizer_for
from wordlm.vocab import EOS_ID, Vocabulary


def train(
    texts: Sequence[str],
    config: TrainConfig,
    valid: Sequence[str] | None = None,
    verbose: int = 2,
    on_epoch_end: Callable[[LanguageModel, int, dict], None] | None = None,
    *,
    output=None,
    resume: bool = False,
    overwrite: bool = False,
    spelling: str = "api",
) -> LanguageModel:
    """Train a model on corpus files (paths, `.gz` or `-`); returns the LanguageModel.

    `output`: model directory; the best model so far is saved there after each epoch (without `valid`,
    at most once every `checkpoint.MIN_INTERVAL` seconds), on an interrupt, and at the end (by the chief only, in multi-worker training). `resume`: continue
    the model already in `output` (its vocabulary, framing and network; `config` then supplies
    only how to train: epochs, batch size, learning rate, ...); without one there, start anew.
    A model already in `output` is never replaced unless `resume` or `overwrite` says so; the
    directory must be writable (both checked before any work). A run whose loss or weights stop
    being finite raises `TrainingDiverged` and never saves them.
    `on_epoch_end(lm, epoch, logs)` is called after each epoch (with the weights as trained, not
    the `ema` averages); `logs` holds `loss` and, with `valid`, `valid_ppl`. `spelling`: how errors
    name options ("api": the config's fields, "cli": the command line's options).
    """
    config.validate(spelling)
    for path in list(valid or []) + list(texts):
        if path != "-" and not Path(path).exists():  # fail before the long passes over the corpus
            raise InputError(f"{path}: no such file")
    if output is not None:
        check_destination(output, resume=resume, overwrite=overwrite)
    started = time.time()
    strategy = distribute.make_strategy(config.distribute)  # first: before TensorFlow runs anything
    chief = distribute.is_chief(strategy)
    writing = contextlib.ExitStack()
    if output is not None and chief:  # one writer per model directory (locking.py), for the whole run
        if not Path(output).exists():
            Path(output).mkdir(parents=True)
            writing.callback(_remove_if_unused, Path(output))  # a run that saved nothing leaves no folder
        try:
            writing.enter_context(hold(output))
        except BaseException:  # e.g. a full disk refusing the lock file: the new folder goes too
            writing.close()
            raise
    with writing, tempfile.TemporaryDirectory(prefix="wordlm-train-") as tmp:
        paths = rereadable(list(texts), Path(tmp))
        previous = None
        with distribute.scope(strategy):
            resumed = resume and has_model(output)
            if resumed:
                lm, optimizer = load_for_resume(output)
                previous = dict(lm.info)
                log(verbose, f"resuming {output}: {lm.framing.name} framing, {lm.vocab.num_words:,} words, "
                     f"{'with' if optimizer is not None else 'without'} optimizer state")
                corpus = encode_corpus(paths, lm.tokenizer, lm.vocab, lm.framing, lm.reverse, Path(tmp) / "ids")
            else:
                if resume:
                    log(verbose, f"no model in {output} yet: training a new one")
                lm, corpus = _new_model(paths, config, Path(tmp) / "ids")
                optimizer = None
            config.check_model(lm, resumed, spelling)
            if config.embeddings:
                _load_embeddings(lm, config, corpus, verbose)
            plan = make_plan(corpus, lm.framing, config.batch_size, _batch_tokens(config, lm), distribute.replicas(strategy),
                             fixed_shapes=config.jit_compile, context_tokens=config.context_tokens)
            dataset = distribute.distribute_dataset(
                strategy, lambda shard, shards: make_dataset(corpus, plan, lm.framing.recurrent, config.seed, shard, shards)
            )
            if optimizer is not None and optimizer.use_ema != bool(config.ema):
                log(verbose, f"resume: {'with' if config.ema else 'without'} --ema, unlike the saved run: "
                              f"starting a fresh optimizer")
                optimizer = None
            if optimizer is None:
                optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clipnorm,
                                                  use_ema=bool(config.ema), ema_momentum=config.ema or 0.99)
            else:
                optimizer.learning_rate = config.learning_rate
                optimizer.ema_momentum = config.ema or optimizer.ema_momentum
            lm.keras_model.get_layer("embedding").trainable = not config.freeze_embeddings
            distribute.prepare_model(lm.keras_model, strategy)
            lm.keras_model.compile(
                optimizer=optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
                jit_compile=config.jit_compile,
            )
            switch = None
            if lm.framing.recurrent and strategy is None and not config.jit_compile:
                # The same loss and gradients as Keras's step, 1.07-1.34x faster (fast_step.py).
                switch = fast_step.install(lm.keras_model, lm.size, config.sampled_softmax, config.tie_embeddings)
        valid_streams = None
        if valid:
            valid_corpus = read_tokenized(valid, lm.tokenizer, lm.reverse)
            valid_streams = [lm.framing.line(lm.vocab.encode(t)) for t in valid_corpus.lines]
        lm.info.update(_corpus_info(corpus, paths, plan, texts))
        lm.info["valid_files"] = [str(v) for v in valid] if valid else None
        checkpointer = Checkpointer(output, chief, min_interval=0.0 if valid_streams else None)  # each best epoch, with validation
        epochs = EpochLog(lm, valid_streams, config, on_epoch_end, checkpointer, started, previous, verbose, switch)
        try:
            with stop_on_interrupt(epochs.request_stop), contextlib.redirect_stdout(sys.stderr):
                lm.keras_model.fit(dataset, epochs=config.epochs, steps_per_epoch=plan.num_batches,
                                   verbose=verbose, callbacks=[epochs], shuffle=False)
            if epochs.interrupted:
                raise KeyboardInterrupt
            epochs.check_finite()
        except KeyboardInterrupt:
            epochs.finish(interrupted=True)
            message = checkpointer.interrupted(lm)
            raise KeyboardInterrupt(message or "") from None  # the CLI prints the message: one line
        finally:
            fast_step.uninstall(lm.keras_model)
        epochs.finish(interrupted=False)
        if checkpointer.active:
            from wordlm.saving import save

            save(lm, output)
    return lm


def _new_model(paths, config: TrainConfig, directory: Path):
    """A new LanguageModel (vocabulary from a counting pass over the files) and the encoded corpus."""
    tokenizer = tokenizer_for(config)
    vocab = Vocabulary.build(token_lines(paths, tokenizer, config.reverse), config.min_count, config.max_vocab)
    framing = new_framing(config)
    corpus = encode_corpus(paths, tokenizer, vocab, framing, config.reverse, directory)
    return new_model(config, vocab, int(corpus.lengths.max()), framing), corpus


def _remove_if_unused(directory: Path) -> None:
    """Remove a model directory this run created when it holds nothing but its lock file."""
    if (directory / "wordlm.json").exists():
        return
    with contextlib.suppress(OSError):
        (directory / ".wordlm.lock").unlink(missing_ok=True)
        directory.rmdir()


def _load_embeddings(lm: LanguageModel, config: TrainConfig, corpus, verbose: int) -> None:
    from wordlm.training.embeddings import initialise

    counts = np.bincount(np.asarray(corpus.ids), minlength=len(lm.vocab))
    counts[: EOS_ID + 1] = 0  # word tokens only (markers are not words)
    coverage = initialise(lm.keras_model, lm.vocab, lm.tokenizer.lower, config.embeddings, counts)
    lm.info["embeddings"] = {**coverage.to_config(), "frozen": config.freeze_embeddings}
    log(verbose, coverage.describe())


def _batch_tokens(config: TrainConfig, lm: LanguageModel) -> int:
    if config.max_batch_tokens:
        return config.max_batch_tokens
    return max(config.batch_size, MAX_LOGITS // lm.vocab_size)


def _corpus_info(corpus, paths, plan, texts) -> dict:
    return {
        "corpus": {
            "files": [str(t) if t != "-" else "<stdin>" for t in texts],
            "lines": corpus.lines,
            "tokens": corpus.tokens,
            "oov_rate": corpus.oovs / corpus.tokens if corpus.tokens else 0.0,
        },
        "examples": plan.examples,
        "predicted_tokens": plan.predicted,
        "batches_per_epoch": plan.num_batches,
    }
