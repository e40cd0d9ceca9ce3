"""The lattice oracle: the fewest word errors of any path of a lattice against a reference.

One edit-distance row per node, over the reference's prefixes, carried along the links in
topological order (the Levenshtein recurrence on a graph): `cost[v][i]` is the fewest edits
that turn some start→v path's words into `ref[:i]`. A word link costs an insertion or a
substitution/match, a filler link costs nothing, and deletions are taken at each node. The oracle
is `cost[end][len(ref)]`, exact; WER uses `wer.words` (lower case, whitespace words), as
`rerank`'s oracle does. Not here: choosing paths by score (`paths.py`).
"""

from __future__ import annotations

import numpy as np

from wordlm.lattice.graph import prepare
from wordlm.lattice.words import base_word, is_filler
from wordlm.wer import words as wer_words


def oracle_errors(lat, ref: str, fillers=frozenset()) -> int:
    ref_words = wer_words(ref)
    n = len(ref_words)
    shape = prepare(lat)
    vocab = {w: i for i, w in enumerate(dict.fromkeys(ref_words))}
    ref_ids = np.array([vocab[w] for w in ref_words], dtype=np.int64)
    # per lattice word: -2 filler, -1 not in the reference, else its reference vocabulary id
    code = []
    for w in lat.words:
        if is_filler(w, fillers):
            code.append(-2)
        else:
            code.append(vocab.get(base_word(w).lower(), -1))
    inf = np.iinfo(np.int64).max // 4
    cost: dict[int, np.ndarray] = {lat.start: np.arange(n + 1, dtype=np.int64)}
    for u in shape.order:
        row = cost.get(u)
        if row is None:
            continue
        for i in range(1, n + 1):  # deletions of reference words at this node
            row[i] = min(row[i], row[i - 1] + 1)
        if u == lat.end:
            return int(row[n])
        for j in shape.out_links[u]:
            v = int(lat.link_end[j])
            c = code[int(lat.link_word[j])]
            if c == -2:
                new = row
            else:
                new = row + 1  # insertion of the link's word
                new[1:] = np.minimum(new[1:], row[:-1] + (ref_ids != c))  # substitution or match
            old = cost.get(v)
            cost[v] = new.copy() if old is None else np.minimum(old, new)
        del cost[u]
    return inf
