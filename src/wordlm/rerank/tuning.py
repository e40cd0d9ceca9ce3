"""Tuning the weights: a grid search over (α, β) on utterances with references, and tuned-weight files.

Not here: the combination (`formula.py`), the report (`report.py`), cross-validation and the
significance rule (`generalise.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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
    count = (hi - lo) / step + 1e-9
    if not count < MAX_AXIS:  # before int(): (1e308 - -1e308) / 1e-300 is infinite
        raise InputError(f"{what} {spec!r}: {'too many' if math.isfinite(count) else 'infinitely many'} values "
                         f"(at most {MAX_AXIS:,})")
    count = int(math.floor(count)) + 1
    values = lo + step * np.arange(count)
    with np.errstate(over="ignore", invalid="ignore"):  # rounding scales by 1e10: beyond ~1e298 it overflows
        rounded = np.round(values, 10)
    return np.where(np.isfinite(rounded), rounded, values)


MAX_AXIS = 100_000  # values of one axis of the grid
MAX_GRID = 1_000_000  # grid points (α values × β values): each is a pass over the n-best lists


def check_grid(lm_weights, word_bonuses) -> None:
    """Refuse a grid whose product of axes is beyond `MAX_GRID` points, naming both sizes and the limit."""
    points = len(lm_weights) * len(word_bonuses)
    if points > MAX_GRID:
        raise InputError(f"--lm-weights × --word-bonuses: {len(lm_weights):,} × {len(word_bonuses):,} = {points:,} "
                         f"grid points is too many (at most {MAX_GRID:,}); use a coarser STEP or a narrower range")


@dataclass
class TuneResult:
    lm_weight: float
    word_bonus: float
    tuned: ErrorCounts
    first_pass: ErrorCounts
    oracle: ErrorCounts
    lm_weights: np.ndarray
    word_bonuses: np.ndarray
    errors: np.ndarray  # <int>[lm_weights, word_bonuses]: total word errors at each grid point (other LMs at 0)
    utterances: int
    other_weights: list = field(default_factory=list)  # the weights of the other LMs (`--lm`), coordinate search
    search_rounds: int = 0

    def to_json(self) -> dict:
        out = {
            "lm_weight": float(self.lm_weight), "word_bonus": float(self.word_bonus),
            "wer": self.tuned.to_json()["wer"], "first_pass_wer": self.first_pass.to_json()["wer"],
            "oracle_wer": self.oracle.to_json()["wer"], "tuned": self.tuned.to_json(),
            "first_pass": self.first_pass.to_json(), "oracle": self.oracle.to_json(), "utterances": self.utterances,
            "grid": {"lm_weights": [float(a) for a in self.lm_weights],
                     "word_bonuses": [float(b) for b in self.word_bonuses],
                     "errors": self.errors.tolist()},  # errors[i][j]: word errors at (lm_weights[i], word_bonuses[j])
        }
        if self.other_weights:
            out["other_weights"] = [float(w) for w in self.other_weights]
            out["search_rounds"] = self.search_rounds
        return out


class Table:
    """The utterances with references as padded arrays, for evaluating many weight settings fast.

    fp <float64>[U, H] (−inf on padding), lm [U, H], others [U, H, K], words [U, H], err <int>[U, H].
    """

    def __init__(self, scored: Sequence[Scored]):
        self.scored = [s for s in scored if s.counts is not None]
        if not self.scored:
            raise InputError("tuning needs references: no utterance of the n-best file has one")
        width = max(len(s.utt.hyps) for s in self.scored)
        shape = (len(self.scored), width)
        k = 0 if self.scored[0].others is None else self.scored[0].others.shape[1]
        self.fp = np.full(shape, -np.inf)
        self.lm, self.words = np.zeros(shape), np.zeros(shape)
        self.others = np.zeros((*shape, k))
        self.err = np.zeros(shape, dtype=np.int64)
        for r, s in enumerate(self.scored):
            n = len(s.utt.hyps)
            self.fp[r, :n], self.lm[r, :n], self.words[r, :n], self.err[r, :n] = s.first_pass, s.lm, s.words, s.errors
            if k:
                self.others[r, :n] = s.others
        self.rows = np.arange(len(self.scored))

    @property
    def num_others(self) -> int:
        return self.others.shape[2]

    def subset(self, rows: np.ndarray) -> "Table":
        t = object.__new__(Table)
        t.scored = [self.scored[i] for i in rows]
        t.fp, t.lm, t.words, t.err, t.others = (x[rows] for x in (self.fp, self.lm, self.words, self.err, self.others))
        t.rows = np.arange(len(rows))
        return t

    def choices(self, a: float, b: float, others=()) -> np.ndarray:
        """<int>[U]: the chosen hypothesis of each utterance (the first highest total)."""
        total = self.fp + a * self.lm + b * self.words
        if len(others):
            total = total + self.others @ np.asarray(others, dtype=np.float64)
        return np.argmax(total, axis=1)

    def utterance_errors(self, a: float, b: float, others=()) -> np.ndarray:
        return self.err[self.rows, self.choices(a, b, others)]

    def errors(self, a: float, b: float, others=()) -> int:
        return int(self.utterance_errors(a, b, others).sum())


def _check_bounded(table: "Table", lm_weights: np.ndarray, word_bonuses: np.ndarray) -> None:
    """Every total of the grid is finite, or InputError naming the first utterance that overflows.
    A total is linear in α and β, so it is largest in size at a corner of the grid: four checks."""
    real = np.isfinite(table.fp)  # padding is -inf
    fp = np.where(real, table.fp, 0.0)
    for a in (lm_weights.min(), lm_weights.max()):
        for b in (word_bonuses.min(), word_bonuses.max()):
            with np.errstate(over="ignore", invalid="ignore"):
                totals = fp + a * table.lm + b * table.words
            bad = ~np.isfinite(totals) & real
            if bad.any():
                r, h = (int(x) for x in np.argwhere(bad)[0])
                s = table.scored[r]
                where = f"{s.where}: " if s.where else ""
                raise InputError(f"{where}utterance {s.utt.utt_id}: hypothesis {h + 1}: the total score at the grid "
                                 f"corner lm_weight {a:g}, word_bonus {b:g} is {totals[r, h]}, not a finite number; "
                                 "narrow --lm-weights/--word-bonuses or scale the scores down")


def tune(scored, lm_weights: np.ndarray, word_bonuses: np.ndarray, other_grid: np.ndarray | None = None,
         max_rounds: int = 10) -> TuneResult:
    """The weights with the fewest word errors over utterances with references.

    One LM: a grid search over (α, β). Ties (common on small tune sets) go to the point whose 3×3
    grid neighbourhood has the fewest errors on average (the middle of a flat optimum, less
    sensitive to the exact weights), then the smaller α, then the smaller |β|.
    Several LMs (`Scored.others`, from `--lm`): the best of that grid (the other LMs at weight 0)
    and of each other LM's own (α_k, β) grid (the others at 0) is the start of a coordinate search (as SRILM's `nbest-optimize` searches several weights): each weight in turn
    (α, β, α_1 … α_K) is set to the value of its grid (`other_grid` for the α_k) with the fewest
    errors, the others held, until a round changes nothing (at most `max_rounds`). A weight moves
    only for strictly fewer errors, and among equal ones to the smallest |value|, so the search
    never ends worse than the grid.
    """
    table = scored if isinstance(scored, Table) else Table(scored)
    lm_weights, word_bonuses = np.asarray(lm_weights, float), np.asarray(word_bonuses, float)
    check_grid(lm_weights, word_bonuses)
    _check_bounded(table, lm_weights, word_bonuses)
    grid = np.zeros((len(lm_weights), len(word_bonuses)), dtype=np.int64)
    for i, a in enumerate(lm_weights):
        base = table.fp + a * table.lm
        for j, b in enumerate(word_bonuses):
            grid[i, j] = table.err[table.rows, np.argmax(base + b * table.words, axis=1)].sum()
    i, j = _best_point(grid, lm_weights, word_bonuses)
    a, b = float(lm_weights[i]), float(word_bonuses[j])
    others: list[float] = []
    rounds = 0
    if table.num_others:
        other_grid = lm_weights if other_grid is None else np.asarray(other_grid, float)
        point = [a, b] + [0.0] * table.num_others
        grids = [lm_weights, word_bonuses] + [other_grid] * table.num_others
        best = table.errors(point[0], point[1], point[2:])
        for k in range(table.num_others):  # also start from each other LM's own (α_k, β) grid, α = 0
            for w in other_grid:
                for bb in word_bonuses:
                    others_k = [0.0] * table.num_others
                    others_k[k] = float(w)
                    e = table.errors(0.0, float(bb), others_k)
                    if e < best:
                        best, point = e, [0.0, float(bb), *others_k]
        for rounds in range(1, max_rounds + 1):
            moved = False
            for c, values in enumerate(grids):
                trial = list(point)
                errs = []
                for v in values:
                    trial[c] = float(v)
                    errs.append(table.errors(trial[0], trial[1], trial[2:]))
                errs = np.array(errs)
                if errs.min() < best:
                    ties = np.flatnonzero(errs == errs.min())
                    point[c] = float(values[min(ties, key=lambda k: (abs(values[k]), values[k]))])
                    best, moved = int(errs.min()), True
            if not moved:
                break
        a, b, others = point[0], point[1], point[2:]
    pick = lambda s, t: s.counts[choose(t)]  # noqa: E731
    return TuneResult(
        lm_weight=a, word_bonus=b,
        tuned=total(pick(s, s.totals(a, b, others)) for s in table.scored),
        first_pass=total(pick(s, s.first_pass) for s in table.scored),
        oracle=total(s.counts[int(np.argmin(s.errors))] for s in table.scored),
        lm_weights=lm_weights, word_bonuses=word_bonuses, errors=grid, utterances=len(table.scored),
        other_weights=others, search_rounds=rounds,
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


MAX_WEIGHTS_FILE = 64 << 20  # characters: a tune -o file with the largest grid is about 8 MB


def read_weights(path) -> dict:
    """A tuned-weights JSON file (`wordlm tune -o`): a dict with finite `lm_weight` and `word_bonus`
    (and `am`, a string like `decoder=0.6,ctc=0.4` or an object of weights, if present)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_WEIGHTS_FILE + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a tuned-weights JSON file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a tuned-weights JSON file ({getattr(e, 'strerror', None) or e})") from None
    if len(text) > MAX_WEIGHTS_FILE:
        raise InputError(f"{path}: larger than {MAX_WEIGHTS_FILE >> 20} MiB: not a tuned-weights file from `wordlm tune`")
    data = parse(text, f"{path}: not a tuned-weights file")
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with lm_weight and word_bonus (from `wordlm tune`)")
    for key in ("lm_weight", "word_bonus"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{path}: {key!r} is missing or not a finite number (expected the output of `wordlm tune`)")
    if "am" in data and not isinstance(data["am"], (str, dict, type(None))):
        raise InputError(f"{path}: \"am\" must be a string like decoder=0.6,ctc=0.4 or an object of weights")
    if isinstance(data.get("am"), dict):
        for name, w in data["am"].items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not name:
                raise InputError(f"{path}: \"am.{name}\" must be a number (a field's weight)")
    return data
