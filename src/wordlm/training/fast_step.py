"""A faster training step for recurrent networks, used by `loop.py` in place of Keras's own.

Keras's LSTM multiplies every step's input by the input kernel inside the time loop and carries the
padding mask through it. This step computes the same loss and gradients with:
- each LSTM layer's input projection for all positions as one matmul before the loop
  (`x @ W + b`, <float>[batch · time, 4 · units]);
- only the recurrence in the loop (`z_t = xw_t + h_{t-1} @ R`; Keras's gate order i, f, c, o,
  sigmoid gates, tanh cell);
- no mask: recurrent batches are post-padded, so a real position never sees the padding after it
  (as `scoring.py`'s compiled pass);
- the softmax only at predicted positions (targets other than `<pad>`);
- optionally (`--sampled-softmax K`) a sampled softmax over K classes, 1.9-2.3x the full step's
  speed for K = 1024 of 10k words, switched to the full softmax for the end of training;
- optionally (`--tie-embeddings`) the embedding matrix as the output layer's weights (Press & Wolf
  2017; Inan et al. 2017): the logits are `h @ E^T + b`, the gradient of both uses flows into `E`,
  and after each update the Dense layer's kernel is set to `E^T`, so the saved model stays plain
  Keras layers and scores exactly what was trained.
The loss is the mean cross-entropy over predicted tokens, what Keras's
`SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)` computes; dropout runs through
the model's own Dropout layers (same rates, same seeds); the optimizer, its clipping and the
logged loss (a mean over the epoch, weighted by rows) are Keras's. 1.07–1.34× Keras's step on
PTB-sized batches on CPU (benchmarks/training.md).

Used for single-device training of `sequence` and `char` models without `--jit`; distribution
strategies and XLA keep Keras's step. Not here: the network (`model.py`), the loop (`loop.py`).
"""

from __future__ import annotations

import types

from wordlm.model import ModelSize


class SoftmaxSwitch:
    """Whether the step uses the sampled softmax (a variable the compiled step reads: switching
    does not retrace). `loop.py` switches to the full softmax for the end of training."""

    def __init__(self, sampled: int):
        import tensorflow as tf

        self.sampled = sampled
        self.on = bool(sampled)  # mirrors the variable, so the per-batch check reads no tensor
        self.variable = tf.Variable(self.on, trainable=False, name="use_sampled_softmax")

    def full(self) -> None:
        self.on = False
        self.variable.assign(False)


def install(keras_model, size: ModelSize, sampled: int = 0, tied: bool = False) -> SoftmaxSwitch:
    """Make `keras_model.fit` use the fast step (an instance attribute: the saved model is untouched).

    `sampled` > 0: train with a sampled softmax of that many classes until `switch.full()`.
    `tied`: the embedding is the output layer (needs `embedding_dim == units`); the Dense kernel is
    set to its transpose now and after every update.
    """
    switch = SoftmaxSwitch(sampled)
    if tied:
        tie_output(keras_model)
        optimizer = getattr(keras_model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            # Over every weight, the unused kernel too, as Keras's own step would: the optimizer's
            # state (and its moving averages, which `fit` writes back at the end) matches the model's.
            optimizer.build(keras_model.trainable_variables)
    kernel = keras_model.get_layer("logits").kernel if tied else None
    step = _train_step(training_loss(keras_model, size, sampled, tied), switch, kernel)
    keras_model.train_step = types.MethodType(step, keras_model)
    keras_model.train_function = None  # Keras builds its compiled loop from `train_step` on the next fit
    return switch


def tie_output(keras_model) -> None:
    """Set the output layer's kernel <float>[units, vocab] to the transposed embedding matrix."""
    import tensorflow as tf

    embedding, dense = keras_model.get_layer("embedding"), keras_model.get_layer("logits")
    if tuple(dense.kernel.shape) != tuple(embedding.embeddings.shape)[::-1]:
        raise ValueError(f"cannot tie a {tuple(embedding.embeddings.shape)} embedding to a "
                         f"{tuple(dense.kernel.shape)} output kernel")
    dense.kernel.assign(tf.transpose(embedding.embeddings))


def uninstall(keras_model) -> None:
    if "train_step" in vars(keras_model):
        del keras_model.train_step
        keras_model.train_function = None


def training_loss(keras_model, size: ModelSize, sampled: int = 0, tied: bool = False):
    """`loss(x, y, training, use_sampled)`: mean cross-entropy over the predicted tokens (targets not
    `<pad>`) of post-padded <int32>[batch, time] inputs and targets; dropout on when `training`.

    With `sampled` > 0 and `use_sampled` (a boolean tensor) true, the softmax is over the targets and
    `sampled` classes drawn for the batch from a log-uniform (Zipf) distribution over the ids —
    ids are in decreasing frequency order — with the sampling probabilities subtracted from the
    logits and accidental hits removed (`tf.nn.sampled_softmax_loss`): an estimate of the full
    softmax's gradient at `sampled / vocabulary` of its cost. The model itself does not change.
    """
    import tensorflow as tf

    embedding = keras_model.get_layer("embedding")
    lstms = [keras_model.get_layer(f"lstm_{i + 1}") for i in range(size.layers)]
    dropouts = [keras_model.get_layer(f"dropout_{i}") for i in range(size.layers + 1)] if size.dropout else None
    dense = keras_model.get_layer("logits")

    def lstm(layer, x):
        """<float>[B, T, in] → <float>[B, T, units], zero initial state, no mask."""
        cell = layer.cell
        units = cell.units
        batch, steps = tf.shape(x)[0], tf.shape(x)[1]
        xw = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), cell.kernel)
        if cell.use_bias:
            xw += cell.bias
        xw = tf.transpose(tf.reshape(xw, [batch, steps, 4 * units]), [1, 0, 2])  # [T, B, 4U]
        recurrent = cell.recurrent_kernel

        def step(carry, z):
            h, c = carry
            z = z + tf.matmul(h, recurrent)
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            return tf.sigmoid(o) * tf.tanh(c), c

        zeros = tf.zeros([batch, units], dtype=xw.dtype)
        hs, _ = tf.scan(step, xw, initializer=(zeros, zeros))
        return tf.transpose(hs, [1, 0, 2])

    vocab = dense.units

    def full_losses(h, targets):
        logits = tf.matmul(h, embedding.embeddings, transpose_b=True) + dense.bias if tied else dense(h)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)  # [predicted tokens, V] logits

    def sampled_losses(h, targets):
        labels = tf.cast(targets, tf.int64)[:, None]
        draws = tf.random.log_uniform_candidate_sampler(labels, 1, sampled, True, vocab)
        weights = embedding.embeddings if tied else tf.transpose(dense.kernel)  # <float>[vocab, dim]
        return tf.nn.sampled_softmax_loss(weights, dense.bias, labels, h, sampled, vocab,
                                          sampled_values=draws, remove_accidental_hits=True)

    def loss(x, y, training=True, use_sampled=False):
        h = tf.gather(embedding.embeddings, x)
        if dropouts:
            h = dropouts[0](h, training=training)
        for i, layer in enumerate(lstms):
            h = lstm(layer, h)
            if dropouts:
                h = dropouts[i + 1](h, training=training)
        predicted = tf.not_equal(y, 0)
        h, targets = tf.boolean_mask(h, predicted), tf.boolean_mask(y, predicted)
        if sampled:
            losses = tf.cond(use_sampled, lambda: sampled_losses(h, targets), lambda: full_losses(h, targets))
        else:
            losses = full_losses(h, targets)
        return tf.reduce_sum(losses) / tf.maximum(tf.cast(tf.size(losses), losses.dtype), 1.0)

    return loss


def _train_step(training_loss, switch: SoftmaxSwitch, tied_kernel=None):
    """`tied_kernel`: the output kernel, kept out of the update and re-tied to the embedding after it."""
    import tensorflow as tf

    def train_step(self, data):
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            loss = training_loss(x, y, training=True, use_sampled=switch.variable)
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        weights = [w for w in self.trainable_weights if w is not tied_kernel]  # tied: the kernel is a copy
        self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        if tied_kernel is not None:
            tie_output(self)
        return self.get_metrics_result()

    return train_step
