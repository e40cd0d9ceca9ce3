"""N-best reranking: add the LM's opinion to a recogniser's scores, pick again, tune, report WER.

The combination (used by `rerank`, `tune` and the reports; tests check the code against it):

    total(h)      = first_pass(h) + α · LM(h) + Σ_k α_k · LM_k(h) + β · words(h)    (LM_k: `--lm`, log-linear)
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
Other framings use `lm.stream_logprobs`, the scorer's path. Both give the same numbers as scoring each hypothesis
alone (to float32 rounding).

Modules: `formula` (the combination, scored utterances, output records), `trie` (exact LM scores of
many hypotheses), `report` (the WER report, a text plot), `tuning` (the weight grid, the coordinate search over several LMs' weights, tuned-weight files),
`generalise` (cross-validated WER, the sign test and the rule that keeps the first pass unless the gain is significant).
Not here: file formats (`nbest/`), the WER alignment (`wer.py`), the command line (`cli/rerank_cmds.py`).
"""

from wordlm.rerank.formula import (
    Scored, choose, combine, first_pass, format_am, parse_am, ranking, record, score_nbest, word_count,
)
from wordlm.rerank.report import Report, ascii_plot
from wordlm.rerank.trie import LMCache, sentence_logprobs, trie_logprobs
from wordlm.rerank.generalise import RULES, Generalisation, generalise, sign_test
from wordlm.rerank.tuning import Table, TuneResult, check_grid, parse_range, read_weights, tune, wer_by_alpha

__all__ = [
    "LMCache", "RULES", "Generalisation", "Report", "Scored", "Table", "TuneResult", "generalise", "sign_test", "ascii_plot", "choose", "combine", "first_pass", "format_am",
    "check_grid", "parse_am", "parse_range", "ranking", "read_weights", "record", "score_nbest", "sentence_logprobs", "trie_logprobs",
    "tune", "wer_by_alpha", "word_count",
]
