"""Decoding options: one frozen dataclass holding every knob of `generate`, validated in one place,
and the length normalisations a search ranks by.

Job: name, check and document the options (`DecodeOptions`), and compute a hypothesis's `score`
from its log-probability and length (`length_normalised`). Non-job: the searches themselves
(`search.py`, `beam.py`), what may be generated (`constraints.py`).

Units: log-probabilities are natural logs. A hypothesis's *length* is the number of tokens it
generated, `</s>` counted when it was generated (the prompt never counts). `max_words` and
`min_words` count words only (characters for a `char` model), never `</s>`.
"""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass, fields

from wordlm.errors import InputError

STRATEGIES = ("greedy", "sample", "beam")
MAX_WORDS = 10_000  # tokens one hypothesis may grow by (a character model needs more than a word model)
MAX_NUM = 10_000  # results per prompt (sampling estimates a distribution from thousands)
MAX_BEAM = 1_000  # beam width: rows × vocabulary floats per step
MAX_ROWS = 4_096  # rows (prompts × max(num, beam)) decoded in one batch
MAX_LENGTH_PENALTY = 10.0  # alpha: (5 + MAX_WORDS)**alpha must stay a float (GNMT uses 0.6 to 1)
LENGTH_NORMS = ("none", "avg", "gnmt")


@dataclass(frozen=True)
class DecodeOptions:
    """What to generate and how. Defaults: greedy, up to 20 words, one result.

    - `strategy`: `greedy` (most likely token each step), `sample` (draw from the model's
      distribution, shaped by `temperature`, `top_k`, `top_p`; `num` independent samples), or
      `beam` (beam search of width `beam_size`, the `num` best hypotheses, `num <= beam_size`).
    - `max_words`: at most this many words are generated; a hypothesis that reaches it without
      `</s>` is returned as is (`eos=False`, no `</s>` term in its logprob). Models without
      boundaries never generate `</s>`: they stop here, and a `line` model also at the end of its
      line (its longest training line, `framing.max_length` tokens).
    - `min_words`: `</s>` is forbidden before this many words.
    - `temperature`: divides the log-probabilities before sampling; 0 means greedy.
    - `top_k`: sample only among the k most likely tokens (None: all).
    - `top_p`: sample only in the nucleus, the smallest set of most likely tokens whose
      probability reaches p (after temperature); the most likely token is always kept.
    - `length_norm`, `length_penalty` (alpha): how `score` is computed from `logprob`, see
      `length_normalised`. Beam search ranks finished hypotheses by it.
    - `no_repeat_ngram`: n; never generate a token that would repeat an n-gram already in the
      history (prompt included).
    - `forbid`: words never generated. `<pad>` and `<s>` are never generated; nor is `<unk>`
      unless `allow_unk`.
    - `seed`: seeds sampling (numpy Generator); the same seed gives the same samples. None: fresh
      randomness.

    Ties are broken by token id (lower first) in every strategy, so greedy, beam 1, top-k 1 and
    temperature 0 pick the same token.
    """

    strategy: str = "greedy"
    max_words: int = 20
    min_words: int = 0
    num: int = 1
    beam_size: int = 4
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    length_norm: str = "none"
    length_penalty: float = 1.0
    no_repeat_ngram: int | None = None
    forbid: tuple[str, ...] = ()
    allow_unk: bool = False
    seed: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "forbid", tuple(self.forbid))

    def validate(self, spelling: str = "api") -> "DecodeOptions":
        """Raise `InputError` naming the option when a value is out of range (caps: `MAX_WORDS`,
        `MAX_NUM`, `MAX_BEAM`, so that time and memory stay bounded). `spelling`: "api" names the
        field as Python and the service spell it (`num`), "cli" as the command line does (`--num`)."""
        o = option_speller(spelling)
        checks = [
            (self.max_words <= MAX_WORDS, f"{o('max_words')} must be at most {MAX_WORDS:,}, got {self.max_words:,}"),
            (self.num <= MAX_NUM, f"{o('num')} must be at most {MAX_NUM:,}, got {self.num:,}"),
            (self.beam_size <= MAX_BEAM, f"{o('beam_size')} must be at most {MAX_BEAM:,}, got {self.beam_size:,}"),
            (self.seed is None or 0 <= self.seed < 2**32, f"{o('seed')} must be in [0, 2^32), got {self.seed}"),
            (math.isfinite(self.temperature) and math.isfinite(self.length_penalty),
             f"{o('temperature')} and {o('length_penalty')} must be finite"),
            (self.strategy in STRATEGIES, f"{o('strategy')} must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"),
            (self.max_words >= 0, f"{o('max_words')} must be at least 0, got {self.max_words}"),
            (self.min_words >= 0, f"{o('min_words')} must be at least 0, got {self.min_words}"),
            (self.min_words <= self.max_words,
             f"{o('min_words')} ({self.min_words}) must not exceed {o('max_words')} ({self.max_words})"),
            (self.num >= 1, f"{o('num')} must be at least 1, got {self.num}"),
            (self.beam_size >= 1, f"{o('beam_size')} must be at least 1, got {self.beam_size}"),
            (self.temperature >= 0, f"{o('temperature')} must be at least 0, got {self.temperature}"),
            (self.top_k is None or self.top_k >= 1, f"{o('top_k')} must be at least 1, got {self.top_k}"),
            (self.top_p is None or 0 < self.top_p <= 1, f"{o('top_p')} must be in (0, 1], got {self.top_p}"),
            (self.length_norm in LENGTH_NORMS,
             f"{o('length_norm')} must be one of {', '.join(LENGTH_NORMS)}, got {self.length_norm!r}"),
            (self.length_penalty >= 0, f"{o('length_penalty')} must be at least 0, got {self.length_penalty}"),
            (self.length_penalty <= MAX_LENGTH_PENALTY,
             f"{o('length_penalty')} must be at most {MAX_LENGTH_PENALTY:g}, got {self.length_penalty:g}"),
            (self.no_repeat_ngram is None or self.no_repeat_ngram >= 1,
             f"{o('no_repeat_ngram')} must be at least 1, got {self.no_repeat_ngram}"),
            (self.strategy != "greedy" or self.num == 1,
             f"{o('num')} > 1 needs " + ("--strategy sample or beam" if spelling == "cli" else "strategy='sample' or 'beam'")
             + " (greedy has one result)"),
            (self.strategy != "beam" or self.num <= self.beam_size,
             f"{o('num')} ({self.num}) must not exceed {o('beam_size')} ({self.beam_size})"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        return self

    def to_config(self) -> dict:
        config = asdict(self)
        config["forbid"] = list(self.forbid)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "DecodeOptions":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})


def option_speller(spelling: str):
    """`name -> how an error message spells that option`: `max_words` for "api", `--max-words` for "cli"."""
    if spelling == "cli":
        return lambda name: "--" + name.replace("_", "-")
    return lambda name: name


def length_normalised(logprob: float, length: int, norm: str = "none", alpha: float = 1.0) -> float:
    """A hypothesis's score from its natural-log probability and its length (tokens generated,
    `</s>` counted when generated):

    - `none`: logprob
    - `avg`:  logprob / length**alpha            (alpha = 1: mean log-probability per token)
    - `gnmt`: logprob / ((5 + length)**alpha / 6**alpha)   (Wu et al. 2016, GNMT)

    A hypothesis of length 0 (nothing generated) scores its logprob (0). Both normalisations grow
    with length for alpha >= 0, which beam search's early stop relies on.
    """
    if norm == "none" or length <= 0:
        return logprob
    if norm == "avg":
        return logprob / length**alpha
    if norm == "gnmt":
        return logprob / ((5.0 + length) ** alpha / 6.0**alpha)
    raise InputError(f"unknown length normalisation {norm!r}: expected one of {', '.join(LENGTH_NORMS)}")
