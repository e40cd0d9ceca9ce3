"""Training text on disk: corpus files → tokenized lines → encoded streams, read back through memmap.

Job: give the batch plans (`batches.py`) the corpus without ever holding it in memory.

1. `token_lines` streams tokenized lines (the vocabulary's counting pass reads it).
2. `encode_corpus` reads the text again, encodes each line and appends its stream
   (`framing.line(ids)`: `<s> w1 … wn </s>` with boundaries) to a flat `<int32>` file; an `<int64>`
   file holds where each stream starts. Both are read back through `np.memmap`, so the operating
   system pages the ids in and out: resident memory does not grow with the corpus (the per-line
   index costs 8–16 bytes a line). `-` (stdin) is copied to a temporary file first (`rereadable`:
   two passes).
`read_tokenized` holds a small corpus in memory (validation text; tests).

Not here: building the vocabulary (`vocab.py`), batches (`batches.py`), the network, the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.framings import Framing
from wordlm.text import Tokenizer, read_corpus, read_lines
from wordlm.vocab import UNK_ID, Vocabulary


def token_lines(paths: Sequence[str], tokenizer: Tokenizer, reverse: bool = False) -> Iterator[list[str]]:
    """Tokenized non-blank lines of the files, in order (reversed for a backward model)."""
    for _name, _number, text in read_corpus(paths):
        tokens = tokenizer.tokenize(text)
        if tokens:
            yield tokens[::-1] if reverse else tokens


def rereadable(paths: Sequence[str], directory: Path) -> list[str]:
    """The paths, with `-` (stdin, readable once) replaced by a UTF-8 copy of it in `directory`.

    The copy is checked as it is made, so errors name `<stdin>` and its line, not the copy.
    """
    out = []
    for p in paths:
        if p == "-":
            copy = Path(directory) / "stdin.txt"
            with open(copy, "w", encoding="utf-8", newline="\n") as f:
                for _number, text in read_lines("-"):
                    f.write(text + "\n")
            p = str(copy)
        out.append(str(p))
    return out


@dataclass
class EncodedCorpus:
    """Encoded streams on disk: `ids` <int32>[tokens] back to back, `starts` <int64>[streams + 1].

    `lines`, `tokens` (words, markers not counted) and `oovs` (words encoded as `<unk>`) describe
    the text; `joined` is True when the framing reads all lines as one stream (`word` and `window`
    without boundaries, as in the tutorial).
    """

    directory: Path
    joined: bool
    lines: int
    tokens: int
    oovs: int

    @property
    def ids(self) -> np.ndarray:
        return np.memmap(self.directory / "ids.bin", dtype=np.int32, mode="r")

    @property
    def starts(self) -> np.ndarray:
        return np.fromfile(self.directory / "starts.bin", dtype=np.int64)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    def streams(self) -> Iterator[np.ndarray]:
        """The streams, in corpus order (for tests and small corpora)."""
        ids, starts = self.ids, self.starts
        for a, b in zip(starts[:-1], starts[1:]):
            yield np.asarray(ids[a:b])


def encode_corpus(
    paths: Sequence[str], tokenizer: Tokenizer, vocab: Vocabulary, framing: Framing, reverse: bool, directory
) -> EncodedCorpus:
    """Tokenize, encode and write every line's stream to `directory` (one streaming pass)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Ask the framing (never re-implement it) whether lines are read as one stream.
    joined = len(list(framing.streams([[UNK_ID], [UNK_ID]]))) == 1
    lines = tokens = oovs = position = 0
    chunk: list[int] = []
    starts: list[int] = [0]
    with open(directory / "ids.bin", "wb") as ids_file, open(directory / "starts.bin", "wb") as starts_file:
        for words in token_lines(paths, tokenizer, reverse):
            ids = vocab.encode(words)
            lines += 1
            tokens += len(ids)
            oovs += ids.count(UNK_ID)
            stream = framing.line(ids)
            chunk.extend(stream)
            position += len(stream)
            if not joined:
                starts.append(position)
            if len(chunk) >= 1 << 20:
                np.asarray(chunk, dtype=np.int32).tofile(ids_file)
                chunk.clear()
            if len(starts) >= 1 << 16:
                np.asarray(starts[:-1], dtype=np.int64).tofile(starts_file)
                starts = starts[-1:]
        np.asarray(chunk, dtype=np.int32).tofile(ids_file)
        if joined:
            starts.append(position)
        np.asarray(starts, dtype=np.int64).tofile(starts_file)
    if lines == 0:
        raise InputError(f"{_names(paths)}: no words found (empty corpus)")
    return EncodedCorpus(directory, joined, lines, tokens, oovs)


@dataclass
class Corpus:
    """Tokenized lines of one or more files, in memory (validation text; small corpora in tests)."""

    files: list[str]
    lines: list[list[str]]

    @property
    def num_tokens(self) -> int:
        return sum(len(t) for t in self.lines)


def read_tokenized(paths: Sequence[str], tokenizer: Tokenizer, reverse: bool = False) -> Corpus:
    """Read and tokenize corpus files into memory (blank lines are skipped: they carry no words)."""
    lines = list(token_lines(paths, tokenizer, reverse))
    if not lines:
        raise InputError(f"{_names(paths)}: no words found (empty corpus)")
    return Corpus(files=[str(p) for p in paths], lines=lines)


def _names(paths: Sequence[str]) -> str:
    return ", ".join("<stdin>" if p == "-" else str(p) for p in paths)
