"""Pre-trained word vectors: read GloVe / word2vec text files, initialise a model's embedding rows.

Formats (plain or `.gz`, UTF-8): GloVe, one `word v1 … vd` line per word; word2vec text, the same
after a `count dimension` header line (recognised and skipped). A word may contain spaces (the last
d fields are the vector). Only vectors of vocabulary words are kept, so memory follows the
vocabulary, not the file. Matching is exact; a model that lower-cases its text also takes the
lower-cased form of a vector's word when the exact form is absent (GloVe files are lower-case,
word2vec's are not), the exact form winning.

`initialise` overwrites exactly the rows of covered vocabulary words; every other row (uncovered
words and the reserved `<pad>`, `<unk>`, `<s>`, `</s>`) keeps its random initial value.

Not here: the network (`model.py`), freezing (`factory.py`/`loop.py` set the layer's `trainable`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from wordlm.errors import InputError, where
from wordlm.text import read_lines
from wordlm.vocab import Vocabulary


@dataclass
class Coverage:
    """What a vectors file covered: vocabulary words (types) and, when counted, training tokens."""

    file: str
    dimension: int
    vectors_read: int
    words_covered: int
    vocab_words: int
    tokens_covered: int | None = None
    tokens: int | None = None

    @property
    def word_rate(self) -> float:
        return self.words_covered / self.vocab_words if self.vocab_words else 0.0

    def to_config(self) -> dict:
        d = asdict(self)
        d["word_rate"] = round(self.word_rate, 6)
        if self.tokens:
            d["token_rate"] = round(self.tokens_covered / self.tokens, 6)
        return d

    def describe(self) -> str:
        text = (f"embeddings: {self.words_covered:,} of {self.vocab_words:,} vocabulary words covered "
                f"({self.word_rate:.1%}) by {self.file} ({self.vectors_read:,} vectors, {self.dimension} dimensions)")
        if self.tokens:
            text += f"; {self.tokens_covered / self.tokens:.1%} of training tokens"
        return text


def read_vectors(path, vocab: Vocabulary, lower: bool, dimension: int | None = None) -> tuple[dict[int, np.ndarray], int, int]:
    """Vectors of vocabulary words: ({word id: <float32>[d]}, d, number of vectors in the file).

    `dimension`, when given, must match the file's (else an InputError naming the file and line).
    """
    name = where(path)
    found: dict[int, np.ndarray] = {}
    exact: set[int] = set()
    dim = None
    count = 0
    for number, line in read_lines(path):
        fields = line.split()
        if not fields:
            continue
        if dim is None and number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
            continue  # word2vec header: "count dimension"
        if dim is None:
            dim = len(fields) - 1
            if dim < 1:
                raise InputError(f"{name}:{number}: expected a word followed by its vector, got {line[:40]!r}")
            if dimension is not None and dim != dimension:
                raise InputError(
                    f"{name}:{number}: the vectors have {dim} dimensions but the model's embedding has "
                    f"{dimension}; train with --embedding-dim {dim}"
                )
        if len(fields) < dim + 1:
            raise InputError(f"{name}:{number}: expected a word and {dim} numbers, got {len(fields)} fields")
        count += 1
        word = " ".join(fields[:-dim])
        wid = vocab.token_to_id.get(word)
        is_exact = wid is not None and word in vocab
        if not is_exact and lower:
            wid = vocab.token_to_id.get(word.lower())
        if wid is None or vocab.id_to_token[wid] not in vocab or wid in exact or (wid in found and not is_exact):
            continue
        try:
            found[wid] = np.array(fields[-dim:], dtype=np.float32)
        except ValueError:
            raise InputError(f"{name}:{number}: the vector of {word!r} has a field that is not a number") from None
        if is_exact:
            exact.add(wid)
    if dim is None:
        raise InputError(f"{name}: no vectors found (empty file)")
    return found, dim, count


def initialise(keras_model, vocab: Vocabulary, lower: bool, path, token_counts: np.ndarray | None = None) -> Coverage:
    """Overwrite the embedding rows of covered vocabulary words with their vectors; report coverage.

    `token_counts` (<int>[vocab]: training tokens per id), when given, adds token coverage.
    """
    layer = keras_model.get_layer("embedding")
    weights = np.array(layer.embeddings.numpy())
    vectors, dim, count = read_vectors(path, vocab, lower, dimension=weights.shape[1])
    ids = np.array(sorted(vectors), dtype=np.int64)
    if len(ids):
        weights[ids] = np.stack([vectors[i] for i in ids])
        layer.embeddings.assign(weights)
    coverage = Coverage(str(path), dim, count, len(ids), vocab.num_words)
    if token_counts is not None:
        coverage.tokens = int(token_counts.sum())
        coverage.tokens_covered = int(token_counts[ids].sum()) if len(ids) else 0
    return coverage
