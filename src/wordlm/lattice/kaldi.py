"""Kaldi's text lattices (`lattice-copy ark:1.lats ark,t:-`): several utterances a file, words by id.

A lattice is a key line (the utterance id), then one line per arc or final state, then a blank line:

    utt1
    0	1	243	1.5,3400.25,2_2_5_5        CompactLattice arc: src dst word graph_cost,acoustic_cost,transition-ids
    0	2	0	0.5,120.0,                  word 0 is epsilon (a filler here)
    1	3	12	2.0,800.5
    3	0.75,10.5,                        a final state and its weight
    2                                     a final state with weight 0

`Lattice` (non-compact) arcs `src dst ilabel olabel g,a` are read too (the output label is the word).
A cost is a negative log-likelihood, so a link's `a` is −acoustic cost and its `l` −graph cost
(graph cost = LM + transition and pronunciation probabilities; lmscale 1). The final weights become
links to one added end node. State 0 is the start (as Kaldi writes it). Word ids become words
through `words.txt` (`--words`, `WORD ID` per line); id 0 is `<eps>`.
Errors: one line naming the file, the line and the field. Not here: SLF (`slf.py`).
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from wordlm.errors import InputError, where
from wordlm.lattice.slf import MAX_LINKS, Lattice
from wordlm.text import read_lines


def read_words(path) -> dict[int, str]:
    """Kaldi's `words.txt`: `WORD ID` per line."""
    out: dict[int, str] = {}
    for number, line in read_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise InputError(f"{where(path)}:{number}: expected 'WORD ID' (Kaldi's words.txt)")
        out[int(parts[1])] = parts[0]
    return out


def _costs(name, number, text) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) < 2:
        raise InputError(f"{name}:{number}: field weight {text[:30]!r}: expected graph_cost,acoustic_cost[,tids]")
    out = []
    for what, value in zip(("graph cost", "acoustic cost"), parts[:2]):
        try:
            x = float(value)
        except ValueError:
            raise InputError(f"{name}:{number}: field {what} {value[:30]!r}: expected a number") from None
        if not math.isfinite(x):
            raise InputError(f"{name}:{number}: field {what} {value[:30]}: expected a finite number")
        out.append(x)
    return out[0], out[1]


def _state(name, number, value, what) -> int:
    if not value.isdigit():
        raise InputError(f"{name}:{number}: field {what} {value[:30]!r}: expected a state number >= 0")
    return int(value)


def read_kaldi(path, words: dict[int, str], max_links: int = MAX_LINKS) -> Iterator[Lattice]:
    """The lattices of a Kaldi text archive, in file order."""
    name = where(path)
    utt = None
    arcs: list[tuple[int, int, str, float, float]] = []
    finals: list[tuple[int, float, float]] = []
    first_line = 0

    def finish() -> Lattice:
        if not finals:
            raise InputError(f"{name}:{first_line}: utterance {utt}: no final state")
        n_states = 1 + max([s for s, *_ in finals] + [max(a[0], a[1]) for a in arcs] + [0])
        end = n_states
        links = arcs + [(s, end, "!NULL", -a, -g) for s, g, a in finals]
        vocab = {"!NULL": 0}
        lw = [vocab.setdefault(w, len(vocab)) for _, _, w, _, _ in links]
        return Lattice(f"{name}:{utt}", 0, end, np.full(n_states + 1, np.nan),
                       np.array([x[0] for x in links], dtype=np.int32), np.array([x[1] for x in links], dtype=np.int32),
                       np.array(lw, dtype=np.int32), np.array([x[3] for x in links], dtype=np.float64),
                       np.array([x[4] for x in links], dtype=np.float64), list(vocab), {"UTTERANCE": utt}, True)

    for number, line in read_lines(path):
        parts = line.split()
        if not parts:
            if utt is not None:
                yield finish()
                utt, arcs, finals = None, [], []
            continue
        if utt is None:
            if len(parts) != 1:
                raise InputError(f"{name}:{number}: field key: expected an utterance id alone on its line")
            utt, first_line = parts[0], number
            continue
        if len(parts) in (1, 2):  # a final state, with or without its weight
            s = _state(name, number, parts[0], "state")
            g, a = _costs(name, number, parts[1]) if len(parts) == 2 else (0.0, 0.0)
            finals.append((s, g, a))
            continue
        if len(parts) not in (4, 5):
            raise InputError(f"{name}:{number}: expected 'src dst word weight' (an arc) or 'state [weight]' (a final state)")
        s, d = _state(name, number, parts[0], "src"), _state(name, number, parts[1], "dst")
        label = parts[3] if len(parts) == 5 else parts[2]
        if not label.isdigit():
            raise InputError(f"{name}:{number}: field word {label[:30]!r}: expected a word id")
        wid = int(label)
        if wid != 0 and wid not in words:
            raise InputError(f"{name}:{number}: field word {wid}: not in words.txt")
        g, a = _costs(name, number, parts[-1])
        arcs.append((s, d, "<eps>" if wid == 0 else words[wid], -a, -g))
        if len(arcs) > max_links:
            raise InputError(f"{name}:{number}: utterance {utt}: more than {max_links:,} arcs (--max-links)")
    if utt is not None:
        yield finish()
