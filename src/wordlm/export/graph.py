"""The network and the `score` / `next_words` signatures as a plain `tf.Module` (no Keras, no wordlm at run time).

Not here: the tokenizer ops (`graph_text.py`), writing and checking the SavedModel (`savedmodel.py`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from wordlm.errors import ModelError
from wordlm.export.graph_text import WHITESPACE, _char_class, graph_tokenizer
from wordlm.lm import LanguageModel
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID, RESERVED, UNK_ID

DEFAULT_TOP = 10


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
    if not lm.has_network:
        raise ModelError("this language model has no Keras network to export")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    framing, units, vocab_size = lm.framing, lm.size.units, lm.vocab_size
    recurrent, boundaries, reverse = framing.recurrent, lm.boundaries, lm.reverse
    first = framing.first_target
    length = None if recurrent else framing.input_length
    k = min(top, vocab_size - len(lm.never_predicted()))
    mask_bias = lm.mask_bias()
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
