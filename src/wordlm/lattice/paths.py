"""Paths out of an expanded lattice: the 1-best and the n best distinct word strings.

The n-best search is A* backwards from the final state: a partial path (a suffix) is ranked by
its score plus the forward score of the state it has reached (the best score from the start,
exact), so complete paths come out best first. Paths that read the same words (they differ only
in fillers, pronunciation variants or timing) count once, at their best score. The search stops
after `max_pops` suffixes (default 200·n + 10,000) or after a state has been reached
`per_state` times (default 4·n): then the list may be shorter than n, never wrong in its order.

A path's fields (what `nbest.py`'s `jsonl` format carries, so `wordlm tune`/`rerank` read it):
`acoustic` Σa, `lm` Σl (the lattice's first-pass LM, 0 if none), `score` the first-pass total
(acoustic weight·Σa + first-pass LM weight·Σl), `wordlm` (the first LM's ln p of the words and
`</s>`), `lms` (the other LMs'), `words`, `total` (the search's score). Not here: the search.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from wordlm.lattice.words import base_word


@dataclass
class Path:
    words: list[str]
    total: float
    acoustic: float
    first_lm: float
    lm: list[float]  # per LM: ln p(words </s>) along this path's arcs

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def fields(self, weights) -> dict:
        out = {"text": self.text, "score": round(weights.acoustic * self.acoustic + weights.first_lm * self.first_lm, 6),
               "acoustic": round(self.acoustic, 6), "lm": round(self.first_lm, 6), "words": len(self.words),
               "total": round(self.total, 6)}
        if self.lm:
            out["wordlm"] = round(self.lm[0], 6)
        if len(self.lm) > 1:
            out["lms"] = [round(x, 6) for x in self.lm[1:]]
        return out


def _path(ex, arcs: list[int]) -> Path:
    lat = ex.lattice
    words, ac, first = [], 0.0, 0.0
    lm = [0.0] * len(ex.weights.lms)
    total = 0.0
    for a in arcs:
        j = ex.arc_link[a]
        total += ex.arc_score[a]
        for m, x in enumerate(ex.arc_lp[a]):
            lm[m] += x
        if j < 0:
            continue
        ac += float(lat.acoustic[j])
        first += float(lat.lm[j])
        w = int(lat.link_word[j])
        if not ex.word_is_filler[w]:
            words.append(base_word(lat.words[w]))
    return Path(words, total, ac, first, lm)


def in_arcs(ex) -> list[list[int]]:
    into: list[list[int]] = [[] for _ in ex.node]
    for a, t in enumerate(ex.arc_to):
        into[t].append(a)
    return into


def best_path(ex) -> Path:
    """The highest-scoring path (Viterbi backtrace through each state's best incoming arc)."""
    into = in_arcs(ex)
    if not into[ex.final]:
        from wordlm.errors import InputError

        raise InputError(f"{ex.lattice.name}: no path from the start node to the end node")
    arcs, s = [], ex.final
    while s != 0:
        best = max(into[s], key=lambda a: ex.forward[ex.arc_from[a]] + ex.arc_score[a])
        arcs.append(best)
        s = ex.arc_from[best]
    return _path(ex, arcs[::-1])


def nbest(ex, n: int, max_pops: int | None = None, per_state: int | None = None) -> list[Path]:
    """The `n` best distinct word strings, best first (see the module docstring)."""
    into = in_arcs(ex)
    max_pops = max_pops or 200 * n + 10_000
    per_state = per_state or 4 * n
    reached = [0] * len(ex.node)
    heap = [(-ex.forward[ex.final], 0, ex.final, 0.0, None)]
    counter = 1
    seen: set[tuple] = set()
    out: list[Path] = []
    pops = 0
    while heap and len(out) < n and pops < max_pops:
        neg, _, s, suffix, chain = heapq.heappop(heap)
        pops += 1
        if s == 0:
            arcs = []
            while chain is not None:
                arcs.append(chain[0])
                chain = chain[1]
            p = _path(ex, arcs)
            key = tuple(p.words)
            if key not in seen:
                seen.add(key)
                p.total = suffix
                out.append(p)
            continue
        reached[s] += 1
        if reached[s] > per_state:
            continue
        for a in into[s]:
            f = ex.arc_from[a]
            sc = suffix + ex.arc_score[a]
            heapq.heappush(heap, (-(ex.forward[f] + sc), counter, f, sc, (a, chain)))
            counter += 1
    return out
