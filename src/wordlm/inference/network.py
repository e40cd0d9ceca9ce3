"""The network's building blocks for compiled inference: lookups, LSTM cells, and the one softmax.

`Network` wraps the Keras model's own layers (shared weights, no copy). Every compiled function of
`inference/` is written with these blocks, so a number such as ln p(token | history) is computed by
one formula wherever it is needed:

    logits(h)              = h · kernel + (bias + mask)        <float32>[..., vocab]
    log_softmax(h)         = logits − logsumexp(logits)          the whole next-token distribution
    target_logprobs(h, y)  = logits[y] − logsumexp(logits)       chosen tokens only, no log-softmax written

`mask` is `lm.mask_bias()`: −inf on the tokens that are never predicted (`<pad>`, `<s>`, and
`</s>` without boundaries), 0 elsewhere, so each row is a distribution that sums to 1. The LSTM state
of a row is one flat <float32>[2·layers·units] vector laid out `[h1, c1, h2, c2, …]`, so beams are
reordered by indexing rows; the top layer's h is the network's output.

Only TensorFlow ops: call these inside `tf.function`s. Not here: which functions are compiled and
cached (`compiled.py`), batching (`streams.py`), building or training the network (`model.py`).
"""

from __future__ import annotations

import numpy as np


class Network:
    def __init__(self, keras_model, layers: int, units: int, mask_bias: np.ndarray):
        import tensorflow as tf

        self.embedding = keras_model.get_layer("embedding")
        self.lstms = [keras_model.get_layer(f"lstm_{i + 1}") for i in range(layers)]
        self.dense = keras_model.get_layer("logits")
        self.units = units
        self.state_size = 2 * layers * units
        self.mask_bias = tf.constant(mask_bias)

    # -- the softmax ----------------------------------------------------------------------------
    def logits(self, h):
        """Masked logits <float32>[..., vocab] of top-layer outputs (the dense bias and the mask in one add)."""
        import tensorflow as tf

        return tf.matmul(h, self.dense.kernel) + (self.dense.bias + self.mask_bias)

    def log_softmax(self, h):
        """<float32>[rows, vocab]: ln p(token | row) for every token, from <float32>[rows, units]."""
        import tensorflow as tf

        return tf.nn.log_softmax(self.logits(h), axis=-1)

    def target_logprobs(self, h, y, rows=None):
        """<float32>[P]: ln p(y[p] | row p) = logit of y[p] − logsumexp of the row's logits, from
        <float32>[N, units] (`y` <int32>[N, k]: k targets per row, <float32>[N, k]); with `rows` <int32>[P], target p is scored on row `rows[p]` (rows may
        repeat: each row's logits and logsumexp are computed once)."""
        import tensorflow as tf

        logits = self.logits(h)
        lse = tf.reduce_logsumexp(logits, axis=-1)
        if rows is None:
            if y.shape.rank == 2:  # several targets per row: <int32>[N, k] → <float32>[N, k]
                return tf.gather(logits, y, axis=1, batch_dims=1) - lse[:, None]
            return tf.gather(logits, y, axis=1, batch_dims=1) - lse
        return tf.gather_nd(logits, tf.stack([rows, y], axis=1)) - tf.gather(lse, rows)

    # -- reading tokens -------------------------------------------------------------------------
    def lookup(self, ids):
        """Embedding vectors of ids (a plain lookup: no Keras mask to carry)."""
        import tensorflow as tf

        return tf.gather(self.embedding.embeddings, ids)

    def features(self, x, masked: bool = True):
        """Top-layer outputs <float32>[batch, time, units] for <int32>[batch, time] ids.

        `masked`: padding (id 0) masked, as the Keras model runs (pre-padded fixed contexts). Post-padded
        rows need no mask: a real position never sees the padding after it (identical numbers, faster).
        """
        import tensorflow as tf

        h = self.lookup(x)
        mask = tf.not_equal(x, 0) if masked else None
        for layer in self.lstms:
            h = layer(h, mask=mask, training=False)
        return h

    def cell_step(self, ids, state):
        """Read one token per row: (top-layer output <float32>[batch, units], new flat state)."""
        import tensorflow as tf

        x, units, new = self.lookup(ids), self.units, []
        for i, layer in enumerate(self.lstms):
            h = state[:, 2 * i * units : (2 * i + 1) * units]
            c = state[:, (2 * i + 1) * units : (2 * i + 2) * units]
            x, (h2, c2) = layer.cell(x, [h, c], training=False)
            new += [h2, c2]
        return x, tf.concat(new, axis=1)

    def cells(self, ids, state):
        """`cell_step`'s new state, except rows whose id is `<pad>` keep theirs (left-padded prompts)."""
        import tensorflow as tf

        _, new = self.cell_step(ids, state)
        return tf.where(tf.not_equal(ids, 0)[:, None], new, state)

    def read(self, ids):
        """The state <float32>[batch, state_size] after reading <int32>[time, batch] left-padded ids
        from the zero state (a padded step leaves a row as it is: each row as if read alone)."""
        import tensorflow as tf

        zero = tf.zeros([tf.shape(ids)[1], self.state_size])
        _, state = tf.while_loop(lambda t, _: t < tf.shape(ids)[0], lambda t, s: (t + 1, self.cells(ids[t], s)),
                                 (tf.constant(0), zero))
        return state

    def output(self, state):
        """The top layer's h <float32>[batch, units] of flat states: the network's output after them."""
        return state[:, self.state_size - 2 * self.units : self.state_size - self.units]
