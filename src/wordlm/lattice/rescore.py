"""One lattice file in, its rescoring out: the 1-best, an n-best utterance, a rescored SLF.

`rescore_file(path, lms, weights, options, nbest=N)` reads and validates the file (`slf.py`),
expands it (`search.py`), and returns a `Result`: the best path, the n best distinct word strings
(`paths.py`) and the search's statistics (model calls, rows, states, arcs, seconds).

`rescored_slf(expanded)` is the expanded lattice as SLF text: one node per state (its lattice
node's time) plus one final node, one link per arc with the word (`!NULL` for a filler and for
the final arcs, which carry `</s>`), `a=` the link's acoustic score as read (natural log), and
`l=` the arc's whole LM part, Σ_m α_m·ln p_m(w | history) + first_lm_weight·(first-pass l). The
header says how to add them up again, HTK's way: `acscale` = the acoustic weight, `lmscale=1`,
`wdpenalty` = β: so acscale·Σa + Σl + wdpenalty·words of any path is its total in the search
(a test reads a rescored lattice back and finds the same best path and total).
Not here: the command line (`cli/lattice_cmds.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from wordlm.lattice.paths import Path, best_path, nbest
from wordlm.lattice.search import Expanded, Options, Weights, expand
from wordlm.lattice.slf import MAX_LINKS, NULL, format_slf, read_slf
from wordlm.lattice.words import base_word


@dataclass
class Result:
    utt_id: str
    best: Path
    nbest: list[Path]
    expanded: Expanded
    stats: dict


def rescore_file(path, lms=(), weights: Weights = Weights(), options: Options = Options(), n: int = 0,
                 max_links: int = MAX_LINKS) -> Result:
    start = time.perf_counter()
    lat = read_slf(path, max_links=max_links, max_nodes=max_links)
    read_s = time.perf_counter() - start
    ex = expand(lat, lms, weights, options)
    best = best_path(ex)
    paths = nbest(ex, n) if n else []
    stats = dict(ex.stats, read_seconds=read_s, total_seconds=time.perf_counter() - start)
    return Result(lat.utt_id, best, paths, ex, stats)


def rescored_slf(ex: Expanded) -> str:
    lat, w = ex.lattice, ex.weights
    times = [float(lat.times[v]) if v >= 0 else float(max(lat.times[lat.end], 0.0)) for v in ex.node]
    links = []
    for a in range(len(ex.arc_from)):
        j = ex.arc_link[a]
        lm_part = sum(x * y for x, y in zip(w.lms, ex.arc_lp[a]))
        if j < 0:
            links.append((ex.arc_from[a], ex.arc_to[a], NULL, 0.0, lm_part))
            continue
        word = lat.words[int(lat.link_word[j])]
        word = NULL if ex.word_is_filler[int(lat.link_word[j])] else base_word(word)
        links.append((ex.arc_from[a], ex.arc_to[a], word, float(lat.acoustic[j]),
                      lm_part + w.first_lm * float(lat.lm[j])))
    header = {"UTTERANCE": lat.utt_id, "start": 0, "end": ex.final, "acscale": repr(float(w.acoustic)),
              "lmscale": "1.0", "wdpenalty": repr(float(w.word_bonus))}
    return format_slf(times, links, header)
