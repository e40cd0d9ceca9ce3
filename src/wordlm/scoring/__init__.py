"""Scoring: sentence log-probabilities, per-token scores, perplexity, conditional and fill-in scores.

Modules: `sentences` (a line's scores, streamed over files), `summary` (corpus totals, merged
exactly), `conditional` (next words, continuations given a prompt), `fill` (fill in the blank).

Job: turn the LanguageModel primitives (`lm.stream_logprobs`, `lm.next_logprobs`, `lm.start`/`step`)
into the numbers people compare with KenLM and SRILM. Not its job: sharding and printing
(`cli/score_cmds.py`), or running the network (`inference/`).

Conventions (README.md, "Conventions"):
- Natural log everywhere. A sentence is a line; its log-probability is `ln p(w1 … wn </s> | <s>)`:
  `<s>` is context only, never predicted nor counted; `</s>` is predicted and counted. Sums are
  float64 (the network's per-token numbers are float32).
- `bos=False` (`--no-bos`): no `<s>` before the first word. A neural model cannot predict a word
  from nothing, so the first word becomes context only: it is in the word count W but adds
  nothing to the log-probability and is not in the perplexity's denominator.
- `eos=False` (`--no-eos`): `</s>` is not predicted (and S leaves the denominator).
- Models without boundaries (`--no-boundaries`): there are no markers to add or remove; the first
  `framing.first_target` tokens of a line (1, or n for a no-boundary `window` n) are context only.
- OOV: a word not in the vocabulary is scored as `<unk>` (`oov="unk"`), or skipped (`oov="skip"`,
  SRILM): it still enters the history as `<unk>`, but adds nothing and is not counted.
- Counts: S sentences, W words (every token of the line, no `</s>`), O OOVs (skipped or not).
  `scored` = tokens whose log-probability is in L (`</s>` included), `ends` = the `</s>` among them.
  `ppl = exp(-L / scored)` and `ppl1 = exp(-L / (scored - ends))`; by default `scored = W - O_skipped
  + S`, i.e. DESIGN's formulas. Always from totals, never a mean of sentence perplexities.
- Character models: tokens are characters; W counts the line's whitespace-separated words, `ppl`
  and `ppl1` are word-level (`exp(-L/(W+S))`, `exp(-L/W)`) so word and character models compare;
  `char_ppl = exp(-L / scored)` and `bpc` (bits per character) are the per-character figures.
- Corpus totals are kept in fixed point (integer multiples of 2^-20 nats), so they add
  associatively: summaries of shards merge into exactly (bit for bit) the unsharded summary.
- A backward model (`lm.reverse`) reads each line right to left: its per-token list is in that
  order, `</s>` last (it stands for the start of the line).
"""

from wordlm.running_text import RunningContext, check_context, context_ids, in_context
from wordlm.scoring.conditional import (
    CHUNK, NextWord, candidate_ids, continuation_logprobs, continuations, next_words, next_words_batch, prefix_mask,
    prompt_histories, rank_next_words,
)
from wordlm.scoring.fill import BLANK, Filled, fill, fill_logprobs
from wordlm.scoring.sentences import OOV_MODES, Options, SentenceScore, score_files, score_sentences, score_stream
from wordlm.scoring.summary import FIXED_POINT, Summary, merge_summaries, new_summary, summarize

__all__ = [
    "BLANK", "CHUNK", "FIXED_POINT", "OOV_MODES", "Filled", "NextWord", "Options", "RunningContext", "SentenceScore",
    "Summary", "candidate_ids", "check_context", "context_ids", "continuation_logprobs", "continuations", "fill",
    "fill_logprobs", "in_context", "merge_summaries", "new_summary", "next_words", "next_words_batch", "prefix_mask",
    "prompt_histories", "rank_next_words",
    "score_files", "score_sentences", "score_stream", "summarize",
]

