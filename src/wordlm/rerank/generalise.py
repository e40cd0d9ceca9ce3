"""Tuning that generalises: cross-validated WER, and the rule that keeps the first pass unless the
LM's gain is significant.

- **Folds** (`--folds K`): the utterances with references, in file order, are cut into K contiguous
  blocks (contiguous, so that a speaker's or a session's utterances, which n-best files keep
  together, tend to share a fold). For each fold the weights are tuned on the other K − 1 folds
  (the same search as `tune`) and used to choose that fold's hypotheses; the cross-validated WER
  is the WER of those choices, every utterance chosen by weights that never saw it.
- **The paired test**: an exact two-sided **sign test** across utterances, on the cross-validated
  choices against the first pass (α = β = 0): n₊ utterances with fewer word errors, n₋ with more,
  ties dropped; p = min(1, 2 · P(X ≥ max(n₊, n₋))) for X ~ Binomial(n₊ + n₋, 1/2). It makes no
  assumption about how the error differences are distributed, which on n-best lists are mostly 0
  and ±1.
- **The default rule** (`--rule significant`): keep the weights tuned on all the tune utterances
  only when the cross-validated WER is below the first pass's and p < `--significance` (0.05);
  otherwise every weight is 0 and the first pass's ranking is kept. `--rule best` keeps the
  in-sample optimum whatever the test says (the old behaviour). Only the tune file is looked at.

Not here: the weight search itself (`tuning.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from wordlm.errors import InputError

RULES = ("significant", "best")


def sign_test(improved: int, worsened: int) -> float:
    """Two-sided exact sign test p-value for `improved` vs `worsened` paired outcomes (ties dropped)."""
    n = improved + worsened
    if n == 0:
        return 1.0
    k = max(improved, worsened)
    # P(X >= k) for X ~ Bin(n, 1/2), in log space (n may be thousands)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k, n + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(x - top) for x in logs)
    return min(1.0, 2.0 * tail)


def fold_rows(n: int, k: int) -> list[np.ndarray]:
    """K contiguous blocks of row indices 0 … n − 1 (sizes differ by at most one)."""
    return [f for f in np.array_split(np.arange(n), k) if len(f)]


@dataclass
class Generalisation:
    folds: int
    rule: str
    significance: float
    first_pass_errors: int
    in_sample_errors: int
    cv_errors: int | None
    ref_words: int
    improved: int
    worsened: int
    p_value: float
    kept: bool  # True: the tuned weights are used; False: the first pass (all weights 0)
    fold_weights: list = field(default_factory=list)

    def wer(self, errors) -> float | None:
        return None if errors is None else round(100.0 * errors / self.ref_words, 4)

    def to_json(self) -> dict:
        return {"rule": self.rule, "folds": self.folds, "test": "sign test (two-sided, exact), cross-validated "
                "choices vs first pass, per utterance", "significance": self.significance,
                "first_pass_wer": self.wer(self.first_pass_errors), "in_sample_wer": self.wer(self.in_sample_errors),
                "cv_wer": self.wer(self.cv_errors), "improved": self.improved, "worsened": self.worsened,
                "p_value": self.p_value, "kept": self.kept,
                "fold_weights": self.fold_weights}


def cross_validate(table, tune_fn, folds: int):
    """Per-utterance word errors of the cross-validated choices, and each fold's tuned weights."""
    n = len(table.scored)
    out = np.zeros(n, dtype=np.int64)
    weights = []
    for held in fold_rows(n, folds):
        train = np.setdiff1d(np.arange(n), held)
        r = tune_fn(table.subset(train))
        part = table.subset(held)
        out[held] = part.utterance_errors(r.lm_weight, r.word_bonus, r.other_weights)
        weights.append({"lm_weight": r.lm_weight, "word_bonus": r.word_bonus,
                        **({"other_weights": list(r.other_weights)} if r.other_weights else {})})
    return out, weights


def generalise(table, result, tune_fn, folds: int = 5, rule: str = "significant",
               significance: float = 0.05) -> Generalisation:
    """Cross-validate the tuning (`tune_fn(table) -> TuneResult`) and apply the rule (module docstring)."""
    if rule not in RULES:
        raise InputError(f"unknown rule {rule!r}: expected one of {', '.join(RULES)}")
    n = len(table.scored)
    first = table.utterance_errors(0.0, 0.0)
    in_sample = table.utterance_errors(result.lm_weight, result.word_bonus, result.other_weights)
    ref_words = int(sum(s.counts[0].ref_words for s in table.scored))
    folds = min(folds, n)
    cv, fold_weights = (None, [])
    compare = in_sample
    if folds >= 2:
        cv, fold_weights = cross_validate(table, tune_fn, folds)
        compare = cv
    improved, worsened = int((compare < first).sum()), int((compare > first).sum())
    p = sign_test(improved, worsened)
    if rule == "best":
        kept = True
    else:
        kept = cv is not None and int(cv.sum()) < int(first.sum()) and p < significance
    return Generalisation(folds if folds >= 2 else 0, rule, significance, int(first.sum()), int(in_sample.sum()),
                          None if cv is None else int(cv.sum()), ref_words, improved, worsened, p, kept, fold_weights)
