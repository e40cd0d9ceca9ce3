"""The Keras network: Embedding (padding masked) → LSTM layer(s) → Dense logits over the vocabulary.

Built from plain Keras layers only (no Lambda, no custom objects) so a saved model loads in
Keras's safe mode. Outputs are *logits*; `lm.py` turns them into log-probabilities. Recurrent
framings (`sequence`, `char`) output logits at every position `<float>[batch, time, vocab]`;
the others read a fixed-length context and output `<float>[batch, vocab]`.

Not here: what the inputs mean (`framings.py`), training (`training/`), inference (`inference/`).
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
