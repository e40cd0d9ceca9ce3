"""Export a LanguageModel as a TensorFlow SavedModel that serves raw strings (TensorFlow Serving).

Job: `export(lm, out_dir)` writes a SavedModel that needs neither wordlm nor Keras to run. The
tokenizer (string ops), the vocabulary (a `tf.lookup.StaticHashTable`, unknown → `<unk>`), the
framing's contexts and the LSTM network (plain variables and a `tf.while_loop` over time) are all in
the graph, so a client sends text and gets numbers back.

Signatures (batched over the first dimension B):

- `score` (also `serving_default`): `sentences` <string>[B] →
  - `logprob` <float64>[B]: ln p(w1 … wn </s> | <s>) — natural log, `</s>` predicted and counted,
    `<s>` never predicted, OOVs scored as `<unk>`: exactly `sum(lm.stream_logprobs([lm.stream(s)])[0])`,
    the scorer's default convention. Without boundaries: ln p(w2 … wn | w1) (window: from w(n+1)).
  - `tokens` <int64>[B]: tokens of the line (characters for a char model), `</s>` not counted;
  - `words` <int64>[B]: the scorer's word count W (= `tokens` for word models; the line's
    whitespace-separated words for a char model);
  - `oovs` <int64>[B]: tokens scored as `<unk>` (a literal `<unk>`, `<s>`, `</s>`, `<pad>` included).
- `next_words`: `prompt` <string>[B] → `words` <string>[B, k] and `logprobs` <float32>[B, k]: the k
  most probable next tokens after the prompt, best first (ties: lower id first), `</s>` and `<unk>`
  included — the top of `lm.next_logprobs([lm.history(prompt)])`. k is fixed at export time (a client
  wanting fewer takes a prefix). A model without boundaries rejects an empty prompt
  (INVALID_ARGUMENT: there is nothing to predict from).

Exactness: every framing is exported. `sequence`/`char`: one post-padded forward pass over the
batch. `word`/`window`/`line`: the framing's fixed-length, left-padded contexts are cut in the graph
(a `line` history longer than the input length is truncated on the left, as the framing does),
with `<pad>` steps skipped exactly as Keras's masking skips them. Reverse models reverse each line's
tokens in the graph; a `next_words` prompt of a reverse model is the text that *follows* the word
to predict, in normal order (as `wordlm next`). The tokenizer matches `text.Tokenizer` exactly,
except that TensorFlow's ICU does not lower-case the 40 letters added in Unicode 14 (Vithkuqi, a
few Latin extensions) that Python 3.11 does; tests check every other cased code point and random
text. Numbers agree with the library to float32 rounding (~1e-6 per sentence). `export` checks
the saved graph against the library on probe sentences before it commits the directory.
Memory: a `score` request holds (scored tokens × vocabulary) float32 logits at once.

Atomicity: the SavedModel is written to a hidden temporary folder next to `out_dir` (ignored by
TensorFlow Serving, which only loads numbered version folders), checked, then renamed into place.

Modules: `graph_text` (the tokenizer as TensorFlow string ops), `graph` (the network and the
signatures as a plain `tf.Module`), `savedmodel` (writing, checking and describing the export),
`destination` (where an export may go, checked without TensorFlow).
Not here: the server (TensorFlow Serving, see docs/scaling.md), request batching, the scorer's
other conventions (`--base 10` is `logprob / ln 10` on the client; `--no-bos`, `--no-eos`,
`--oov skip` and per-token scores need the library), sampling and beam search (`decoding/`).
"""

from wordlm.lazy import lazy_attributes

_LAZY = {  # TensorFlow is imported on first use (PEP 562): `destination` is checked without it
    "build_module": "wordlm.export.graph",
    "WHITESPACE": "wordlm.export.graph_text", "_lower": "wordlm.export.graph_text",
    "graph_tokenizer": "wordlm.export.graph_text",
    **dict.fromkeys(["DEFAULT_TOP"], "wordlm.export.graph"),
    **dict.fromkeys(["SIGNATURES", "TOLERANCE", "check_export", "describe", "export", "probe_sentences"],
                    "wordlm.export.savedmodel"),
    "check_destination": "wordlm.export.destination", "is_export": "wordlm.export.destination",
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
