"""The Keras network: Embedding (padding masked) → LSTM layer(s) → Dense logits over the vocabulary.

Built from plain Keras layers only (no Lambda, no custom objects) so a saved model loads in
Keras's safe mode. Outputs are *logits*; `lm.py` turns them into log-probabilities. Recurrent
framings (`sequence`, `char`) output logits at every position `<float>[batch, time, vocab]`;
the others read a fixed-length context and output `<float>[batch, vocab]`.

Not here: what the inputs mean (`framings.py`), training (`training.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelSize:
    """Network sizes (saved with the model)."""

    embedding_dim: int = 64
    units: int = 128
    layers: int = 1
    dropout: float = 0.0

    def to_config(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> "ModelSize":
        return cls(**{k: config[k] for k in ("embedding_dim", "units", "layers", "dropout")})


def build_model(vocab_size: int, input_length: int | None, recurrent: bool, size: ModelSize):
    """A functional Keras model mapping <int32>[batch, input_length] ids to logits."""
    import keras

    inputs = keras.Input(shape=(input_length,), dtype="int32", name="ids")
    x = keras.layers.Embedding(vocab_size, size.embedding_dim, mask_zero=True, name="embedding")(inputs)
    if size.dropout:
        x = keras.layers.Dropout(size.dropout, name="dropout_0")(x)
    for i in range(size.layers):
        last = i == size.layers - 1
        x = keras.layers.LSTM(size.units, return_sequences=recurrent or not last, name=f"lstm_{i + 1}")(x)
        if size.dropout:
            x = keras.layers.Dropout(size.dropout, name=f"dropout_{i + 1}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(inputs, logits, name="wordlm")


def forward_flops_per_token(vocab_size: int, size: ModelSize) -> int:
    """Multiply-add FLOPs (2 per MAC) of one token's forward step: LSTM gates and the softmax layer."""
    flops, width = 0, size.embedding_dim
    for _ in range(size.layers):
        flops += 2 * 4 * size.units * (width + size.units)
        width = size.units
    return flops + 2 * width * vocab_size


def count_parameters(vocab_size: int, size: ModelSize) -> int:
    """Trainable parameters, from the sizes alone (equals `keras_model.count_params()`)."""
    total, width = vocab_size * size.embedding_dim, size.embedding_dim
    for _ in range(size.layers):
        total += 4 * size.units * (width + size.units + 1)
        width = size.units
    return total + width * vocab_size + vocab_size


class Network:
    """The layers of a built model, for compiled inference code (lm.py, decoders, scorers).

    `cell_step` reads one token per row through the stacked LSTM cells; the state is one flat
    <float32>[batch, 2·layers·units] row per sequence laid out `[h1, c1, h2, c2, …]`, so beams are
    reordered by indexing rows. Only TensorFlow ops: call these inside `tf.function`s.
    """

    def __init__(self, keras_model, size: ModelSize, never_predicted):
        import numpy as np
        import tensorflow as tf

        self.embedding = keras_model.get_layer("embedding")
        self.lstms = [keras_model.get_layer(f"lstm_{i + 1}") for i in range(size.layers)]
        self.dense = keras_model.get_layer("logits")
        self.units = size.units
        self.state_size = 2 * size.layers * size.units
        vocab_size = self.dense.units
        bias = np.zeros(vocab_size, dtype=np.float32)
        bias[list(never_predicted)] = -np.inf
        self.mask_bias = tf.constant(bias)  # -inf on tokens that are never predicted

    def logits(self, h):
        """Masked logits <float32>[..., vocab] from top-layer outputs."""
        return self.dense(h) + self.mask_bias

    def log_softmax(self, h):
        import tensorflow as tf

        return tf.nn.log_softmax(self.logits(h), axis=-1)

    def features(self, x, pad_id: int = 0):
        """Top-layer outputs for <int32>[batch, time] ids, padding masked (as the Keras model runs)."""
        import tensorflow as tf

        h = self.embedding(x)
        mask = tf.not_equal(x, pad_id)
        for layer in self.lstms:
            h = layer(h, mask=mask, training=False)
        return h

    def cell_step(self, ids, state):
        """Read one token per row: (top-layer output <float32>[batch, units], new flat state)."""
        import tensorflow as tf

        x = tf.gather(self.embedding.embeddings, ids)  # plain lookup: no Keras mask to carry
        units, new = self.units, []
        for i, layer in enumerate(self.lstms):
            h = state[:, 2 * i * units : (2 * i + 1) * units]
            c = state[:, (2 * i + 1) * units : (2 * i + 2) * units]
            x, (h2, c2) = layer.cell(x, [h, c], training=False)
            new += [h2, c2]
        return x, tf.concat(new, axis=1)
