"""Tuning the weights: a grid search over (α, β) on utterances with references, and tuned-weight files.

Not here: the combination (`formula.py`), the report (`report.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.jsonfile import parse
from wordlm.rerank.formula import Scored, choose
from wordlm.wer import ErrorCounts, total


def parse_range(spec: str, what: str) -> np.ndarray:
    """`"LO:HI:STEP"` → LO, LO+STEP, …, HI (inclusive, to rounding); a single number → [it]."""
    parts = spec.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"{what} {spec!r}: expected LO:HI:STEP or a number") from None
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{what} {spec!r}: values must be finite")
    if len(values) == 1:
        return np.array(values)
    if len(values) != 3:
        raise InputError(f"{what} {spec!r}: expected LO:HI:STEP or a number")
    lo, hi, step = values
    if step <= 0 or hi < lo:
        raise InputError(f"{what} {spec!r}: need LO <= HI and STEP > 0")
    count = int(math.floor((hi - lo) / step + 1e-9)) + 1
    if count > 100_000:
        raise InputError(f"{what} {spec!r}: {count} values is too many (at most 100000)")
    return np.round(lo + step * np.arange(count), 10)


@dataclass
class TuneResult:
    lm_weight: float
    word_bonus: float
    tuned: ErrorCounts
    first_pass: ErrorCounts
    oracle: ErrorCounts
    lm_weights: np.ndarray
    word_bonuses: np.ndarray
    errors: np.ndarray  # <int>[lm_weights, word_bonuses]: total word errors at each grid point
    utterances: int

    def to_json(self) -> dict:
        return {
            "lm_weight": float(self.lm_weight), "word_bonus": float(self.word_bonus),
            "wer": self.tuned.to_json()["wer"], "first_pass_wer": self.first_pass.to_json()["wer"],
            "oracle_wer": self.oracle.to_json()["wer"], "tuned": self.tuned.to_json(),
            "first_pass": self.first_pass.to_json(), "oracle": self.oracle.to_json(), "utterances": self.utterances,
            "grid": {"lm_weights": [float(a) for a in self.lm_weights],
                     "word_bonuses": [float(b) for b in self.word_bonuses],
                     "errors": self.errors.tolist()},  # errors[i][j]: word errors at (lm_weights[i], word_bonuses[j])
        }


def tune(scored: Sequence[Scored], lm_weights: np.ndarray, word_bonuses: np.ndarray) -> TuneResult:
    """Grid search: the (α, β) with the fewest word errors over utterances with references.

    Ties (common on small tune sets) go to the point whose 3×3 grid neighbourhood has the fewest
    errors on average (the middle of a flat optimum, less sensitive to the exact weights), then the
    smaller α, then the smaller |β|.
    """
    scored = [s for s in scored if s.counts is not None]
    if not scored:
        raise InputError("tuning needs references: no utterance of the n-best file has one")
    lm_weights, word_bonuses = np.asarray(lm_weights, float), np.asarray(word_bonuses, float)
    width = max(len(s.utt.hyps) for s in scored)
    shape = (len(scored), width)
    fp = np.full(shape, -np.inf)
    lmv, wd = np.zeros(shape), np.zeros(shape)
    err = np.zeros(shape, dtype=np.int64)
    for r, s in enumerate(scored):
        k = len(s.utt.hyps)
        fp[r, :k], lmv[r, :k], wd[r, :k], err[r, :k] = s.first_pass, s.lm, s.words, s.errors
    rows = np.arange(len(scored))
    grid = np.zeros((len(lm_weights), len(word_bonuses)), dtype=np.int64)
    for i, a in enumerate(lm_weights):
        base = fp + a * lmv
        for j, b in enumerate(word_bonuses):
            grid[i, j] = err[rows, np.argmax(base + b * wd, axis=1)].sum()
    i, j = _best_point(grid, lm_weights, word_bonuses)
    a, b = float(lm_weights[i]), float(word_bonuses[j])
    pick = lambda s, t: s.counts[choose(t)]  # noqa: E731
    return TuneResult(
        lm_weight=a, word_bonus=b,
        tuned=total(pick(s, s.totals(a, b)) for s in scored),
        first_pass=total(pick(s, s.first_pass) for s in scored),
        oracle=total(s.counts[int(np.argmin(s.errors))] for s in scored),
        lm_weights=lm_weights, word_bonuses=word_bonuses, errors=grid, utterances=len(scored),
    )


def _best_point(grid: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> tuple[int, int]:
    g = grid.astype(np.float64)
    sums, counts = np.zeros_like(g), np.zeros_like(g)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            shifted = np.full((g.shape[0] + 2, g.shape[1] + 2), np.nan)
            shifted[1 + di : 1 + di + g.shape[0], 1 + dj : 1 + dj + g.shape[1]] = g
            window = shifted[1:-1, 1:-1]
            ok = ~np.isnan(window)
            sums[ok] += window[ok]
            counts[ok] += 1
    neighbourhood = sums / counts
    candidates = np.argwhere(grid == grid.min())
    best = min(candidates, key=lambda ij: (neighbourhood[ij[0], ij[1]], alphas[ij[0]], abs(betas[ij[1]])))
    return int(best[0]), int(best[1])


def wer_by_alpha(result: TuneResult) -> list[tuple[float, float, float]]:
    """(α, best β at that α, WER %) for each α of the grid."""
    n = result.tuned.ref_words
    out = []
    for i, a in enumerate(result.lm_weights):
        j = int(np.argmin(result.errors[i]))
        out.append((float(a), float(result.word_bonuses[j]), 100.0 * result.errors[i, j] / n))
    return out


def read_weights(path) -> dict:
    """A tuned-weights JSON file (`wordlm tune -o`): a dict with finite `lm_weight` and `word_bonus`."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a tuned-weights JSON file ({e})") from None
    data = parse(text, f"{path}: not a tuned-weights file")
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with lm_weight and word_bonus (from `wordlm tune`)")
    for key in ("lm_weight", "word_bonus"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{path}: {key!r} is missing or not a finite number (expected the output of `wordlm tune`)")
    return data
