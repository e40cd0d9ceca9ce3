"""Each framing's examples on the rhyme: the tutorial's counts, and what each context holds."""

import pytest

from wordlm.errors import InputError
from wordlm.framings import make_framing
from wordlm.text import Tokenizer
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

from conftest import RHYME_LINES


@pytest.fixture(scope="module")
def encoded():
    tok = Tokenizer("keras")
    token_lines = [tok.tokenize(line) for line in RHYME_LINES]
    vocab = Vocabulary.build(token_lines)
    return vocab, [vocab.encode(t) for t in token_lines]


def test_tutorial_counts_without_boundaries(encoded):
    vocab, lines = encoded
    assert len(list(make_framing("word", boundaries=False).examples(lines))) == 24
    line = make_framing("line", boundaries=False)
    line.fit_length(lines)
    assert line.max_length == 7
    assert len(list(line.examples(lines))) == 21
    assert len(list(make_framing("window", boundaries=False, context=2).examples(lines))) == 23


def test_word_pairs_cross_lines_without_boundaries(encoded):
    vocab, lines = encoded
    pairs = list(make_framing("word", boundaries=False).examples(lines))
    w = vocab.token_to_id
    assert ([w["hill"]], w["to"]) in pairs  # end of line 1 -> start of line 2


def test_line_prefixes_are_prepadded(encoded):
    vocab, lines = encoded
    f = make_framing("line", boundaries=False)
    f.fit_length(lines)
    ex = list(f.examples(lines))
    w = vocab.token_to_id
    assert ex[0] == ([0, 0, 0, 0, 0, w["jack"]], w["and"])
    assert ex[5] == ([w[x] for x in "jack and jill went up the".split()], w["hill"])


def test_boundaries_add_markers_per_line(encoded):
    vocab, lines = encoded
    n_words = sum(len(line) for line in lines)
    for name in ("word", "window", "line"):
        f = make_framing(name)
        if name == "line":
            f.fit_length(lines)
        ex = list(f.examples(lines))
        assert len(ex) == n_words + len(lines)  # every word and every </s> predicted
        assert all(target != BOS_ID for _, target in ex)
        assert sum(target == EOS_ID for _, target in ex) == len(lines)
    window = list(make_framing("window", context=3).examples(lines))
    assert window[0] == ([PAD_ID, PAD_ID, BOS_ID], lines[0][0])


def test_sequence_framing_teacher_forcing(encoded):
    vocab, lines = encoded
    f = make_framing("sequence")
    ex = list(f.examples(lines))
    assert len(ex) == 4
    x, y = ex[0]
    assert x == [BOS_ID] + lines[0] and y == lines[0] + [EOS_ID]
    assert f.count_examples(lines) == (4, 25 + 4)
    g = make_framing("sequence", boundaries=False)
    assert g.count_examples(lines) == (4, 21)


def test_contexts_for_histories(encoded):
    vocab, lines = encoded
    f = make_framing("window", context=2)
    assert f.contexts([[BOS_ID], [BOS_ID, 5, 6, 7]]).tolist() == [[PAD_ID, BOS_ID], [6, 7]]
    s = make_framing("sequence")
    assert s.contexts([[2, 5], [2]]).tolist() == [[2, 5], [2, 0]]
    with pytest.raises(InputError):
        f.contexts([[]])


def test_bad_framing_options():
    with pytest.raises(InputError):
        make_framing("bigram")
    with pytest.raises(InputError):
        make_framing("window", context=0)
