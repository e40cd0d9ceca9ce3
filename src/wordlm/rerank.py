"""N-best reranking: add the LM's opinion to a recogniser's scores, pick again, tune, report WER.

The combination (used by `rerank`, `tune` and the reports; tests check the code against it):

    total(h)      = first_pass(h) + α · LM(h) + β · words(h)
    first_pass(h) = Σ_f w_f · h[f]          e.g. `--am decoder=0.6,ctc=0.4`; default {score: 1}
    LM(h)         = ln p(w1 … wn </s> | <s>)   the scorer's sentence log-probability: natural log,
                                               `</s>` predicted and counted, `<s>` never predicted,
                                               OOVs scored as `<unk>` (what `wordlm score` prints)
    words(h)      = len(h.text.split())      whitespace words of the hypothesis as written

The chosen hypothesis is the *first* with the highest total, so ties keep the recogniser's order
and α = β = 0 reproduces the first-pass choice (the first hypothesis with the best first-pass score).

LM scores are exact, computed once per distinct hypothesis text (`LMCache`) and reused by every
grid point of `tune`. For stateful framings (`sequence`, `char`, and `line` while lines fit its
input length) the hypotheses of a batch of utterances are put in a prefix trie over token ids and
the LSTM state is carried down the trie, one compiled call per depth level (chunked in rows): each
distinct prefix is read once, instead of once per hypothesis that contains it (`trie_logprobs`).
Other framings use `lm.stream_logprobs`. Both give the same numbers as scoring each hypothesis
alone (to float32 rounding).

Not here: file formats (`nbest.py`), the WER alignment (`wer.py`), the command line (`cli/rerank_cmds.py`).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.nbest import Utterance
from wordlm.wer import ErrorCounts, count_errors, total

# -- the combination ------------------------------------------------------------------------------


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


def words(text: str) -> int:
    """words(h): the number of whitespace-separated words of a hypothesis as written."""
    return len(text.split())


def first_pass(utt: Utterance, am: dict[str, float]) -> np.ndarray:
    """<float64>[hyps]: Σ_f w_f · h[f] for each hypothesis (fields validated by the reader)."""
    return np.array([sum(w * h.fields[f] for f, w in am.items()) for h in utt.hyps], dtype=np.float64)


def combine(first: np.ndarray, lm: np.ndarray, n_words: np.ndarray, lm_weight: float, word_bonus: float) -> np.ndarray:
    """total = first_pass + α · LM + β · words (elementwise, float64)."""
    return first + lm_weight * lm + word_bonus * n_words


def choose(totals: np.ndarray) -> int:
    """Index of the first highest total: ties keep the original order."""
    return int(np.argmax(totals))


def ranking(totals: np.ndarray) -> np.ndarray:
    """Indices from best to worst total; a stable sort, so ties keep the original order."""
    return np.argsort(-totals, kind="stable")


# -- exact LM scores of many hypotheses -----------------------------------------------------------


class LMCache:
    """Sentence log-probabilities by hypothesis text: each distinct text is scored once."""

    def __init__(self, lm, rows_per_call: int | None = None):
        self.lm = lm
        self.rows_per_call = rows_per_call
        self.scores: dict[str, float] = {}
        self.tokens_scored = 0  # predicted tokens of the distinct texts scored (</s> included)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """<float64>[len(texts)]: ln p(text </s> | <s>) of each text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.scores))
        if missing:
            streams = [self.lm.stream(t) for t in missing]
            self.tokens_scored += sum(max(0, len(s) - self.lm.framing.first_target) for s in streams)
            for t, v in zip(missing, sentence_logprobs(self.lm, streams, self.rows_per_call)):
                self.scores[t] = float(v)
        return np.array([self.scores[t] for t in texts], dtype=np.float64)


def sentence_logprobs(lm, streams: Sequence[Sequence[int]], rows_per_call: int | None = None) -> np.ndarray:
    """<float64>[streams]: Σ_t ln p(s[t] | s[:t]) over each stream's predicted tokens (trie when exact)."""
    if not streams:
        return np.zeros(0)
    if lm.stateful:
        limit = lm.max_stateful_history()
        if limit is None or max(len(s) for s in streams) - 1 <= limit:
            return trie_logprobs(lm, streams, rows_per_call)
    return np.array([float(np.sum(x)) for x in lm.stream_logprobs(streams)], dtype=np.float64)


def trie_logprobs(lm, streams: Sequence[Sequence[int]], rows_per_call: int | None = None) -> np.ndarray:
    """Exact stream log-probabilities of a stateful model, reading each distinct prefix once.

    Trie node = a distinct prefix s[:t] (t ≥ 1) of some stream; its state is the LSTM state after
    reading the prefix, obtained by one step from its parent's state (the first token is read
    from the zero state, exactly as `lm.start`). The edge into node s[:t+1] scores
    ln p(s[t] | s[:t]), read off the parent's next-token distribution; a stream's log-probability
    is the sum of the edges on its path. Level by level (depth = prefix length − 1), only nodes
    with children are stepped, in chunks of `rows_per_call` rows (default: about 2M logits a call,
    256 rows for a 10k vocabulary, where the [rows, V] logits still sit in cache; 4096 for characters).
    """
    if rows_per_call is None:
        rows_per_call = int(min(4096, max(256, 2**21 // lm.vocab_size)))
    first = lm.framing.first_target
    if first != 1:
        raise ValueError("trie scoring needs framing.first_target == 1")
    # 1. Build the trie: node ids in order of creation; key = (parent + 1) * V + token.
    vocab = lm.vocab_size
    index: dict[int, int] = {}
    parent: list[int] = []
    token: list[int] = []
    depth: list[int] = []
    leaf = np.full(len(streams), -1, dtype=np.int64)
    for si, s in enumerate(streams):
        node = -1
        for t, tok in enumerate(s):
            key = (node + 1) * vocab + tok
            child = index.get(key)
            if child is None:
                child = index[key] = len(parent)
                parent.append(node)
                token.append(tok)
                depth.append(t)
            node = child
        leaf[si] = node
    parent_a = np.array(parent, dtype=np.int64)
    token_a = np.array(token, dtype=np.int32)
    depth_a = np.array(depth, dtype=np.int64)
    n = len(parent)
    has_child = np.zeros(n, dtype=bool)
    has_child[parent_a[parent_a >= 0]] = True
    edge_lp = np.zeros(n, dtype=np.float64)  # ln p(token | parent prefix); 0 for first tokens
    # 2. Walk the levels, carrying states of the previous level's internal nodes.
    step = _level_step(lm)
    order = np.argsort(depth_a, kind="stable")
    bounds = np.searchsorted(depth_a[order], np.arange(depth_a.max() + 2 if n else 1))
    row_of = np.full(n, -1, dtype=np.int64)  # row of a node in its level's state array
    prev_state = np.zeros((0, lm.state_size), dtype=np.float32)
    for d in range(len(bounds) - 1):
        level = order[bounds[d] : bounds[d + 1]]
        internal = level[has_child[level]]
        if len(internal) == 0:
            break
        row_of[internal] = np.arange(len(internal))
        if d == 0:
            in_state = np.zeros((len(internal), lm.state_size), dtype=np.float32)
        else:
            in_state = prev_state[row_of[parent_a[internal]]]
        children = order[bounds[d + 1] : bounds[d + 2]] if d + 2 < len(bounds) else order[:0]
        child_rows = row_of[parent_a[children]]
        by_row = np.argsort(child_rows, kind="stable")
        children, child_rows = children[by_row], child_rows[by_row]
        new_state = np.empty_like(in_state)
        for lo in range(0, len(internal), rows_per_call):
            hi = min(lo + rows_per_call, len(internal))
            c_lo, c_hi = np.searchsorted(child_rows, [lo, hi])
            lp, new_state[lo:hi] = step(
                token_a[internal[lo:hi]], in_state[lo:hi], (child_rows[c_lo:c_hi] - lo).astype(np.int32),
                token_a[children[c_lo:c_hi]],
            )
            edge_lp[children[c_lo:c_hi]] = lp
        prev_state = new_state
    # 3. Sum the edges from the root down (parents come before children in creation order).
    cum = edge_lp.copy()
    for d in range(1, len(bounds) - 1):
        level = order[bounds[d] : bounds[d + 1]]
        cum[level] += cum[parent_a[level]]
    out = np.zeros(len(streams), dtype=np.float64)
    has = leaf >= 0
    out[has] = cum[leaf[has]]
    return out


_FUSED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _level_step(lm) -> StepFn:
    """(ids[N], state[N, S], rows[P], targets[P]) → (ln p(targets | rows' histories)[P], new state[N, S]).

    For a wordlm Keras network: one compiled call that steps the LSTM exactly as `lm.step` does
    and returns only the needed log-probabilities (logit − logsumexp), never the [N, V] matrix.
    For any other stateful model: `lm.step` and a numpy gather.
    """
    fused = _FUSED.get(lm)
    if fused is None:
        fused = _FUSED[lm] = _compile_fused(lm) or _generic_step(lm)
    return fused


def _generic_step(lm) -> StepFn:
    def step(ids, state, rows, targets):
        lp, new_state = lm.step(state, ids)
        return lp[rows, targets].astype(np.float64), new_state

    return step


def _compile_fused(lm) -> StepFn | None:
    """The fused level step built from the network's own layers (the layout `lm._compile` uses)."""
    model = getattr(lm, "keras_model", None)
    if model is None:
        return None
    try:
        embedding = model.get_layer("embedding")
        lstms = [model.get_layer(f"lstm_{i + 1}") for i in range(lm.size.layers)]
        dense = model.get_layer("logits")
    except (ValueError, AttributeError):
        return None
    import tensorflow as tf

    bias = np.zeros(lm.vocab_size, dtype=np.float32)
    bias[lm.never_predicted()] = -np.inf
    bias = tf.constant(bias)
    units = lm.size.units

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, lm.state_size], tf.float32),
        tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
    ])
    def fused(ids, state, rows, targets):
        x = tf.gather(embedding.embeddings, ids)
        new = []
        for i, layer in enumerate(lstms):
            h = state[:, 2 * i * units : (2 * i + 1) * units]
            c = state[:, (2 * i + 1) * units : (2 * i + 2) * units]
            x, (h2, c2) = layer.cell(x, [h, c], training=False)
            new += [h2, c2]
        logits = tf.matmul(x, dense.kernel) + (dense.bias + bias)  # [N, V]; one pass adds both biases
        lse = tf.reduce_logsumexp(logits, axis=1)  # [N]
        picked = tf.gather_nd(logits, tf.stack([rows, targets], axis=1)) - tf.gather(lse, rows)
        return picked, tf.concat(new, axis=1)

    def step(ids, state, rows, targets):
        lp, new_state = fused(ids, state, rows, targets)
        return lp.numpy().astype(np.float64), new_state.numpy()

    return step


# -- scored utterances ----------------------------------------------------------------------------


@dataclass
class Scored:
    """An utterance with what the combination needs, hypotheses in file order."""

    utt: Utterance
    first_pass: np.ndarray  # <float64>[hyps]
    lm: np.ndarray  # <float64>[hyps] natural-log sentence log-probabilities
    words: np.ndarray  # <float64>[hyps]
    counts: list[ErrorCounts] | None = None  # per hypothesis, when there is a reference

    def totals(self, lm_weight: float, word_bonus: float) -> np.ndarray:
        return combine(self.first_pass, self.lm, self.words, lm_weight, word_bonus)

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
) -> Iterator[Scored]:
    """Score utterances in batches (one trie per batch), yielding them in input order.

    `progress(utterances_done, hypotheses_done)` is called after each batch.
    """
    cache = cache or LMCache(lm)
    done_u = done_h = 0
    for batch in _batches(utterances, batch_hyps):
        texts = [h.text for u in batch for h in u.hyps]
        lm_scores = cache(texts)
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
            yield Scored(u, first_pass(u, am), lm_scores[pos : pos + k],
                         np.array([words(h.text) for h in u.hyps], dtype=np.float64), per_utt.get(i))
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


# -- output records and the WER report ------------------------------------------------------------


def record(s: Scored, lm_weight: float, word_bonus: float, all_hyps: bool = False) -> dict:
    """The output line of an utterance: the chosen hypothesis (and with `all_hyps`, every one, best first)."""
    totals = s.totals(lm_weight, word_bonus)
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
    if all_hyps:
        if s.utt.ref is not None:
            out["ref"] = s.utt.ref
        out["hyps"] = [
            {"text": s.utt.hyps[i].text, **s.utt.hyps[i].fields, "rank_before": int(i) + 1,
             "first_pass": round(float(s.first_pass[i]), 6), "wordlm": round(float(s.lm[i]), 6),
             "words": int(s.words[i]), "total": round(float(totals[i]), 6)}
            for i in ranking(totals)
        ]
    return out


@dataclass
class Report:
    """Corpus WER before (first pass: α = β = 0), after (the chosen weights) and oracle; changes."""

    lm_weight: float
    word_bonus: float
    utterances: int = 0
    with_ref: int = 0
    before: ErrorCounts = field(default_factory=ErrorCounts)
    after: ErrorCounts = field(default_factory=ErrorCounts)
    oracle: ErrorCounts = field(default_factory=ErrorCounts)
    changed: int = 0
    improved: int = 0
    worsened: int = 0

    def add(self, s: Scored) -> None:
        self.utterances += 1
        if s.counts is None:
            return
        self.with_ref += 1
        b = choose(s.first_pass)
        a = choose(s.totals(self.lm_weight, self.word_bonus))
        o = int(np.argmin(s.errors))
        self.before += s.counts[b]
        self.after += s.counts[a]
        self.oracle += s.counts[o]
        if s.utt.hyps[a].text != s.utt.hyps[b].text:
            self.changed += 1
            diff = s.counts[a].errors - s.counts[b].errors
            self.improved += diff < 0
            self.worsened += diff > 0

    def to_json(self) -> dict:
        return {
            "utterances": self.utterances, "with_reference": self.with_ref,
            "lm_weight": self.lm_weight, "word_bonus": self.word_bonus,
            "first_pass": self.before.to_json(), "reranked": self.after.to_json(), "oracle": self.oracle.to_json(),
            "changed": self.changed, "improved": self.improved, "worsened": self.worsened,
        }

    def lines(self) -> list[str]:
        if not self.with_ref:
            return [f"{self.utterances} utterances, no references: no WER"]
        out = [f"WER over {self.with_ref} utterances with references ({self.before.ref_words} words), "
               f"lm_weight {self.lm_weight:g}, word_bonus {self.word_bonus:g}:"]
        out.append(f"  {'':12} {'WER %':>7} {'errors':>7} {'sub':>6} {'del':>6} {'ins':>6}")
        for name, c in (("first pass", self.before), ("reranked", self.after), ("oracle", self.oracle)):
            out.append(f"  {name:12} {100 * c.wer:7.3f} {c.errors:7d} {c.substitutions:6d} {c.deletions:6d} "
                       f"{c.insertions:6d}")
        out.append(f"  utterances changed {self.changed}, improved {self.improved}, worsened {self.worsened}")
        return out


# -- tuning ---------------------------------------------------------------------------------------


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


def ascii_plot(points: Sequence[tuple[float, float]], height: int = 10, width: int = 60,
               marks: dict[str, float] | None = None) -> list[str]:
    """A text plot of y against x (x ascending); `marks` draws labelled horizontal lines (e.g. first pass)."""
    if not points:
        return []
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    refs = dict(marks or {})
    lo = min(ys.min(), *refs.values()) if refs else ys.min()
    hi = max(ys.max(), *refs.values()) if refs else ys.max()
    if hi - lo < 1e-9:
        hi = lo + 1e-3
    cols = min(width, len(xs))
    # x bins: each column shows the lowest y of the points that fall in it
    col_of = np.minimum(((xs - xs.min()) / max(xs.max() - xs.min(), 1e-12) * (cols - 1)).round().astype(int), cols - 1)
    col_y = np.full(cols, np.nan)
    for c, y in zip(col_of, ys):
        col_y[c] = y if np.isnan(col_y[c]) else min(col_y[c], y)
    row_of = lambda y: int(round((hi - y) / (hi - lo) * (height - 1)))  # noqa: E731
    canvas = [[" "] * cols for _ in range(height)]
    for label, y in refs.items():
        for c in range(cols):
            canvas[row_of(y)][c] = "-"
    for c in range(cols):
        if not np.isnan(col_y[c]):
            canvas[row_of(col_y[c])][c] = "*"
    lines = []
    for r, row in enumerate(canvas):
        y = hi - r * (hi - lo) / (height - 1)
        tag = " ".join(f"({k})" for k, v in refs.items() if row_of(v) == r)
        lines.append(f"{y:8.3f} |{''.join(row)} {tag}".rstrip())
    lines.append(" " * 9 + "+" + "-" * cols)
    left, right = f"{xs.min():g}", f"{xs.max():g}"
    lines.append(" " * 10 + left + " " * max(1, cols - len(left) - len(right)) + right)
    return lines
