"""Corpus totals: sentences, words, OOVs and the log-probability, added exactly; SRILM's perplexities.

Totals are kept in fixed point (integer multiples of 2^-20 nats), so they add associatively:
summaries of shards merge into exactly (bit for bit) the summary of the same sentence scores added
in one run. (The per-sentence scores themselves are float32 sums whose last bits may depend on the
batch a line was scored in; see `inference/streams.py`.) Not here: scoring lines (`sentences.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.jsonfile import parse
from wordlm.scoring.sentences import OOV_MODES, Options, SentenceScore, perplexity_of

FIXED_POINT = 2**20  # corpus log-probabilities are kept as integers in units of 2^-20 nats
MAX_COUNT = 2**63  # sentences, words, ...: a summary beyond this is not one wordlm wrote
MAX_LOGPROB = 1e200  # |logprob| of a summary, nats: far beyond any corpus, far below float overflow


@dataclass
class Summary:
    """Corpus totals. `add` a sentence, `merge` another summary (totals add, exactly)."""

    unit: str = "word"  # "char" for character models
    options: Options = field(default_factory=Options)
    sentences: int = 0
    words: int = 0
    oovs: int = 0
    scored: int = 0
    ends: int = 0
    chars: int = 0
    fixed: int = 0  # the log-probability in units of 2^-20 nats

    def add(self, s: SentenceScore) -> None:
        self.sentences += 1
        self.words += s.words
        self.oovs += s.oovs
        self.scored += s.scored
        self.ends += s.ends
        self.chars += s.chars or 0
        self.fixed += round(s.logprob * FIXED_POINT)

    def add_all(self, scores) -> None:
        """`add` every sentence of `scores` (a `ScoredLines` is added from its arrays, at once)."""
        from wordlm.scoring.sentences import ScoredLines

        logprobs = getattr(scores, "logprobs", None)
        if not isinstance(scores, ScoredLines) or not len(scores) or np.abs(logprobs).max() >= 2.0**32:
            for s in scores:  # (beyond 2^32 nats a line, the fixed-point sum leaves int64: one by one)
                self.add(s)
            return
        self.sentences += len(scores)
        self.words += int(scores.words.sum())
        self.oovs += int(scores.oovs.sum())
        self.scored += int(scores.scored.sum())
        self.ends += int(scores.ends.sum())
        self.chars += int(scores.chars.sum())
        # round(x * 2^20) of each line, as `add` does: np.rint rounds half to even like round(), and
        # x * 2^20 is exact; under 2^52 the values are integers a float64 and an int64 hold exactly
        self.fixed += int(np.rint(logprobs * FIXED_POINT).astype(np.int64).sum())

    def merge(self, other: "Summary") -> None:
        if (other.unit, other.options) != (self.unit, self.options):
            raise InputError(
                f"cannot merge summaries scored differently: {_describe(self)} and {_describe(other)}"
            )
        for name in ("sentences", "words", "oovs", "scored", "ends", "chars", "fixed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def logprob(self) -> float:
        return self.fixed / FIXED_POINT

    def _exp(self, n: int) -> float | None:
        return perplexity_of(self.logprob, n)

    @property
    def ppl(self) -> float | None:
        return self._exp(self.scored if self.unit == "word" else self.words + self.ends)

    @property
    def ppl1(self) -> float | None:
        return self._exp(self.scored - self.ends if self.unit == "word" else self.words)

    def to_json(self) -> dict:
        out = {"sentences": self.sentences, "words": self.words, "oovs": self.oovs, "logprob": self.logprob,
               "ppl": self.ppl, "ppl1": self.ppl1, "scored": self.scored, "ends": self.ends}
        if self.unit == "char":
            out.update(chars=self.chars, char_ppl=self._exp(self.scored),
                       bpc=-self.logprob / math.log(2) / self.scored if self.scored else None)
        out["options"] = {"unit": self.unit, "bos": self.options.bos, "eos": self.options.eos, "oov": self.options.oov}
        return out

    @classmethod
    def from_json(cls, obj, where: str = "summary") -> "Summary":
        """Read a summary written by `to_json` (e.g. `wordlm score --summary`); errors name `where`."""
        need = ("sentences", "words", "oovs", "logprob", "scored", "ends", "options")
        if not isinstance(obj, dict) or any(k not in obj for k in need):
            raise InputError(f"{where}: not a wordlm summary (expected the fields {', '.join(need)}; "
                             "write one with `wordlm score --summary FILE` or `wordlm perplexity --json`)")

        def fail(name: str, expected: str, value) -> None:
            shown = repr(value) if not isinstance(value, (dict, list)) else f"a {type(value).__name__}"
            raise InputError(f'{where}: malformed summary: "{name}" must be {expected}, got {shown[:40]}')

        opt = obj["options"]
        if not isinstance(opt, dict):
            fail("options", "an object", opt)
        if opt.get("unit") not in ("word", "char"):
            fail("options.unit", '"word" or "char"', opt.get("unit"))
        for key in ("bos", "eos"):
            if not isinstance(opt.get(key), bool):
                fail(f"options.{key}", "true or false", opt.get(key))
        if opt.get("oov") not in OOV_MODES:
            fail("options.oov", " or ".join(f'"{m}"' for m in OOV_MODES), opt.get("oov"))
        s = cls(unit=opt["unit"], options=Options(opt["bos"], opt["eos"], opt["oov"]))
        for name in ("sentences", "words", "oovs", "scored", "ends", "chars"):
            value = obj.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < MAX_COUNT:
                fail(name, "an integer in [0, 2^63)", value)
            setattr(s, name, value)
        logprob = obj["logprob"]
        if isinstance(logprob, bool) or not isinstance(logprob, (int, float)) or \
                not math.isfinite(logprob) or not -MAX_LOGPROB <= logprob <= 0:
            fail("logprob", f"a number in [-{MAX_LOGPROB:.0e}, 0] (a natural-log probability)", logprob)
        s.fixed = round(logprob * FIXED_POINT)  # a Python int: exact at any size
        return s


def _describe(s: Summary) -> str:
    o = s.options
    return f"unit={s.unit} bos={o.bos} eos={o.eos} oov={o.oov}"


def summarize(lm, scores: Iterable[SentenceScore], options: Options = Options()) -> Summary:
    summary = new_summary(lm, options)
    for s in scores:
        summary.add(s)
    return summary


def new_summary(lm, options: Options = Options()) -> Summary:
    return Summary(unit="char" if lm.tokenizer.mode == "char" else "word", options=options)


def merge_summaries(paths: Sequence[str]) -> Summary:
    """Add up the summaries in JSON-lines files (`wordlm score --summary`, `perplexity --json`)
    exactly; errors name the file and line."""
    from wordlm.text import read_lines

    total = None
    for path in paths:
        for number, line in read_lines(path):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            s = Summary.from_json(parse(line, where), where)
            if total is None:
                total = s
            else:
                try:
                    total.merge(s)
                except InputError as e:
                    raise InputError(f"{where}: {e}") from None
    if total is None:
        raise InputError(f"{', '.join(paths)}: no summaries to merge")
    return total
