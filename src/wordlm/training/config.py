"""What decides a training run: `TrainConfig`, and the one home of the rules on its options.

`TrainConfig.validate` checks each option's range and the options against each other (the CLI
calls it before TensorFlow starts; `train` calls it again for Python callers); `check_model`
checks what needs the model (a resumed model's framing and sizes are its own); `check_resume`
refuses command-line architecture options that contradict a model being resumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from wordlm.errors import InputError
from wordlm.model import ModelSize
from wordlm.running_text import check_context
from wordlm.training import distribute

# With --sampled-softmax, the last quarter of training (of the epochs, or of the time limit) uses
# the full softmax, so the final model is fitted to the objective it is scored by.
FULL_SOFTMAX_TAIL = 0.25
# What the options that only `fast_step.py`'s step implements need.
FAST_STEP_NEEDS = "needs a sequence or char model trained on one device without {jit}"

# How the Python API spells an option whose CLI name differs from the `TrainConfig` field.
_API_NAMES = {"units": "size.units", "embedding_dim": "size.embedding_dim", "layers": "size.layers",
              "dropout": "size.dropout", "jit": "jit_compile", "no_boundaries": "boundaries=False"}


def option_speller(spelling: str):
    """`name -> how an error message spells that option`: `--units` for "cli", `size.units` for "api"."""
    if spelling == "cli":
        return lambda name: "--" + name.replace("_", "-")
    return lambda name: _API_NAMES.get(name, name)

# Options that decide the network and vocabulary: with --resume the saved model's own values apply.
# Each maps a model's `wordlm.json` to the value the CLI option would have.
ARCHITECTURE = {
    "framing": lambda c: c["framing"]["name"],
    "context": lambda c: c["framing"].get("context", 2),
    "tokenizer": lambda c: c["tokenizer"]["mode"],
    "lower": lambda c: c["tokenizer"]["lower"],
    "no_boundaries": lambda c: not c["framing"]["boundaries"],
    "embedding_dim": lambda c: c["size"]["embedding_dim"],
    "units": lambda c: c["size"]["units"],
    "layers": lambda c: c["size"]["layers"],
    "dropout": lambda c: c["size"]["dropout"],
    "reverse": lambda c: bool((c.get("info") or {}).get("reverse", False)),
}


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
    max_batch_tokens: int | None = None  # rows × length of a recurrent batch (None: from inference.streams.MAX_LOGITS)
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

    def fast_step_options(self, spelling: str = "api") -> list[str]:
        """The options given that need `fast_step.py`'s step."""
        o = option_speller(spelling)
        return [name for name, value in ((f"{o('sampled_softmax')}", self.sampled_softmax),
                                         (f"{o('tie_embeddings')}", self.tie_embeddings)) if value]

    def validate(self, spelling: str = "api") -> "TrainConfig":
        """Raise `InputError` naming the option when a value is out of range or options contradict
        each other; the one home of these rules (the CLI and `train` call it). `spelling`: "api" names
        the field (`size.units`), "cli" the command-line option (`--units`)."""
        o = option_speller(spelling)
        needs = FAST_STEP_NEEDS.format(jit=o("jit"))
        fast_step = self.framing in ("sequence", "char") and not self.distribute and not self.jit_compile
        checks = [
            (self.epochs >= 1, f"{o('epochs')} must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"{o('batch_size')} must be at least 1, got {self.batch_size}"),
            (self.context >= 1, f"{o('context')} must be at least 1, got {self.context}"),
            (self.min_count >= 1, f"{o('min_count')} must be at least 1, got {self.min_count}"),
            (self.max_vocab is None or self.max_vocab >= 1, f"{o('max_vocab')} must be at least 1, got {self.max_vocab}"),
            (self.size.units >= 1 and self.size.embedding_dim >= 1, f"{o('units')} and {o('embedding_dim')} must be at least 1"),
            (self.size.layers >= 1, f"{o('layers')} must be at least 1, got {self.size.layers}"),
            (0.0 <= self.size.dropout < 1.0, f"{o('dropout')} must be in [0, 1), got {self.size.dropout}"),
            (self.seed is None or 0 <= self.seed < 2**32, f"{o('seed')} must be in [0, 2^32), got {self.seed}"),
            (self.learning_rate > 0 and self.learning_rate < float("inf"), f"{o('learning_rate')} must be positive, got {self.learning_rate}"),
            (self.patience is None or self.patience >= 1, f"{o('patience')} must be at least 1, got {self.patience}"),
            (self.lr_decay is None or 0 < self.lr_decay <= 1, f"{o('lr_decay')} must be in (0, 1], got {self.lr_decay}"),
            (self.time_limit is None or self.time_limit > 0, f"{o('time_limit')} must be positive, got {self.time_limit}"),
            (self.max_batch_tokens is None or self.max_batch_tokens >= 1,
             f"{o('max_batch_tokens')} must be at least 1, got {self.max_batch_tokens}"),
            (self.distribute in (None, *distribute.STRATEGIES),
             f"{o('distribute')} must be one of {', '.join(distribute.STRATEGIES)}, got {self.distribute!r}"),
            (self.embeddings is not None or not self.freeze_embeddings, f"{o('freeze_embeddings')} needs {o('embeddings')}" + (" FILE" if spelling == "cli" else "")),
            (self.lr_schedule in ("constant", "cosine"), f"{o('lr_schedule')} must be constant or cosine, got {self.lr_schedule!r}"),
            (self.clipnorm is None or self.clipnorm > 0, f"{o('clipnorm')} must be positive, got {self.clipnorm}"),
            (self.context_tokens >= 0, f"{o('context_tokens')} must be 0 or more, got {self.context_tokens}"),
            (self.sampled_softmax >= 0, f"{o('sampled_softmax')} must be 0 or more, got {self.sampled_softmax}"),
            (0.0 <= self.ema < 1.0, f"{o('ema')} must be in [0, 1), got {self.ema}"),
            *((fast_step, f"{option} {needs}") for option in self.fast_step_options(spelling)),
            (not self.tie_embeddings or not self.freeze_embeddings,
             f"{o('tie_embeddings')} trains the embedding as the output layer: not with {o('freeze_embeddings')}"),
            (not self.context_tokens or self.framing in ("sequence", "char"),
             f"{o('context_tokens')} needs a recurrent framing (sequence or char)"),
            (not self.context_tokens or self.boundaries, f"{o('context_tokens')} needs <s> and </s> (no {o('no_boundaries')})"),
            (not self.context_tokens or not self.reverse, f"{o('context_tokens')} reads lines forwards: not with {o('reverse')}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        return self

    def check_model(self, lm, resumed: bool, spelling: str = "api") -> None:
        """The rules that need the model (a resumed model's framing and sizes are its own)."""
        o = option_speller(spelling)
        needs = FAST_STEP_NEEDS.format(jit=o("jit"))
        fast_step = lm.framing.recurrent and not self.distribute and not self.jit_compile
        checks = [
            (not (resumed and self.embeddings),
             f"{o('embeddings')} initialises a new model; a resumed model keeps its trained embeddings"),
            *((fast_step, f"{option} {needs}") for option in self.fast_step_options(spelling)),
            (self.sampled_softmax < lm.vocab_size,
             f"{o('sampled_softmax')} {self.sampled_softmax} must be below the vocabulary size "
             f"({lm.vocab_size} with the reserved ids)"),
            (not self.tie_embeddings or lm.size.embedding_dim == lm.size.units,
             f"{o('tie_embeddings')} needs {o('embedding_dim')} equal to {o('units')} (the model has "
             f"{lm.size.embedding_dim} and {lm.size.units})"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        if self.context_tokens:
            check_context(lm)


def check_resume(directory, saved: dict, given: dict) -> None:
    """Refuse an architecture option given for a resumed model that differs from the saved one.

    `saved`: the model's `wordlm.json`; `given`: option name (as in `ARCHITECTURE`) → the value the
    user gave explicitly."""
    for name, value in given.items():
        if name in ARCHITECTURE and value != ARCHITECTURE[name](saved):
            option = "--" + name.replace("_", "-")
            raise InputError(f"{directory}: {option} {value} differs from the saved model's {ARCHITECTURE[name](saved)}; "
                             f"--resume continues the saved network (drop {option}, or train into a new directory)")
