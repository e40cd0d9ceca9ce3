"""The tokenizer of `text.Tokenizer` as TensorFlow string ops, for the exported graph.

Not here: the network (`graph.py`), writing the SavedModel (`savedmodel.py`).
"""

from __future__ import annotations

import tensorflow as tf

from wordlm.text import KERAS_FILTERS, SPECIAL_TOKENS

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
