"""Training: corpus files → vocabulary → streamed, bucketed batches → fitted Keras model → LanguageModel.

The steps of `train`:
1. vocabulary: a streaming counting pass over the text (`Vocabulary.build` over `token_lines`);
   a resumed model keeps its own vocabulary (new words become `<unk>`);
2. data: a second streaming pass encodes the text to ids on disk, which a seeded, shuffled,
   length-bucketed `tf.data` pipeline reads (`streaming.py`): memory does not grow with the corpus;
3. network: built (or resumed with its optimizer state, `checkpoint.py`) inside the distribution
   strategy's scope (`distribute.py`); pre-trained vectors initialise the embedding rows of the
   words they cover (`embeddings.py`), optionally frozen;
4. fit: sparse integer targets (never one-hot), Adam, `from_logits=True` cross-entropy averaged
   over predicted tokens (padding targets, id 0, ignored); optional XLA compilation. Recurrent
   models on one device take `trainstep.py`'s faster step (the same loss and gradients), which
   can also train with a sampled softmax (`sampled_softmax` classes) until the last quarter,
   and with the embedding matrix as the output layer's weights (`tie_embeddings`). With `ema` M
   the optimizer keeps a moving average of the weights (momentum M per step; Polyak averaging),
   and validation, checkpoints and the returned model use the averaged weights.
   With `context_tokens` N an example is a run of consecutive lines of at most N inputs, so the
   model learns to read a line after the lines before it (running text; `wordlm perplexity
   --context-tokens N` scores that way). After each epoch the validation perplexity is computed
   exactly as the scorer does (natural log, `</s>` counted, OOVs as `<unk>`, with the same
   context), not from Keras's averaged loss; the best model so far is saved
   to `output` (atomically); `patience` stops after that many epochs without improvement,
   `lr_decay` multiplies the learning rate after each such epoch, `time_limit` stops training
   after that many seconds (mid-epoch; the epoch's validation still runs). The best weights win.
   Ctrl-C or SIGTERM stop after the current step (a second one at once) and leave the best model
   so far in `output`; the partial epoch is not validated or counted.
Keras's progress goes to stderr (stdout is for data only).

Not here: the network (`model.py`), what an example is (`framings.py`), the file format (`saving.py`).
"""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np

from wordlm import distribute, trainstep
from wordlm.checkpoint import Checkpointer, has_model, load_for_resume, stop_on_interrupt
from wordlm.errors import InputError
from wordlm.framings import LineFraming, make_framing
from wordlm.lm import LanguageModel
from wordlm.model import ModelSize, build_model
from wordlm.streaming import encode_corpus, make_dataset, make_plan, rereadable, token_lines
from wordlm.text import Tokenizer
from wordlm.vocab import EOS_ID, Vocabulary

# Default bound on a batch's logits tensor (rows × length × vocabulary floats, 256 MiB), which
# dominates training memory for large vocabularies; `max_batch_tokens` overrides it.
LOGITS_BUDGET = 1 << 26
# With --sampled-softmax, the last quarter of training (of the epochs, or of the time limit) uses
# the full softmax, so the final model is fitted to the objective it is scored by.
FULL_SOFTMAX_TAIL = 0.25
# What the options that only `trainstep.py`'s step implements need.
FAST_STEP_NEEDS = "needs a sequence or char model trained on one device without --jit"


@dataclass
class TrainConfig:
    """Everything that decides the model a training run produces (saved in the model's info)."""

    framing: str = "sequence"
    context: int = 2
    tokenizer: str = "keras"
    lower: bool = True
    boundaries: bool = True
    min_count: int = 1
    max_vocab: int | None = None
    size: ModelSize = field(default_factory=ModelSize)
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.001
    seed: int | None = 0
    patience: int | None = None
    reverse: bool = False
    lr_decay: float | None = None  # multiply the learning rate by this after an epoch without improvement
    time_limit: float | None = None  # seconds of training (stops mid-epoch)
    max_batch_tokens: int | None = None  # rows × length of a recurrent batch (None: from LOGITS_BUDGET)
    lr_schedule: str = "constant"  # or "cosine": decay to a tenth over the run (epochs or time limit)
    clipnorm: float | None = None  # clip the global gradient norm
    jit_compile: bool = False  # XLA-compile the training step (faster on CPU for larger models)
    embeddings: str | None = None  # GloVe / word2vec text file initialising the embedding rows
    freeze_embeddings: bool = False
    distribute: str | None = None  # None, "mirrored" or "multi-worker"
    context_tokens: int = 0  # > 0: examples are runs of consecutive lines of at most this many inputs
    sampled_softmax: int = 0  # > 0: sampled softmax over this many classes, full for the last quarter
    tie_embeddings: bool = False  # the embedding matrix is the output layer's weights (embedding_dim == units)
    ema: float = 0.0  # > 0: validate, keep and save the moving average of the weights with this momentum

    def to_config(self) -> dict:
        d = asdict(self)
        d["size"] = self.size.to_config()
        return d

    def fast_step_options(self) -> list[str]:
        """The options given that need `trainstep.py`'s step."""
        return [name for name, value in (("--sampled-softmax", self.sampled_softmax),
                                         ("--tie-embeddings", self.tie_embeddings)) if value]

    def validate(self) -> None:
        fast_step = self.framing in ("sequence", "char") and not self.distribute and not self.jit_compile
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.context >= 1, f"--context must be at least 1, got {self.context}"),
            (self.min_count >= 1, f"--min-count must be at least 1, got {self.min_count}"),
            (self.max_vocab is None or self.max_vocab >= 1, f"--max-vocab must be at least 1, got {self.max_vocab}"),
            (self.size.units >= 1 and self.size.embedding_dim >= 1, "--units and --embedding-dim must be at least 1"),
            (self.size.layers >= 1, f"--layers must be at least 1, got {self.size.layers}"),
            (0.0 <= self.size.dropout < 1.0, f"--dropout must be in [0, 1), got {self.size.dropout}"),
            (self.learning_rate > 0, f"learning rate must be positive, got {self.learning_rate}"),
            (self.patience is None or self.patience >= 1, f"--patience must be at least 1, got {self.patience}"),
            (self.lr_decay is None or 0 < self.lr_decay <= 1, f"--lr-decay must be in (0, 1], got {self.lr_decay}"),
            (self.time_limit is None or self.time_limit > 0, f"--time-limit must be positive, got {self.time_limit}"),
            (self.max_batch_tokens is None or self.max_batch_tokens >= 1,
             f"--max-batch-tokens must be at least 1, got {self.max_batch_tokens}"),
            (self.distribute in (None, *distribute.STRATEGIES),
             f"--distribute must be one of {', '.join(distribute.STRATEGIES)}, got {self.distribute!r}"),
            (self.embeddings is not None or not self.freeze_embeddings, "--freeze-embeddings needs --embeddings FILE"),
            (self.lr_schedule in ("constant", "cosine"), f"--lr-schedule must be constant or cosine, got {self.lr_schedule!r}"),
            (self.clipnorm is None or self.clipnorm > 0, f"--clipnorm must be positive, got {self.clipnorm}"),
            (self.context_tokens >= 0, f"--context-tokens must be 0 or more, got {self.context_tokens}"),
            (self.sampled_softmax >= 0, f"--sampled-softmax must be 0 or more, got {self.sampled_softmax}"),
            (0.0 <= self.ema < 1.0, f"--ema must be in [0, 1), got {self.ema}"),
            *((fast_step, f"{option} {FAST_STEP_NEEDS}") for option in self.fast_step_options()),
            (not self.tie_embeddings or not self.freeze_embeddings,
             "--tie-embeddings trains the embedding as the output layer: not with --freeze-embeddings"),
            (not self.context_tokens or self.framing in ("sequence", "char"),
             "--context-tokens needs a recurrent framing (sequence or char)"),
            (not self.context_tokens or self.boundaries, "--context-tokens needs <s> and </s> (no --no-boundaries)"),
            (not self.context_tokens or not self.reverse, "--context-tokens reads lines forwards: not with --reverse"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


@dataclass
class Corpus:
    """Tokenized lines of one or more files, in memory (validation text; small corpora in tests)."""

    files: list[str]
    lines: list[list[str]]

    @property
    def num_tokens(self) -> int:
        return sum(len(t) for t in self.lines)


def read_tokenized(paths: Sequence[str], tokenizer: Tokenizer, reverse: bool = False) -> Corpus:
    """Read and tokenize corpus files into memory (blank lines are skipped: they carry no words)."""
    lines = list(token_lines(paths, tokenizer, reverse))
    if not lines:
        names = ", ".join("<stdin>" if p == "-" else str(p) for p in paths)
        raise InputError(f"{names}: no words found (empty corpus)")
    return Corpus(files=[str(p) for p in paths], lines=lines)


def new_language_model(corpus: Corpus, config: TrainConfig) -> LanguageModel:
    """Vocabulary and framing from an in-memory corpus, and a freshly initialised network."""
    config.validate()
    tokenizer = Tokenizer("char" if config.framing == "char" else config.tokenizer, config.lower)
    vocab = Vocabulary.build(corpus.lines, config.min_count, config.max_vocab)
    framing = make_framing(config.framing, config.boundaries, config.context)
    if isinstance(framing, LineFraming):
        framing.fit_length([vocab.encode(t) for t in corpus.lines])
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    network = build_model(len(vocab), framing.input_length, framing.recurrent, config.size)
    info = {"reverse": config.reverse, "train_config": config.to_config()}
    return LanguageModel(tokenizer, vocab, framing, config.size, network, info)


def perplexity(lm: LanguageModel, streams: list[list[int]], max_logits: int = LOGITS_BUDGET,
               context_tokens: int = 0) -> float:
    """exp(-mean ln p) over every predicted token of the streams (`</s>` counted, OOV as `<unk>`).

    Streams are scored in groups of similar length small enough that a group's logits tensor
    (streams × length × vocabulary floats) stays within `max_logits`: memory stays bounded on
    corpora with long lines and large vocabularies. `context_tokens` > 0: the streams are
    consecutive lines of running text, each read after the lines before it (`scoring.in_context`,
    what `wordlm perplexity --context-tokens` computes).
    """
    if context_tokens:
        from wordlm.scoring import in_context, stream_scores

        full, skips = in_context(streams, context_tokens)
        scores = stream_scores(lm, full, max_logits, skips=skips)
        count = sum(len(s) for s in scores)
        return math.exp(-sum(float(s.sum()) for s in scores) / count) if count else float("nan")
    order = sorted(range(len(streams)), key=lambda i: len(streams[i]))
    total, count, group = 0.0, 0, []

    def flush():
        nonlocal total, count
        for s in lm.stream_logprobs(group, batch_size=max(1, len(group))):
            total += float(s.sum())
            count += len(s)
        group.clear()

    for i in order:
        if group and (len(group) >= 64 or (len(group) + 1) * len(streams[i]) * lm.vocab_size > max_logits):
            flush()
        group.append(streams[i])
    if group:
        flush()
    return math.exp(-total / count) if count else float("nan")


def train(
    texts: Sequence[str],
    config: TrainConfig,
    valid: Sequence[str] | None = None,
    verbose: int = 2,
    on_epoch_end: Callable[[LanguageModel, int, dict], None] | None = None,
    *,
    output=None,
    resume: bool = False,
) -> LanguageModel:
    """Train a model on corpus files (paths, `.gz` or `-`); returns the LanguageModel.

    `output`: model directory; the best model so far is saved there after each epoch, on an
    interrupt, and at the end (by the chief only, in multi-worker training). `resume`: continue
    the model already in `output` (its vocabulary, framing and network; `config` then supplies
    only how to train: epochs, batch size, learning rate, ...); without one there, start anew.
    `on_epoch_end(lm, epoch, logs)` is called after each epoch (with the weights as trained, not
    the `ema` averages); `logs` holds `loss` and, with `valid`, `valid_ppl`.
    """
    config.validate()
    for path in list(valid or []) + list(texts):
        if path != "-" and not Path(path).exists():  # fail before the long passes over the corpus
            raise InputError(f"{path}: no such file")
    started = time.time()
    strategy = distribute.make_strategy(config.distribute)  # first: before TensorFlow runs anything
    chief = distribute.is_chief(strategy)
    with tempfile.TemporaryDirectory(prefix="wordlm-train-") as tmp:
        paths = rereadable(list(texts), Path(tmp))
        previous = None
        with distribute.scope(strategy):
            if resume and has_model(output):
                if config.embeddings:
                    raise InputError("--embeddings initialises a new model; a resumed model keeps its trained embeddings")
                lm, optimizer = load_for_resume(output)
                previous = dict(lm.info)
                _log(verbose, f"resuming {output}: {lm.framing.name} framing, {lm.vocab.num_words:,} words, "
                     f"{'with' if optimizer is not None else 'without'} optimizer state")
                corpus = encode_corpus(paths, lm.tokenizer, lm.vocab, lm.framing, lm.reverse, Path(tmp) / "ids")
            else:
                if resume:
                    _log(verbose, f"no model in {output} yet: training a new one")
                lm, corpus = _new_model(paths, config, Path(tmp) / "ids")
                optimizer = None
            if config.context_tokens:
                from wordlm.scoring import check_context

                check_context(lm)  # a resumed model's framing is its own
            if config.embeddings:
                _load_embeddings(lm, config, corpus, verbose)
            plan = make_plan(corpus, lm.framing, config.batch_size, _batch_tokens(config, lm), distribute.replicas(strategy),
                             fixed_shapes=config.jit_compile, context_tokens=config.context_tokens)
            dataset = distribute.distribute_dataset(
                strategy, lambda shard, shards: make_dataset(corpus, plan, lm.framing.recurrent, config.seed, shard, shards)
            )
            if optimizer is not None and optimizer.use_ema != bool(config.ema):
                _log(verbose, f"resume: {'with' if config.ema else 'without'} --ema, unlike the saved run: "
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
                if config.sampled_softmax >= lm.vocab_size:
                    raise InputError(f"--sampled-softmax {config.sampled_softmax} must be below the vocabulary "
                                     f"size ({lm.vocab_size} with the reserved ids)")
                if config.tie_embeddings and lm.size.embedding_dim != lm.size.units:
                    raise InputError(f"--tie-embeddings needs --embedding-dim equal to --units (the model has "
                                     f"{lm.size.embedding_dim} and {lm.size.units})")
                # The same loss and gradients as Keras's step, 1.07-1.34x faster (trainstep.py).
                switch = trainstep.install(lm.keras_model, lm.size, config.sampled_softmax, config.tie_embeddings)
            elif config.fast_step_options():  # a resumed model's framing is its own
                raise InputError(f"{config.fast_step_options()[0]} {FAST_STEP_NEEDS}")
        valid_streams = None
        if valid:
            valid_corpus = read_tokenized(valid, lm.tokenizer, lm.reverse)
            valid_streams = [lm.framing.line(lm.vocab.encode(t)) for t in valid_corpus.lines]
        lm.info.update(_corpus_info(corpus, paths, plan, texts))
        lm.info["valid_files"] = [str(v) for v in valid] if valid else None
        checkpointer = Checkpointer(output, chief)
        log = _EpochLog(lm, valid_streams, config, on_epoch_end, checkpointer, started, previous, verbose, switch)
        try:
            with stop_on_interrupt(log.request_stop), contextlib.redirect_stdout(sys.stderr):
                lm.keras_model.fit(dataset, epochs=config.epochs, steps_per_epoch=plan.num_batches,
                                   verbose=verbose, callbacks=[log], shuffle=False)
            if log.interrupted:
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            log.finish(interrupted=True)
            message = checkpointer.interrupted(lm)
            if message:
                print(message, file=sys.stderr)
            raise
        finally:
            trainstep.uninstall(lm.keras_model)
        log.finish(interrupted=False)
        if checkpointer.active:
            from wordlm.saving import save

            save(lm, output)
    return lm


def _new_model(paths, config: TrainConfig, directory: Path):
    """A new LanguageModel (vocabulary from a counting pass) and the encoded corpus."""
    tokenizer = Tokenizer("char" if config.framing == "char" else config.tokenizer, config.lower)
    vocab = Vocabulary.build(token_lines(paths, tokenizer, config.reverse), config.min_count, config.max_vocab)
    framing = make_framing(config.framing, config.boundaries, config.context)
    corpus = encode_corpus(paths, tokenizer, vocab, framing, config.reverse, directory)
    if isinstance(framing, LineFraming):
        # What `fit_length` computes (the longest stream), taken from the encoded corpus on disk.
        longest = int(corpus.lengths.max())
        if longest < 2:
            raise InputError("the line framing needs at least one line of two or more tokens")
        framing.max_length = longest
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    network = build_model(len(vocab), framing.input_length, framing.recurrent, config.size)
    info = {"reverse": config.reverse, "train_config": config.to_config()}
    return LanguageModel(tokenizer, vocab, framing, config.size, network, info), corpus


def _load_embeddings(lm: LanguageModel, config: TrainConfig, corpus, verbose: int) -> None:
    from wordlm.embeddings import initialise

    counts = np.bincount(np.asarray(corpus.ids), minlength=len(lm.vocab))
    counts[: EOS_ID + 1] = 0  # word tokens only (markers are not words)
    coverage = initialise(lm.keras_model, lm.vocab, lm.tokenizer.lower, config.embeddings, counts)
    lm.info["embeddings"] = {**coverage.to_config(), "frozen": config.freeze_embeddings}
    _log(verbose, coverage.describe())


def _batch_tokens(config: TrainConfig, lm: LanguageModel) -> int:
    if config.max_batch_tokens:
        return config.max_batch_tokens
    return max(config.batch_size, LOGITS_BUDGET // lm.vocab_size)


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


def _log(verbose: int, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr)


class _EpochLog(keras.callbacks.Callback):
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
        self.full_softmax_step = None

    def request_stop(self) -> None:
        """From a signal handler: stop after the current step (`train` then saves and re-raises)."""
        self.interrupted = True
        if self.model is not None:
            self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self.fit_started = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.time()

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
            _log(self.verbose, f"full softmax from step {self.steps} (the last {FULL_SOFTMAX_TAIL:.0%} of training)")

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.interrupted:
            self.model.stop_training = True
            return
        limit = self.config.time_limit
        if limit is not None and time.time() - self.fit_started >= limit and not self.timed_out:
            self.timed_out = True
            self.model.stop_training = True
            _log(self.verbose, f"time limit: stopping after {limit:g} s of training")

    def on_epoch_end(self, epoch, logs=None):
        self.fit_seconds += time.time() - self.epoch_started  # training steps only, not validation
        if self.interrupted:  # a partial epoch: not validated, not counted, not checkpointed
            return
        logs = dict(logs or {})
        self.epochs_run = epoch + 1
        self.losses.append(round(float(logs.get("loss", float("nan"))), 6))
        with self._averaged_weights():
            self._validate_and_save(epoch, logs)
        if self.user_callback:
            self.user_callback(self.lm, epoch + 1, logs)

    def _validate_and_save(self, epoch: int, logs: dict) -> None:
        improved = True
        if self.valid_streams:
            ppl = perplexity(self.lm, self.valid_streams, context_tokens=self.config.context_tokens)
            self.valid_ppls.append(round(ppl, 4))
            logs["valid_ppl"] = ppl
            _log(self.verbose, f"epoch {epoch + 1}: validation perplexity {ppl:.2f}")
            improved = ppl < self.best_ppl
            if improved:
                self.best_ppl, self.best_epoch, self.stale = ppl, epoch + 1, 0
                self.best_weights = self.lm.keras_model.get_weights()
            else:
                self.stale += 1
                if self.config.lr_decay and self.config.lr_decay < 1:
                    self.base_lr *= self.config.lr_decay
                    self.model.optimizer.learning_rate = self.base_lr
                    _log(self.verbose, f"learning rate now {self.base_lr:.3g}")
                if self.config.patience and self.stale >= self.config.patience:
                    _log(self.verbose, f"early stopping: no improvement for {self.config.patience} epochs")
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
            trainstep.tie_output(self.lm.keras_model)

    def finish(self, interrupted: bool) -> None:
        """Keep the best weights and record the run in `lm.info`."""
        # With `ema`, fit ends by writing the averages into the model: the best epoch's are restored
        # exactly (and re-tied), even when it is the last.
        if self.best_weights is not None and (self.best_epoch != self.epochs_run or self.config.ema):
            self.lm.keras_model.set_weights(self.best_weights)
            if self.best_epoch != self.epochs_run:
                _log(self.verbose, f"kept the weights of epoch {self.best_epoch} (best validation perplexity)")
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
