"""Rescore a lattice with language models: expand it with LM states, merge, prune, keep every arc.

The search walks the lattice's nodes level by level (`graph.py`: every link goes to a higher level).
A *state* is a lattice node and a history key: the last `k` words of the paths that reach it
(`k=None`: the whole history). Paths that reach a node with the same key are merged into one
state: the best of them (the highest score so far) gives the state its LM states (its `Rows`), the
others stay as arcs into it — the standard n-gram approximation for recurrent LMs (exact when `k`
covers every path; a test checks this against `lm.score` of every path). For each state and each
outgoing link the new arc's score is, in natural log,

    acoustic_weight·a + first_lm_weight·l + Σ_m α_m·ln p_m(w | state's history) + β·[w is a word]

(a filler adds only its `a`/`l` terms and keeps the key and the LM states: `words.py`). On reaching
the end node, each state adds Σ_m α_m·ln p_m(</s> | history) on an arc to one final state.
The LM log-probabilities of a link come from its source state's `rows.logprobs` (no model call);
the states of a level that need new LM states are made by ONE `lm.extend` call per LM for the
whole level (all nodes of the level together).

Pruning, both off by default (then with `k=None` the search is exact), compares only the states
of one lattice node (they share their future, so the comparison is fair whatever the weights):
`beam` drops a state more than `beam` below the best state of its node; `max_histories` keeps the
best that many states of a node. (A level-wide beam on score + best first-pass completion was
tried first and dropped: the completion has no LM cost, so with a large α it favoured states with
many words still to come and lost the best path; `benchmarks/lattices.md`.) Memory: a level's `Rows` are
freed once every node that extends them is done.

Result: an `Expanded` lattice (states, arcs, forward scores), from which `paths.py` takes the
1-best and n-best and `rescore.py` writes a rescored SLF. Not here: reading files (`slf.py`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from wordlm.inference.rows import Rows
from wordlm.lattice.graph import prepare
from wordlm.lattice.words import base_word, is_filler, lm_ids


@dataclass(frozen=True)
class Weights:
    """total = acoustic·Σa + first_lm·Σl + Σ_m lms[m]·LM_m + word_bonus·words (natural log)."""

    acoustic: float = 1.0
    first_lm: float = 0.0
    lms: tuple[float, ...] = ()
    word_bonus: float = 0.0


@dataclass(frozen=True)
class Options:
    k: int | None = 3  # histories that agree on their last k words are merged; None: never merged
    beam: float = math.inf
    max_histories: int | None = None
    fillers: frozenset = frozenset()


@dataclass
class Expanded:
    """The lattice expanded with LM states. State 0 is the start; `final` the one final state.

    Per state: `node` (lattice node; -1 for the final state), `forward` (best score from the start).
    Per arc: `arc_from`, `arc_to`, `arc_link` (lattice link; -1 for an arc into the final state),
    `arc_lp` <float64>[arcs, LMs] (each LM's ln p of the link's word, or of `</s>` on a final arc; 0
    for a filler), `arc_score` (the arc's weighted total)."""

    lattice: object
    weights: Weights
    node: list[int] = field(default_factory=list)
    forward: list[float] = field(default_factory=list)
    arc_from: list[int] = field(default_factory=list)
    arc_to: list[int] = field(default_factory=list)
    arc_link: list[int] = field(default_factory=list)
    arc_lp: list[tuple] = field(default_factory=list)
    arc_score: list[float] = field(default_factory=list)
    final: int = -1
    word_is_filler: list[bool] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def best(self) -> float:
        return self.forward[self.final]


def first_pass_arc(lat, weights: Weights, filler) -> np.ndarray:
    """<float64>[links]: acoustic·a + first_lm·l + β·[word] of each link."""
    bonus = np.array([0.0 if f else weights.word_bonus for f in filler])[lat.link_word]
    with np.errstate(over="ignore", invalid="ignore"):
        return weights.acoustic * lat.acoustic + weights.first_lm * lat.lm + bonus


def expand(lat, lms=(), weights: Weights = Weights(), options: Options = Options()) -> Expanded:
    """The expanded lattice of `lat` under `lms` (models of the interface) and `weights`."""
    started = time.perf_counter()
    lms = list(lms)
    if len(weights.lms) != len(lms):
        raise ValueError(f"expand: {len(lms)} LMs but {len(weights.lms)} LM weights")
    shape = prepare(lat)
    words = lat.words
    # per word: filler?, and each LM's id (a word the first LM drops is a filler for all)
    if lms:
        filler, first_ids = lm_ids(lms[0], words, options.fillers)
        ids = [first_ids] + [[i if i >= 0 or f else int(lm.unk_id) for i, f in zip(lm_ids(lm, words, options.fillers)[1], filler)]
                             for lm in lms[1:]]
    else:
        filler, ids = [is_filler(w, options.fillers) for w in words], []
    base = [base_word(w) for w in words]
    k = options.k if lms else 0  # without an LM every history at a node has the same future
    arc_fp = first_pass_arc(lat, weights, filler)
    link_end, link_word = lat.link_end, lat.link_word
    out = Expanded(lat, weights, word_is_filler=filler)
    # nodes grouped by level
    by_level: dict[int, list[int]] = {}
    for u in shape.order:
        by_level.setdefault(int(shape.level[u]), []).append(u)
    last_level = max(by_level)
    # the start state
    batches: dict[int, list] = {0: [lm.begin(1) for lm in lms]}
    batch_last_use = {0: max((shape.level[link_end[j]] for j in shape.out_links[lat.start]), default=0)}
    state_row: list[tuple[int, int]] = [(0, 0)]  # (batch, row) of each state's LM states
    state_key: list[tuple] = [()]
    out.node.append(lat.start)
    out.forward.append(0.0)
    calls = rows_made = pruned = 0
    # pending[v][key] = [best total, best arc index into `cand`], cand: arcs not yet given a state
    pending: dict[int, dict[tuple, list]] = {}
    cand: dict[int, list] = {}
    end_states: list[int] = []

    def expand_state(s: int) -> None:
        u = out.node[s]
        batch, row = state_row[s]
        key = state_key[s]
        f = out.forward[s]
        for j in shape.out_links[u]:
            w = int(link_word[j])
            v = int(link_end[j])
            if filler[w]:
                lp = (0.0,) * len(lms)
                new_key = key
            else:
                lp = tuple(float(batches[batch][m].logprobs[row, ids[m][w]]) for m in range(len(lms)))
                new_key = key + (base[w],)
                if k is not None and len(new_key) > k:
                    new_key = new_key[len(new_key) - k:] if k else ()
            score = float(arc_fp[j]) + sum(a * x for a, x in zip(weights.lms, lp))
            total = f + score
            arcs = cand.setdefault(v, [])
            arcs.append((s, j, lp, score, new_key))
            slot = pending.setdefault(v, {}).get(new_key)
            if slot is None:
                pending[v][new_key] = [total, len(arcs) - 1]
            elif total > slot[0]:
                slot[0], slot[1] = total, len(arcs) - 1

    expand_state(0)
    for level in range(1, last_level + 1):
        nodes = by_level.get(level, [])
        # 1. states of this level's nodes: the best arc per (node, key)
        new_states = []  # (node, key, total, best arc)
        for v in nodes:
            for key, (total, a) in pending.pop(v, {}).items():
                new_states.append((v, key, total, a))
        # 2. pruning
        if new_states and (options.beam < math.inf or options.max_histories):
            keep = np.ones(len(new_states), dtype=bool)
            by_node: dict[int, list[int]] = {}
            for i, (v, *_rest) in enumerate(new_states):
                by_node.setdefault(v, []).append(i)
            for v, idx in by_node.items():  # states of one node share their future: compare them only
                idx.sort(key=lambda i: -new_states[i][2])
                top = new_states[idx[0]][2]
                for rank, i in enumerate(idx):
                    if new_states[i][2] < top - options.beam or (options.max_histories and rank >= options.max_histories):
                        keep[i] = False
            pruned += int((~keep).sum())
            new_states = [s for s, kp in zip(new_states, keep) if kp]
        # 3. LM states: one extend call per LM for every state whose best arc carries a word
        need = []
        for i, (v, key, total, a) in enumerate(new_states):
            s_from, j = cand[v][a][0], cand[v][a][1]
            if not filler[int(link_word[j])]:
                need.append(i)
        new_batch = None
        if need and lms:
            new_batch = max(batches) + 1
            parents_by_batch: dict[int, list[int]] = {}
            order = []
            for i in need:
                v, key, total, a = new_states[i]
                b, r = state_row[cand[v][a][0]]
                parents_by_batch.setdefault(b, []).append(r)
                order.append((b, len(parents_by_batch[b]) - 1, i))
            offsets, at = {}, 0
            for b, rs in parents_by_batch.items():
                offsets[b] = at
                at += len(rs)
            made = []
            for m, lm in enumerate(lms):
                gathered = Rows.concat([batches[b][m][np.asarray(rs)] for b, rs in parents_by_batch.items()])
                parents = [offsets[b] + p for b, p, _ in order]
                wids = [ids[m][int(link_word[cand[new_states[i][0]][new_states[i][3]][1]])] for _, _, i in order]
                made.append(lm.extend(gathered, parents, wids))
                calls += 1
            rows_made += len(order)
            batches[new_batch] = made
        # 4. the states, their arcs, and their LM states
        level_states = []
        needed = {i: pos for pos, (_, _, i) in enumerate(order)} if need and lms else {}
        for i, (v, key, total, a) in enumerate(new_states):
            s = len(out.node)
            out.node.append(v)
            out.forward.append(total)
            state_key.append(key)
            if i in needed:
                state_row.append((new_batch, needed[i]))
            else:
                state_row.append(state_row[cand[v][a][0]])
            for s_from, j, lp, score, arc_key in cand[v]:
                if arc_key == key:
                    out.arc_from.append(s_from)
                    out.arc_to.append(s)
                    out.arc_link.append(j)
                    out.arc_lp.append(lp)
                    out.arc_score.append(score)
            level_states.append(s)
        for v in nodes:
            cand.pop(v, None)
        for s in level_states:  # the LM states a state reads live until its last successor is done
            u = out.node[s]
            last = math.inf if u == lat.end else max(int(shape.level[link_end[j]]) for j in shape.out_links[u])
            b = state_row[s][0]
            batch_last_use[b] = max(batch_last_use.get(b, -1), last)
        # 5. expand this level's states (the end node's states end here)
        for s in level_states:
            if out.node[s] == lat.end:
                end_states.append(s)
            else:
                expand_state(s)
        # 6. free LM states no later level reads
        for b in [b for b, last in batch_last_use.items() if last <= level]:
            del batches[b]
            del batch_last_use[b]
    # the final state: </s> from every end state
    final = len(out.node)
    out.node.append(-1)
    best = -math.inf
    eos = [int(lm.eos_id) for lm in lms]
    for s in end_states:
        b, r = state_row[s]
        lp = tuple(float(batches[b][m].logprobs[r, eos[m]]) for m in range(len(lms)))
        score = sum(a * x for a, x in zip(weights.lms, lp))
        out.arc_from.append(s)
        out.arc_to.append(final)
        out.arc_link.append(-1)
        out.arc_lp.append(lp)
        out.arc_score.append(score)
        best = max(best, out.forward[s] + score)
    out.forward.append(best)
    out.final = final
    out.stats = {"model_calls": calls, "rows": rows_made, "states": len(out.node), "arcs": len(out.arc_from),
                 "pruned": pruned, "links": int(len(shape.links)), "levels": last_level,
                 "seconds": time.perf_counter() - started}
    return out
