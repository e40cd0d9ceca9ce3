"""WER from jiwer's alignment: hand-made S/D/I cases, corpus totals, and an independent edit distance."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wordlm.wer import ErrorCounts, count_errors, total, words


def one(ref, hyp):
    return count_errors([ref], [hyp])[0]


@pytest.mark.parametrize(
    "ref,hyp,sdi",
    [
        ("a b c d", "a b c d", (0, 0, 0)),
        ("a b c d", "a x c d", (1, 0, 0)),  # one substitution
        ("a b c d", "a c d", (0, 1, 0)),  # one deletion
        ("a b c d", "a b y c d", (0, 0, 1)),  # one insertion
        ("a b c d", "a x c", (1, 1, 0)),
        ("the cat sat", "", (0, 3, 0)),  # empty hypothesis: all deleted
        ("", "uh oh", (0, 0, 2)),  # empty reference: all inserted
        ("", "", (0, 0, 0)),
        ("The Cat  SAT", "the cat sat", (0, 0, 0)),  # lower-cased words, any whitespace
        ("prince's tread", "princes tread", (1, 0, 0)),  # no punctuation stripping
    ],
)
def test_hand_made_cases(ref, hyp, sdi):
    c = one(ref, hyp)
    assert (c.substitutions, c.deletions, c.insertions) == sdi
    assert c.ref_words == len(ref.split())
    assert c.hits == len(ref.split()) - sdi[0] - sdi[1]


def test_corpus_wer_is_from_totals_not_a_mean_of_sentence_wers():
    counts = count_errors(["a b c d e f g h i j", "x"], ["a b c d e f g h i j", "y"])
    t = total(counts)
    assert t.errors == 1 and t.ref_words == 11
    assert t.wer == pytest.approx(1 / 11)  # a mean of sentence WERs would say (0 + 1) / 2
    assert t.to_json() == {"wer": round(100 / 11, 4), "errors": 1, "ref_words": 11, "substitutions": 1,
                           "deletions": 0, "insertions": 0}


def test_no_reference_words_gives_nan_wer():
    assert math.isnan(ErrorCounts(insertions=2).wer)
    assert ErrorCounts(insertions=2).to_json()["wer"] is None


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        count_errors(["a"], ["a", "b"])


def levenshtein(a, b):
    """Independent word edit distance (unit costs), for checking jiwer's totals."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


sentences = st.lists(st.sampled_from(["a", "b", "c", "D"]), max_size=8).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(sentences, sentences), min_size=1, max_size=5))
def test_counts_are_a_minimal_alignment(pairs):
    refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
    for (ref, hyp), c in zip(pairs, count_errors(refs, hyps)):
        r, h = words(ref), words(hyp)
        assert c.hits + c.substitutions + c.deletions == len(r)
        assert c.hits + c.substitutions + c.insertions == len(h)
        assert c.errors == levenshtein(r, h)
