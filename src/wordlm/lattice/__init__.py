"""Lattice rescoring: read a recogniser's word lattices (HTK SLF, Kaldi text), rescore them with language
models through the model interface, and take the 1-best, an n-best list and a rescored lattice.

The score of a path (natural log; the lattice's own scores converted from its `base`):

    total = acoustic_weight·Σ a + first_lm_weight·Σ l + α·LM(words) + Σ_k α_k·LM_k(words) + β·words

    a, l      the links' acoustic and first-pass LM scores as the lattice gives them (0 if absent)
    LM(words) ln p(w1 … wn </s> | <s>): `</s>` predicted and counted, once, on reaching the end
              node; `<s>` context only — `rerank`'s LM(h) of the same words
    LM_k      other LMs (`--lm`, e.g. a KenLM n-gram), log-linear as in `rerank`
    words     the path's words: fillers do not count (`words.py` has the rule: `!NULL`, `<s>`,
              `</s>`, `<sil>`, `[…]`, `++…++`, `<…>` but `<unk>`, `--filler` words; `w(2)` is `w`)

Histories that agree on their last `k` words are merged at each node (the n-gram approximation;
`k=None` never merges, and with no pruning the search is then exact: the best path's total is the
best of all paths scored one by one with `lm.score`, a test checks it). Pruning: `beam`,
`max_histories` (`search.py`). With the acoustic weight 1 and no LM (α = 0), it is a first-pass
n-best extractor: `wordlm lattice` does that without loading a model.

Modules: `slf` (read, validate, write SLF), `kaldi` (Kaldi's text lattices), `words` (the filler
rule, LM ids), `graph` (reachable links, topological levels, cycles), `search` (the expansion with
LM states), `paths` (1-best, n-best), `oracle` (the lattice's fewest word errors), `rescore` (a
file in, a `Result` and a rescored SLF out).
Not here: n-best reranking and tuning (`wordlm.rerank`), the command line (`cli/lattice_cmds.py`).
"""

from wordlm.lattice.paths import Path, best_path, nbest
from wordlm.lattice.rescore import Result, rescore_file, rescored_slf
from wordlm.lattice.search import Expanded, Options, Weights, expand
from wordlm.lattice.slf import Lattice, read_slf
from wordlm.lattice.words import is_filler

__all__ = ["Expanded", "Lattice", "Options", "Path", "Result", "Weights", "best_path", "expand", "is_filler",
           "nbest", "read_slf", "rescore_file", "rescored_slf"]
