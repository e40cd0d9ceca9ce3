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

One text rule for the command line, the Python API and the service (`one_line`, docs/guarantees.md):
a text is one line, read as a line of a file is read. A leading byte-order mark (U+FEFF) is dropped
from every text — every line of a file (files joined with `cat` keep theirs mid-file), every text
given to the API or the service, every n-best hypothesis (the tokenizer drops it too); a trailing
line end (`\n`, `\r\n`) is dropped; a line break *inside* a text given to the API or the service is
refused (`InputError`): a sentence is a line, and the command line would read two. A TAB or CR inside
a line stays part of it (the tokenizers read them as spaces); text output escapes them (`score`, as
`rerank`: `nbest.tsv_escape`).
"""

from __future__ import annotations

import gzip
import io
import sys
from dataclasses import asdict, dataclass
from typing import Iterator

from wordlm.errors import InputError, where

BOM = "\ufeff"  # a UTF-8 byte-order mark, decoded
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
        """Tokens of one line (no boundary markers added; a leading byte-order mark dropped)."""
        if line[:1] == BOM:
            line = line[1:]
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


def one_line(text: str, what: str = "text") -> str:
    """A text given as one line (to the API or the service), as `read_lines` reads a line of a file:
    a leading byte-order mark and a trailing line end (`\n` or `\r\n`, and any `\r` before it) are
    dropped. A line break inside the text raises `InputError` naming `what`: a text is one sentence,
    and the command line would read it as two lines (split it first: `text.splitlines()`)."""
    if text[:1] == BOM:
        text = text[1:]
    if text[-1:] == "\n":
        text = text[:-1]
    if "\n" in text:
        raise InputError(f"{what}: a line break inside the text ({text[:40]!r}…): a text is one line, one sentence; "
                         "split it into lines first (text.splitlines())")
    return text.rstrip("\r") if text[-1:] == "\r" else text


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

    UTF-8 strictly (a byte-order mark at the start of any line is dropped); CRLF and LF line ends are removed. A byte
    sequence that is not UTF-8 raises `InputError` naming the file and line; so does a binary file
    (NUL bytes) and a line longer than `MAX_LINE_BYTES`. The lines before a bad one are yielded
    first. The file is read in blocks of up to 1 MiB (what is available: a pipe's lines come as
    they are written), each decoded and split at once: no Python work per byte.
    """
    name = where(path)
    stream = open_text(path)
    try:
        yield from _lines(stream, name)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


MAX_LINE_BYTES = 16 << 20  # a longer line is refused: one line is held in memory (a sentence, not a file)
BLOCK_BYTES = 1 << 20
READ_LINES = 8192  # lines read and scored at a time (`score --batch-size`): one-word lines fill 4,096-row passes


def _lines(stream, name) -> Iterator[tuple[int, str]]:
    """The numbered, decoded lines of a binary stream (see `read_lines`): a block at a time, with the
    bound on a line's length checked on the unfinished line carried from block to block (a 1 GB
    line inside a small .gz is refused after 16 MiB, not after 1 GB of memory)."""
    read = getattr(stream, "read1", stream.read)
    number, carry = 0, b""
    while True:
        try:
            chunk = read(BLOCK_BYTES)
        except (OSError, EOFError) as e:  # e.g. a corrupt .gz
            raise InputError(f"{name}: cannot read ({e})") from None
        buf = carry + chunk if carry else chunk
        if len(buf) > MAX_LINE_BYTES:  # only the line carried over can be this long
            first = buf.find(b"\n")
            if first == -1 or first > MAX_LINE_BYTES:
                raise InputError(f"{name}:{number + 1}: line longer than {MAX_LINE_BYTES >> 20} MiB: "
                                 "expected one sentence per line")
        if not chunk:  # end of the file: a last line without its newline
            if buf:
                yield from _decoded(buf, name, number)
            return
        end = buf.rfind(b"\n")
        if end == -1:
            carry = buf
            continue
        block, carry = buf[:end], buf[end + 1 :]
        yield from _decoded(block, name, number)
        number += block.count(b"\n") + 1


def _decoded(block: bytes, name: str, number: int) -> Iterator[tuple[int, str]]:
    """The lines of `block` (lines `number + 1`, … of the file, no final newline), decoded."""
    if b"\x00" not in block:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if BOM in text:  # at the start of any line (files joined with cat keep theirs): dropped
                for i, line in enumerate(text.split("\n"), number + 1):
                    yield i, (line[1:] if line[:1] == BOM else line).rstrip("\r\n")
                return
            for i, line in enumerate(text.split("\n"), number + 1):
                yield i, line.rstrip("\r\n")
            return
    for i, raw in enumerate(block.split(b"\n"), number + 1):  # find the bad line, yielding the good ones
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if b"\x00" in raw:
            raise InputError(f"{name}:{i}: binary data (NUL byte), expected UTF-8 text")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(
                f"{name}:{i}: invalid UTF-8 at byte {e.start} of the line; "
                "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
            ) from None
        yield i, line.rstrip("\r\n")


def read_corpus(paths) -> Iterator[tuple[str, int, str]]:
    """Yield `(file_name, line_number, text)` over several files in order."""
    for path in paths:
        for number, text in read_lines(path):
            yield where(path), number, text


def lines_argument(texts, what: str = "texts") -> list[str]:
    """`texts` as a list of one-line strings (`one_line`: a leading BOM and a trailing line end
    dropped, a line break inside refused); a bare string is refused (TypeError): pass a list of lines."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what}: expected a list of lines, got a single string (wrap it in a list: [text])")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}]: expected a string, got {type(t).__name__}")
    return [one_line(t, f"{what}[{i}]") for i, t in enumerate(texts)]  # the one text rule
