"""Text in: reading corpus files line by line, and tokenizing a line into tokens.

A *line* is a sentence: scoring, framings and boundaries all work per line. The tokenizer's
settings are part of a model (saved with it) so that training and inference split text alike.
This module knows nothing about ids or vocabularies (see `vocab.py`).

Modes:
- `keras`: the tutorial's `keras.preprocessing.text.Tokenizer` defaults: lower-case, replace the
  characters of `KERAS_FILTERS` by spaces, split on whitespace. Special tokens (`<unk>`, `<s>`,
  `</s>`) written in the text survive as themselves.
- `whitespace`: split on whitespace only (pre-tokenised corpora such as Penn Treebank; the
  KenLM/SRILM convention).
- `char`: every character of the line is a token (spaces included, as `" "`).
"""

from __future__ import annotations

import gzip
import io
import sys
from dataclasses import asdict, dataclass
from typing import Iterator

from wordlm.errors import InputError, where

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
MODES = ("keras", "whitespace", "char")
_KERAS_TABLE = str.maketrans({c: " " for c in KERAS_FILTERS})


@dataclass(frozen=True)
class Tokenizer:
    """Splits one line of text into tokens. `lower` defaults to True for `keras`."""

    mode: str = "keras"
    lower: bool = True

    def __post_init__(self):
        if self.mode not in MODES:
            raise InputError(f"unknown tokenizer {self.mode!r}: expected one of {', '.join(MODES)}")

    def tokenize(self, line: str) -> list[str]:
        """Tokens of one line (no boundary markers added)."""
        if self.lower:
            line = line.lower()
        if self.mode == "char":
            return list(line.rstrip("\r\n"))
        if self.mode == "whitespace":
            return line.split()
        tokens = []
        for piece in line.split():
            if piece in SPECIAL_TOKENS:
                tokens.append(piece)
            else:
                tokens.extend(piece.translate(_KERAS_TABLE).split())
        return tokens

    def detokenize(self, tokens: list[str]) -> str:
        """Join tokens back into text (characters joined for `char`, else with spaces)."""
        return "".join(tokens) if self.mode == "char" else " ".join(tokens)

    def to_config(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> "Tokenizer":
        return cls(mode=config["mode"], lower=bool(config["lower"]))


def open_text(path) -> io.TextIOBase:
    """Open a text source for reading: a path, a `.gz` path, or `-` for stdin (bytes decoded later)."""
    if path in (None, "-"):
        if sys.stdin is None:  # started with standard input closed (`<&-`)
            raise InputError("<stdin>: standard input is closed")
        return sys.stdin.buffer
    path = str(path)
    try:
        if path.endswith(".gz"):
            return gzip.open(path, "rb")
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a text file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None


def read_lines(path) -> Iterator[tuple[int, str]]:
    """Yield `(line_number, text)` for each line of a file, 1-based, streaming.

    UTF-8 strictly (a UTF-8 byte-order mark is dropped); CRLF and LF line ends are removed. A byte
    sequence that is not UTF-8 raises `InputError` naming the file and line; so does a binary file
    (NUL bytes).
    """
    name = where(path)
    stream = open_text(path)
    try:
        for number, raw in enumerate(_iter_raw(stream, name), start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if b"\x00" in raw:
                raise InputError(f"{name}:{number}: binary data (NUL byte), expected UTF-8 text")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"{name}:{number}: invalid UTF-8 at byte {e.start} of the line; "
                    "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                ) from None
            yield number, text.rstrip("\r\n")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


MAX_LINE_BYTES = 16 << 20  # a longer line is refused: one line is held in memory (a sentence, not a file)


def _iter_raw(stream, name) -> Iterator[bytes]:
    """The raw lines of a stream, each read with a bound (a 1 GB line inside a small .gz is refused
    after 16 MiB, not after 1 GB of memory)."""
    number = 0
    try:
        while True:
            raw = stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise InputError(f"{name}:{number}: line longer than {MAX_LINE_BYTES >> 20} MiB: "
                                 "expected one sentence per line")
            yield raw
    except (OSError, EOFError) as e:  # e.g. a corrupt .gz
        raise InputError(f"{name}: cannot read ({e})") from None


def read_corpus(paths) -> Iterator[tuple[str, int, str]]:
    """Yield `(file_name, line_number, text)` over several files in order."""
    for path in paths:
        for number, text in read_lines(path):
            yield where(path), number, text
