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

Not here: the server (TensorFlow Serving, see docs/scaling.md), request batching, the scorer's
other conventions (`--base 10` is `logprob / ln 10` on the client; `--no-bos`, `--no-eos`,
`--oov skip` and per-token scores need the library), sampling and beam search (`decoding/`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from wordlm.errors import ModelError
from wordlm.lm import LanguageModel
from wordlm.text import KERAS_FILTERS, SPECIAL_TOKENS
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID, RESERVED, UNK_ID

DEFAULT_TOP = 10
SIGNATURES = ("score", "next_words")
TOLERANCE = 1e-4  # largest |Δ logprob| the export check accepts (float32 graphs agree to ~1e-6)

# The characters Python's str.split() splits on (== str.isspace(); a test checks the list).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _char_class(chars: str) -> str:
    """An RE2 character class matching exactly `chars` (every one hex-escaped)."""
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"


# -- text, in the graph ------------------------------------------------------------------------
def _lower(lines):
    """Unicode lower-case (ICU, full case mapping, like str.lower); NUL-safe.

    `tf.strings.lower` stops at a NUL byte, so the text is cut at NULs, lowered, and re-joined.
    """
    parts = tf.strings.split(lines, sep="\x00")
    lowered = tf.strings.lower(parts, encoding="utf-8")
    lengths = parts.row_lengths()
    last = tf.equal(tf.ragged.range(lengths), tf.expand_dims(lengths - 1, 1))
    glue = tf.where(last.flat_values, "", "\x00")
    return tf.strings.reduce_join(lowered.with_flat_values(tf.strings.join([lowered.flat_values, glue])), axis=-1)


def graph_tokenizer(tokenizer):
    """`tokenizer.tokenize` as TensorFlow ops: <string>[B] → <string>RaggedTensor[B, (tokens)]."""
    whitespace = _char_class(WHITESPACE)
    filters = _char_class(KERAS_FILTERS)

    def tokenize(lines):
        if tokenizer.lower:
            lines = _lower(lines)
        if tokenizer.mode == "char":  # list(line.rstrip("\r\n")): code points, spaces included
            return tf.strings.unicode_split(tf.strings.regex_replace(lines, "[\r\n]+$", ""), "UTF-8")
        pieces = tf.strings.split(tf.strings.regex_replace(lines, whitespace, " "))
        if tokenizer.mode == "whitespace":
            return pieces
        # keras: a piece that is exactly <unk>, <s> or </s> survives; others lose the filter characters.
        flat = pieces.flat_values
        special = tf.reduce_any(tf.equal(flat[:, None], tf.constant(SPECIAL_TOKENS)[None, :]), axis=1)
        cleaned = tf.where(special, flat, tf.strings.regex_replace(flat, filters, " "))
        return pieces.with_flat_values(tf.strings.split(cleaned)).merge_dims(1, 2)

    return tokenize


# -- the network, in the graph -----------------------------------------------------------------
def _lstm_stack(ids, embedding, layers, units, every_step):
    """Keras's stacked LSTM (gates i, f, c, o; sigmoid, tanh) over <int32>[N, T] ids from a zero state.

    One loop over time runs every layer at each step, so memory holds the states, not a [N, T, 4·units]
    gate tensor per layer. `<pad>` steps carry every layer's state unchanged, as Keras masking does
    (left padding is therefore skipped, and after post-padding the final state is the last token's).
    Returns the top layer's output at every step <float>[N, T, units] when `every_step`, else the
    final one <float>[N, units].
    """
    n, steps = tf.shape(ids)[0], tf.shape(ids)[1]
    ids_by_time = tf.transpose(ids)
    zero = tf.zeros([n, units])
    state = tuple((zero, zero) for _ in layers)
    outputs = tf.TensorArray(tf.float32, size=steps if every_step else 0, element_shape=tf.TensorShape([None, units]))

    def body(t, state, outputs):
        x = tf.gather(embedding, ids_by_time[t])
        keep = tf.not_equal(ids_by_time[t], PAD_ID)[:, None]
        new = []
        for (kernel, recurrent, bias), (h, c) in zip(layers, state):
            z = tf.matmul(x, kernel)
            z += tf.matmul(h, recurrent)
            z += bias
            i, f, g, o = tf.split(z, 4, axis=1)
            c2 = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h2 = tf.sigmoid(o) * tf.tanh(c2)
            h2, c2 = tf.where(keep, h2, h), tf.where(keep, c2, c)
            new.append((h2, c2))
            x = h2
        if every_step:
            outputs = outputs.write(t, x)
        return t + 1, tuple(new), outputs

    _, state, outputs = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), state, outputs))
    if every_step:
        return tf.transpose(outputs.stack(), [1, 0, 2])
    return state[-1][0]


def _weights(lm: LanguageModel) -> dict:
    """The Keras model's weights as numpy arrays (dropout has none and is off at inference)."""
    model = lm.keras_model
    (embedding,) = model.get_layer("embedding").get_weights()
    lstms = [model.get_layer(f"lstm_{i + 1}").get_weights() for i in range(lm.size.layers)]
    kernel, bias = model.get_layer("logits").get_weights()
    return {"embedding": embedding, "lstms": lstms, "dense": (kernel, bias)}


def build_module(lm: LanguageModel, top: int = DEFAULT_TOP) -> tf.Module:
    """A `tf.Module` with the `score` and `next_words` tf.functions, weights and vocabulary table."""
    if lm.keras_model is None:
        raise ModelError("this language model has no Keras network to export")
    if top < 1:
        raise ModelError(f"--top must be at least 1, got {top}")
    framing, units, vocab_size = lm.framing, lm.size.units, lm.vocab_size
    recurrent, boundaries, reverse = framing.recurrent, lm.boundaries, lm.reverse
    first = framing.first_target
    length = None if recurrent else framing.input_length
    k = min(top, vocab_size - len(lm.never_predicted()))
    mask_bias = np.zeros(vocab_size, dtype=np.float32)
    mask_bias[lm.never_predicted()] = -np.inf
    id_to_token = np.array(lm.vocab.id_to_token, dtype=object)
    words = lm.vocab.id_to_token[len(RESERVED):]
    char_model = lm.tokenizer.mode == "char"

    w = _weights(lm)
    module = tf.Module(name="wordlm")
    module.embedding = tf.Variable(w["embedding"], trainable=False, name="embedding")
    module.lstm = [
        [tf.Variable(a, trainable=False, name=f"lstm_{i + 1}_{n}") for a, n in zip(ws, ("kernel", "recurrent", "bias"))]
        for i, ws in enumerate(w["lstms"])
    ]
    module.dense = [tf.Variable(a, trainable=False, name=f"logits_{n}") for a, n in zip(w["dense"], ("kernel", "bias"))]
    module.table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(words, dtype=tf.string), tf.range(len(RESERVED), len(RESERVED) + len(words), dtype=tf.int64)
        ),
        default_value=UNK_ID,  # unknown words; <pad>, <unk>, <s>, </s> are not keys, so they map here too
    )
    tokenize = graph_tokenizer(lm.tokenizer)

    def encode(lines):
        """Lines → (ids <int32>[B, T] post-padded with `<pad>` plus one spare column, lengths, oovs)."""
        tokens = tokenize(lines)
        ids = tf.cast(tokens.with_flat_values(module.table.lookup(tokens.flat_values)), tf.int32)
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        oovs = tf.reduce_sum(tf.cast(tf.equal(ids, UNK_ID), tf.int64), axis=1)
        dense = ids.to_tensor(default_value=PAD_ID)
        dense = tf.concat([dense, tf.fill([tf.shape(dense)[0], 1], PAD_ID)], axis=1)  # never 0 columns
        if reverse:
            dense = tf.reverse_sequence(dense, lengths, seq_axis=1, batch_axis=0)
        return dense, lengths, oovs

    def run(ids, every_step):
        return _lstm_stack(ids, module.embedding, module.lstm, units, every_step)

    def log_softmax(h):
        """<float>[N, units] top-layer outputs → <float>[N, vocab] next-token log-probabilities."""
        logits = tf.matmul(h, module.dense[0]) + module.dense[1]
        return tf.nn.log_softmax(logits + tf.constant(mask_bias), axis=-1)

    def contexts(history, ends):
        """<int32>[N, L]: row r is history[r][e-L:e] for e = ends[r], left-padded with `<pad>`."""
        idx = ends[:, None] - length + tf.range(length)[None]
        ctx = tf.gather(history, tf.maximum(idx, 0), batch_dims=1)
        return tf.where(idx >= 0, ctx, PAD_ID)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")], autograph=False)
    def score(sentences):
        ids, lengths, oovs = encode(sentences)
        batch = tf.shape(ids)[0]
        if boundaries:  # <s> w1 … wn </s>
            stream = tf.concat([tf.fill([batch, 1], BOS_ID), ids], axis=1)
            stream = tf.where(tf.range(tf.shape(stream)[1])[None] == (lengths + 1)[:, None], EOS_ID, stream)
            stream_len = lengths + 2
        else:
            stream, stream_len = ids, lengths
        stream = tf.concat([stream, tf.fill([batch, 1], PAD_ID)], axis=1)  # width ≥ 2
        # The scored positions t of each stream (first ≤ t < length), as (row, t) pairs: only these
        # go through the softmax layer, whatever the padding of the batch.
        positions = tf.range(tf.shape(stream)[1])[None]
        scored = tf.where((positions >= first) & (positions < stream_len[:, None]))
        rows, t = tf.cast(scored[:, 0], tf.int32), tf.cast(scored[:, 1], tf.int32)
        if recurrent:  # one forward pass over the batch: the output after stream[t - 1] predicts stream[t]
            h = tf.gather_nd(run(stream[:, :-1], every_step=True), tf.stack([rows, t - 1], axis=1))
        else:  # one fixed-length context per scored position
            h = run(contexts(tf.gather(stream, rows), t), every_step=False)
        token_lp = tf.gather(log_softmax(h), tf.gather_nd(stream, scored), batch_dims=1)
        logprob = tf.math.unsorted_segment_sum(tf.cast(token_lp, tf.float64), rows, batch)
        tokens = tf.cast(lengths, tf.int64)
        if char_model:
            words = tf.strings.split(tf.strings.regex_replace(sentences, _char_class(WHITESPACE), " ")).row_lengths()
        else:
            words = tokens
        return {"logprob": logprob, "tokens": tokens, "words": words, "oovs": oovs}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="prompt")], autograph=False)
    def next_words(prompt):
        ids, lengths, _ = encode(prompt)
        batch = tf.shape(ids)[0]
        if boundaries:
            history, history_len = tf.concat([tf.fill([batch, 1], BOS_ID), ids], axis=1), lengths + 1
        else:
            history, history_len = ids, lengths
            check = tf.debugging.assert_positive(
                history_len, message="empty prompt: a model without boundaries needs at least one word to predict from"
            )
            with tf.control_dependencies([check]):
                history = tf.identity(history)
        if recurrent:  # post-padded: the final state is the one after the last token
            h = run(history, every_step=False)
        else:
            h = run(contexts(history, history_len), every_step=False)
        values, indices = tf.math.top_k(log_softmax(h), k=k)
        return {"words": tf.gather(tf.constant(id_to_token, dtype=tf.string), indices), "logprobs": values}

    module.score = score
    module.next_words = next_words
    module.top = k
    return module


# -- writing and checking ----------------------------------------------------------------------
def probe_sentences(lm: LanguageModel) -> list[str]:
    """A few sentences to check an export with: in-vocabulary words, upper case, an OOV, punctuation, ''."""
    words = lm.vocab.id_to_token[len(RESERVED) : len(RESERVED) + 6]
    text = lm.tokenizer.detokenize(words)
    return ["", text, text.upper(), f"{text}, zzqxv-{text[:3]}!", " ".join(words[:2]), "<unk> " + text[:4]]


def check_export(lm: LanguageModel, served, sentences) -> float:
    """Largest |logprob difference| between a loaded export and the library over `sentences`.

    Also raises ModelError when token counts or the top next words differ.
    """
    out = served.signatures["score"](sentences=tf.constant(sentences, dtype=tf.string))
    expected = [float(np.sum(s)) for s in lm.stream_logprobs([lm.stream(t) for t in sentences])]
    worst = float(np.max(np.abs(out["logprob"].numpy() - np.array(expected)), initial=0.0))
    for t, n in zip(sentences, out["tokens"].numpy()):
        if n != len(lm.tokens(t)):
            raise ModelError(f"export check failed: {t!r} has {len(lm.tokens(t))} tokens but the graph read {n}")
    prompts = [t for t in sentences if lm.history(t)]
    if prompts:
        nxt = served.signatures["next_words"](prompt=tf.constant(prompts, dtype=tf.string))
        lib = lm.next_logprobs([lm.history(t) for t in prompts])
        k = nxt["logprobs"].shape[1]
        top = -np.sort(-lib, axis=1)[:, :k]
        worst = max(worst, float(np.max(np.abs(np.where(np.isfinite(top), top - nxt["logprobs"].numpy(), 0.0)))))
    if not worst <= TOLERANCE:
        raise ModelError(f"export check failed: the SavedModel's log-probabilities differ from the library's by {worst:.3g}")
    return worst


def export(lm: LanguageModel, out_dir, top: int = DEFAULT_TOP, overwrite: bool = False) -> dict:
    """Write `lm` as a SavedModel to `out_dir` (atomically) and check it; returns a summary dict.

    `out_dir` must not exist (or be an empty folder) unless `overwrite`. TensorFlow Serving loads
    numbered version folders: export to `models/NAME/1`, then `models/NAME/2`, ...
    """
    out = check_destination(out_dir, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    try:
        module = build_module(lm, top)
        signatures = {"serving_default": module.score, "score": module.score, "next_words": module.next_words}
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        extra = tmp / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / "wordlm.json").write_text(json.dumps(_metadata(lm, module.top), indent=1, ensure_ascii=False), "utf-8")
        probes = probe_sentences(lm)
        difference = check_export(lm, tf.saved_model.load(str(tmp)), probes)
        _replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {"out": str(out), "top": module.top, "probes": len(probes), "max_difference": difference}


def check_destination(out_dir, overwrite: bool = False) -> Path:
    """Refuse an `out_dir` that is a file, or a non-empty folder unless `overwrite`."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ModelError(f"{out}: already exists; pass --overwrite to replace it, or export a new version folder")
    return out


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename `src` to `dst`; an existing `dst` is first moved aside, then deleted."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{secrets.token_hex(4)}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _metadata(lm: LanguageModel, top: int) -> dict:
    """What the export holds, for people (TensorFlow Serving ignores `assets.extra/`)."""
    return {
        "format": "wordlm-savedmodel",
        "signatures": {"score": "sentences -> logprob, tokens, words, oovs", "next_words": f"prompt -> words, logprobs (top {top})"},
        "conventions": "natural log; </s> predicted and counted; <s> never predicted; OOV scored as <unk>",
        "tokenizer": lm.tokenizer.to_config(),
        "framing": lm.framing.to_config(),
        "reverse": lm.reverse,
        "size": lm.size.to_config(),
        "vocab_size": lm.vocab_size,
        "info": lm.info,
    }


def describe(top: int) -> list[str]:
    """One line per signature: inputs → outputs, with dtypes and shapes."""
    return [
        "score (also serving_default): sentences <string>[B] -> logprob <float64>[B], tokens <int64>[B], "
        "words <int64>[B], oovs <int64>[B]",
        f"next_words: prompt <string>[B] -> words <string>[B, {top}], logprobs <float32>[B, {top}]",
    ]
