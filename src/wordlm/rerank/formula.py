"""The combination `total = first_pass + α·LM + β·words`, utterances scored for it, and output records.

See the package docstring (`wordlm.rerank`) for the formula and the tie rule. Not here: how the LM
scores are computed (`trie.py`), the WER report (`report.py`), tuning (`tuning.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from wordlm.errors import InputError
from wordlm.nbest import Utterance
from wordlm.rerank.trie import LMCache
from wordlm.wer import ErrorCounts, count_errors


def parse_am(spec: str | None) -> dict[str, float]:
    """`"decoder=0.6,ctc=0.4"` → {"decoder": 0.6, "ctc": 0.4}; a bare name has weight 1; None → {"score": 1}."""
    if spec is None or not spec.strip():
        return {"score": 1.0}
    out: dict[str, float] = {}
    for part in spec.split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if not name:
            raise InputError(f"--am {spec!r}: empty field name (expected FIELD=WEIGHT,...)")
        try:
            w = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise InputError(f"--am {spec!r}: weight {weight!r} of {name!r} is not a number") from None
        if not math.isfinite(w):
            raise InputError(f"--am {spec!r}: weight of {name!r} must be finite")
        if name in out:
            raise InputError(f"--am {spec!r}: field {name!r} given twice")
        out[name] = w
    return out


def format_am(am: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in am.items())


def word_count(text: str) -> int:
    """words(h): the number of whitespace-separated words of a hypothesis as written."""
    return len(text.split())


def first_pass(utt: Utterance, am: dict[str, float]) -> np.ndarray:
    """<float64>[hyps]: Σ_f w_f · h[f] for each hypothesis (fields validated by the reader)."""
    return np.array([sum(w * h.fields[f] for f, w in am.items()) for h in utt.hyps], dtype=np.float64)


def combine(first: np.ndarray, lm: np.ndarray, n_words: np.ndarray, lm_weight: float, word_bonus: float) -> np.ndarray:
    """total = first_pass + α · LM + β · words (elementwise, float64)."""
    return first + lm_weight * lm + word_bonus * n_words


def _comparable(totals: np.ndarray) -> np.ndarray:
    """NaN (inf − inf from overflowing scores) ranks last, never first as `argmax` would put it."""
    return np.where(np.isnan(totals), -np.inf, totals)


def choose(totals: np.ndarray) -> int:
    """Index of the first highest total: ties keep the original order; NaN is never chosen over a number."""
    return int(np.argmax(_comparable(totals)))


def ranking(totals: np.ndarray) -> np.ndarray:
    """Indices from best to worst total; a stable sort, so ties keep the original order; NaN last."""
    return np.argsort(-_comparable(totals), kind="stable")


def check_finite(utt: Utterance, values: np.ndarray, what: str, hint: str, where: str = "") -> None:
    """InputError naming the utterance and hypothesis where `values` is NaN or infinite.

    The rule for numbers that cannot be ranked: a total that overflows (huge but finite first-pass
    scores times their weights) or an LM score that is NaN is refused, never clamped and never
    ranked, so the output never holds Infinity or NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{where + ': ' if where else ''}utterance {utt.utt_id}: hypothesis {i + 1}: {what} is "
                         f"{values[i]}, not a finite "
                         f"number; {hint}")


@dataclass
class Scored:
    """An utterance with what the combination needs, hypotheses in file order."""

    utt: Utterance
    first_pass: np.ndarray  # <float64>[hyps]
    lm: np.ndarray  # <float64>[hyps] natural-log sentence log-probabilities
    words: np.ndarray  # <float64>[hyps]
    counts: list[ErrorCounts] | None = None  # per hypothesis, when there is a reference
    others: np.ndarray | None = None  # <float64>[hyps, K]: the log-probabilities of the other LMs (`--lm`)
    where: str = ""  # the n-best file, for messages

    def totals(self, lm_weight: float, word_bonus: float, other_weights=None) -> np.ndarray:
        """first_pass + α·LM + Σ_k α_k·LM_k + β·words; InputError where it overflows (never inf or NaN)."""
        with np.errstate(over="ignore", invalid="ignore"):
            total = combine(self.first_pass, self.lm, self.words, lm_weight, word_bonus)
            if other_weights is not None and self.others is not None and len(other_weights):
                total = total + self.others @ np.asarray(other_weights, dtype=np.float64)
        check_finite(self.utt, total, f"the total score (lm_weight {lm_weight:g}, word_bonus {word_bonus:g})",
                     "the first-pass scores or the weights are too large to add up; scale them down", self.where)
        return total

    @property
    def errors(self) -> np.ndarray:
        return np.array([c.errors for c in self.counts], dtype=np.int64)


def score_nbest(
    lm,
    utterances: Iterable[Utterance],
    am: dict[str, float],
    cache: LMCache | None = None,
    batch_hyps: int = 20000,
    progress: Callable[[int, int], None] | None = None,
    others: list | None = None,
    where: str = "",
) -> Iterator[Scored]:
    """Score utterances in batches (one trie per batch), yielding them in input order.

    `others`: more LMs (models, mixtures, or their `LMCache`s) whose log-probabilities join the
    combination with weights of their own (`Scored.others`).

    `progress(utterances_done, hypotheses_done)` is called after each batch.
    """
    cache = cache or LMCache(lm)
    other_caches = [c if isinstance(c, LMCache) else LMCache(c) for c in (others or [])]
    done_u = done_h = 0
    for batch in _batches(utterances, batch_hyps):
        texts = [h.text for u in batch for h in u.hyps]
        lm_scores = cache(texts)
        other_scores = np.stack([c(texts) for c in other_caches], axis=1) if other_caches else None
        refs = [(i, u) for i, u in enumerate(batch) if u.ref is not None]
        counts = count_errors([u.ref for _, u in refs for _ in u.hyps], [h.text for _, u in refs for h in u.hyps])
        per_utt: dict[int, list[ErrorCounts]] = {}
        pos = 0
        for i, u in refs:
            per_utt[i] = counts[pos : pos + len(u.hyps)]
            pos += len(u.hyps)
        pos = 0
        for i, u in enumerate(batch):
            k = len(u.hyps)
            with np.errstate(over="ignore", invalid="ignore"):
                fp = first_pass(u, am)
            check_finite(u, fp, f"the first-pass score ({format_am(am)})",
                         "its fields are too large for their --am weights; scale them down", where)
            check_finite(u, lm_scores[pos : pos + k], "the LM score", "the model's numbers overflowed on this text",
                         where)
            if other_scores is not None:
                check_finite(u, other_scores[pos : pos + k].sum(axis=1), "an --lm score",
                             "that model's numbers overflowed on this text", where)
            yield Scored(u, fp, lm_scores[pos : pos + k],
                         np.array([word_count(h.text) for h in u.hyps], dtype=np.float64), per_utt.get(i),
                         None if other_scores is None else other_scores[pos : pos + k], where)
            pos += k
        done_u += len(batch)
        done_h += len(texts)
        if progress:
            progress(done_u, done_h)


def _batches(utterances: Iterable[Utterance], batch_hyps: int) -> Iterator[list[Utterance]]:
    batch: list[Utterance] = []
    size = 0
    for u in utterances:
        batch.append(u)
        size += len(u.hyps)
        if size >= batch_hyps:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def record(s: Scored, lm_weight: float, word_bonus: float, all_hyps: bool = False, other_weights=None) -> dict:
    """The output line of an utterance: the chosen hypothesis (and with `all_hyps`, every one, best first).
    With other LMs, `lms` holds their log-probabilities of the hypothesis (in `--lm` order)."""
    totals = s.totals(lm_weight, word_bonus, other_weights)
    best = choose(totals)
    out = {
        "utt_id": s.utt.utt_id,
        "text": s.utt.hyps[best].text,
        "rank_before": best + 1,
        "score": round(float(totals[best]), 6),
        "first_pass": round(float(s.first_pass[best]), 6),
        "wordlm": round(float(s.lm[best]), 6),
        "words": int(s.words[best]),
    }
    if s.others is not None:
        out["lms"] = [round(float(x), 6) for x in s.others[best]]
    if all_hyps:
        if s.utt.ref is not None:
            out["ref"] = s.utt.ref
        out["hyps"] = [
            {"text": s.utt.hyps[i].text, **s.utt.hyps[i].fields, "rank_before": int(i) + 1,
             "first_pass": round(float(s.first_pass[i]), 6), "wordlm": round(float(s.lm[i]), 6),
             "words": int(s.words[i]), "total": round(float(totals[i]), 6),
             **({"lms": [round(float(x), 6) for x in s.others[i]]} if s.others is not None else {})}
            for i in ranking(totals)
        ]
    return out
