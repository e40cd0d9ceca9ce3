import gzip

import pytest

from wordlm.errors import InputError
from wordlm.text import Tokenizer, read_lines


def test_keras_mode_is_the_tutorials_tokenizer():
    tok = Tokenizer("keras")
    assert tok.tokenize("Jack and Jill, went UP the hill!") == ["jack", "and", "jill", "went", "up", "the", "hill"]
    # Keras's filters turn punctuation into separators, apostrophes are kept.
    assert tok.tokenize("don't stop-now (please)") == ["don't", "stop", "now", "please"]


def test_keras_mode_keeps_special_tokens():
    assert Tokenizer("keras").tokenize("a <unk> b </s>") == ["a", "<unk>", "b", "</s>"]


def test_whitespace_mode_splits_only():
    assert Tokenizer("whitespace", lower=False).tokenize(" The  cat's, N <unk> ") == ["The", "cat's,", "N", "<unk>"]
    assert Tokenizer("whitespace", lower=True).tokenize("The Cat") == ["the", "cat"]


def test_char_mode_keeps_spaces():
    tok = Tokenizer("char", lower=True)
    assert tok.tokenize("Ab c") == ["a", "b", " ", "c"]
    assert tok.detokenize(tok.tokenize("ab c")) == "ab c"


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(InputError, match="unknown tokenizer"):
        Tokenizer("bpe")


def test_read_lines_handles_bom_crlf_and_gz(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"\xef\xbb\xbfone two\r\nthree\r\n")
    assert list(read_lines(p)) == [(1, "one two"), (2, "three")]
    g = tmp_path / "a.txt.gz"
    with gzip.open(g, "wb") as f:
        f.write(b"x y\nz\n")
    assert list(read_lines(g)) == [(1, "x y"), (2, "z")]


def test_invalid_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"fine\nalso fine\ncaf\xe9\n")
    with pytest.raises(InputError, match=r"bad.txt:3: invalid UTF-8"):
        list(read_lines(p))


def test_binary_and_missing_files(tmp_path):
    p = tmp_path / "bin.dat"
    p.write_bytes(b"\x00\x01\x02")
    with pytest.raises(InputError, match="bin.dat:1: binary"):
        list(read_lines(p))
    with pytest.raises(InputError, match="no such file"):
        list(read_lines(tmp_path / "nope.txt"))
    with pytest.raises(InputError, match="is a directory"):
        list(read_lines(tmp_path))
