"""Training: corpus files → vocabulary → framing examples → fitted Keras model → LanguageModel.

Sparse integer targets (never one-hot), Adam, logits with `from_logits=True` cross-entropy;
padding targets (id 0) are ignored. Per-epoch validation perplexity is computed exactly as the
scorer does (natural log, `</s>` counted, OOVs as `<unk>`), not from Keras's averaged loss. With
`patience`, training stops after that many epochs without improvement and keeps the best weights.
Keras's progress goes to stderr (stdout is for data only).

Not here: the network (`model.py`), what an example is (`framings.py`), the file format (`saving.py`).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import keras
import numpy as np

from wordlm.errors import InputError
from wordlm.framings import LineFraming, make_framing
from wordlm.lm import LanguageModel
from wordlm.model import ModelSize, build_model
from wordlm.text import Tokenizer, read_corpus
from wordlm.vocab import Vocabulary


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

    def to_config(self) -> dict:
        d = asdict(self)
        d["size"] = self.size.to_config()
        return d

    def validate(self) -> None:
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
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


@dataclass
class Corpus:
    """Tokenized lines of one or more files, with the statistics `info` reports."""

    files: list[str]
    lines: list[list[str]]

    @property
    def num_tokens(self) -> int:
        return sum(len(t) for t in self.lines)


def read_tokenized(paths: Sequence[str], tokenizer: Tokenizer, reverse: bool = False) -> Corpus:
    """Read and tokenize corpus files (blank lines are skipped: they carry no words)."""
    lines = []
    for _name, _number, text in read_corpus(paths):
        tokens = tokenizer.tokenize(text)
        if tokens:
            lines.append(tokens[::-1] if reverse else tokens)
    if not lines:
        names = ", ".join("<stdin>" if p == "-" else str(p) for p in paths)
        raise InputError(f"{names}: no words found (empty corpus)")
    return Corpus(files=[str(p) for p in paths], lines=lines)


def new_language_model(corpus: Corpus, config: TrainConfig) -> LanguageModel:
    """Vocabulary and framing from the corpus, and a freshly initialised network."""
    config.validate()
    tokenizer = Tokenizer("char" if config.framing == "char" else config.tokenizer, config.lower)
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    vocab = Vocabulary.build(corpus.lines, config.min_count, config.max_vocab)
    framing = make_framing(config.framing, config.boundaries, config.context)
    if isinstance(framing, LineFraming):
        framing.fit_length([vocab.encode(t) for t in corpus.lines])
    network = build_model(len(vocab), framing.input_length, framing.recurrent, config.size)
    info = {"reverse": config.reverse, "train_config": config.to_config()}
    return LanguageModel(tokenizer, vocab, framing, config.size, network, info)


def training_dataset(lm: LanguageModel, encoded: list[list[int]], batch_size: int, seed: int | None):
    """A repeating, shuffled tf.data pipeline of (inputs, targets) batches, and steps per epoch."""
    import tensorflow as tf

    framing = lm.framing
    if framing.recurrent:
        # All streams concatenated in one flat id array; an example is a (start, length) slice.
        streams = [s for s in framing.streams(encoded) if len(s) >= 2]
        if not streams:
            raise InputError("no training examples: every line is too short for this framing")
        flat = tf.constant(np.fromiter((i for s in streams for i in s), dtype=np.int32))
        lengths = np.array([len(s) for s in streams], dtype=np.int32)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
        ds = tf.data.Dataset.from_tensor_slices((starts, lengths))
        ds = ds.shuffle(len(streams), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda s, n: (flat[s : s + n - 1], flat[s + 1 : s + n])).padded_batch(batch_size)
        n = len(streams)
    else:
        pairs = list(framing.examples(encoded))
        if not pairs:
            raise InputError("no training examples: every line is too short for this framing")
        x = np.array([c for c, _ in pairs], dtype=np.int32)
        y = np.array([t for _, t in pairs], dtype=np.int32)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
        n = len(pairs)
    steps = math.ceil(n / batch_size)
    return ds.repeat().prefetch(tf.data.AUTOTUNE), steps


def perplexity(lm: LanguageModel, streams: list[list[int]]) -> float:
    """exp(-mean ln p) over every predicted token of the streams (`</s>` counted, OOV as `<unk>`)."""
    scores = lm.stream_logprobs(streams)
    total = sum(float(s.sum()) for s in scores)
    count = sum(len(s) for s in scores)
    return math.exp(-total / count) if count else float("nan")


def train(
    texts: Sequence[str],
    config: TrainConfig,
    valid: Sequence[str] | None = None,
    verbose: int = 2,
    on_epoch_end: Callable[[LanguageModel, int, dict], None] | None = None,
) -> LanguageModel:
    """Train a new model on corpus files (paths, `.gz` or `-`); returns the LanguageModel.

    `on_epoch_end(lm, epoch, logs)` is called after each epoch (the CLI saves checkpoints there);
    `logs` holds `loss` and, with `valid`, `valid_ppl`.
    """
    config.validate()
    started = time.time()
    tokenizer = Tokenizer("char" if config.framing == "char" else config.tokenizer, config.lower)
    corpus = read_tokenized(texts, tokenizer, config.reverse)
    lm = new_language_model(corpus, config)
    encoded = [lm.vocab.encode(t) for t in corpus.lines]
    valid_streams = None
    if valid:
        valid_corpus = read_tokenized(valid, tokenizer, config.reverse)
        valid_streams = [lm.framing.line(lm.vocab.encode(t)) for t in valid_corpus.lines]

    dataset, steps = training_dataset(lm, encoded, config.batch_size, config.seed)
    examples, predicted = lm.framing.count_examples(encoded)
    lm.keras_model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    )
    history = _EpochLog(lm, valid_streams, config.patience, on_epoch_end)
    with contextlib.redirect_stdout(sys.stderr):
        lm.keras_model.fit(dataset, epochs=config.epochs, steps_per_epoch=steps, verbose=verbose, callbacks=[history])
    history.restore_best()
    lm.info.update(
        corpus={
            "files": corpus.files,
            "lines": len(corpus.lines),
            "tokens": corpus.num_tokens,
            "oov_rate": _oov_rate(lm.vocab, corpus.lines),
        },
        examples=examples,
        predicted_tokens=predicted,
        epochs_run=history.epochs_run,
        best_epoch=history.best_epoch,
        train_loss=history.losses,
        valid_files=[str(v) for v in valid] if valid else None,
        valid_ppl=history.valid_ppls or None,
        best_valid_ppl=history.best_ppl if valid_streams else None,
        train_seconds=round(time.time() - started, 2),
    )
    return lm


def _oov_rate(vocab: Vocabulary, lines: list[list[str]]) -> float:
    total = sum(len(t) for t in lines)
    oov = sum(vocab.is_oov(w) for t in lines for w in t)
    return oov / total if total else 0.0


class _EpochLog(keras.callbacks.Callback):
    """Keras callback: training loss, exact validation perplexity, early stopping on it."""

    def __init__(self, lm, valid_streams, patience, on_epoch_end):
        super().__init__()
        self.lm, self.valid_streams, self.patience = lm, valid_streams, patience
        self.user_callback = on_epoch_end
        self.losses, self.valid_ppls = [], []
        self.best_ppl, self.best_epoch, self.best_weights = math.inf, None, None
        self.epochs_run = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        self.epochs_run = epoch + 1
        self.losses.append(round(float(logs.get("loss", float("nan"))), 6))
        if self.valid_streams:
            ppl = perplexity(self.lm, self.valid_streams)
            self.valid_ppls.append(round(ppl, 4))
            logs["valid_ppl"] = ppl
            print(f"epoch {epoch + 1}: validation perplexity {ppl:.2f}", file=sys.stderr)
            if ppl < self.best_ppl:
                self.best_ppl, self.best_epoch = ppl, epoch + 1
                self.best_weights = self.lm.keras_model.get_weights()
            elif self.patience and epoch + 1 - self.best_epoch >= self.patience:
                print(f"early stopping: no improvement for {self.patience} epochs", file=sys.stderr)
                self.model.stop_training = True
        else:
            self.best_epoch = epoch + 1
        if self.user_callback:
            self.user_callback(self.lm, epoch + 1, logs)

    def restore_best(self):
        if self.best_weights is not None and self.best_epoch != self.epochs_run:
            self.lm.keras_model.set_weights(self.best_weights)
            print(f"kept the weights of epoch {self.best_epoch} (best validation perplexity)", file=sys.stderr)
