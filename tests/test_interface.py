"""The model interface (`protocol.py`) and its one state type (`inference/rows.py`).

- every model (LanguageModel of each framing, a mixture, an n-gram file) is a `LanguageModelLike`;
- `extend(rows, parents, ids)`, the decoder's step (rows reordered, duplicated and dropped each step
  as a beam does), gives `full_scores` to 1e-5 on word, character and mixture models, and on an ARPA
  file loaded by `wordlm.load`;
- `Rows`: indexing, slicing, fancy indexing, `concat`, `key` (whole history, or the n-gram context);
- `advance` refuses a word its tokenizer would change or split, and flags OOVs.
"""

from __future__ import annotations

import math

from pathlib import Path

import numpy as np
import pytest

import wordlm
from wordlm import protocol
from wordlm.inference.rows import Rows

from conftest import tiny_model

TEXTS = ["jack and jill went up the hill", "jill came", "", "to fetch a pail of zebra"]


def walk_with_extend(lm, texts, seed=0):
    """Score each text through `extend` alone, as a beam search would: every step the rows are
    shuffled, one is duplicated and finished rows are dropped. Returns per text the logprobs of its
    tokens (then `</s>` with boundaries), NaN where the history is empty."""
    rng = np.random.default_rng(seed)
    seqs = [list(lm.word_ids(lm.tokenize(t))) + ([lm.eos_id] if lm.boundaries else []) for t in texts]
    rows = lm.begin(len(texts))
    where = list(range(len(texts)))  # text i is row where[i]
    got = [[] for _ in texts]
    for k in range(max(map(len, seqs))):
        live = [i for i, s in enumerate(seqs) if k < len(s)]
        order = list(rng.permutation(live)) + [live[0]]  # shuffled, and one row twice
        parents = [where[i] for i in order]
        ids = [seqs[i][k] for i in order]
        for i in live:
            got[i].append(float(rows.logprobs[where[i], seqs[i][k]]))
        rows = lm.extend(rows, parents, ids)
        assert len(rows) == len(order) and rows.logprobs.shape == (len(order), lm.vocab_size)
        where = [None] * len(texts)
        for r, i in enumerate(order[:-1]):
            where[i] = r
        np.testing.assert_array_equal(rows.logprobs[-1], rows.logprobs[where[order[-1]]])  # the duplicate
    return got


def check_against_full_scores(lm, texts, atol=1e-5):
    for text, g in zip(texts, walk_with_extend(lm, texts)):
        want = [np.nan if t.logprob is None else t.logprob for t in lm.full_scores(text)]
        np.testing.assert_allclose(g, want, atol=atol, err_msg=text)


@pytest.mark.parametrize("framing", ["sequence", "char"])
def test_extend_equals_full_scores(framing):
    lm = tiny_model(framing)
    assert isinstance(lm, protocol.LanguageModelLike)
    assert lm.exact_state
    check_against_full_scores(lm, TEXTS)


def test_extend_equals_full_scores_when_state_is_not_carried():
    lm = tiny_model("window")  # the last 2 words: histories re-read, never carried
    assert isinstance(lm, protocol.LanguageModelLike) and not lm.exact_state
    check_against_full_scores(lm, TEXTS[:2])


@pytest.fixture(scope="module")
def arpa(tmp_path_factory):
    pytest.importorskip("kenlm")
    from test_mixture import ARPA

    path = tmp_path_factory.mktemp("ngram") / "tiny.arpa"
    path.write_text(ARPA)
    return path


def test_mixture_extend_equals_full_scores(arpa):
    from wordlm.mixture.components import CharModel, NgramModel, WordModel
    from wordlm.mixture.model import Mixture

    mix = Mixture([WordModel(tiny_model("sequence"), "seq"), CharModel(tiny_model("char"), "char"),
                   NgramModel(str(arpa))], [0.5, 0.2, 0.3])
    assert isinstance(mix, protocol.LanguageModelLike) and mix.row_context is None
    check_against_full_scores(mix, ["jack and jill", "jill came up", ""], atol=1e-5)
    # an OOV: rows hold ids, so a word outside the vocabulary is `<unk>` there; a character
    # component spells it out when scoring text, so the comparison is made without one
    words = Mixture([WordModel(tiny_model("sequence"), "seq"), NgramModel(str(arpa))], [0.6, 0.4])
    check_against_full_scores(words, ["jill zebra jack", "zebra"], atol=1e-5)


def test_an_arpa_file_is_a_model_with_the_interface(arpa):
    import kenlm

    lm = wordlm.load(arpa)
    assert isinstance(lm, protocol.LanguageModelLike)
    texts = ["jack jill", "jill jack jack", "zebra jill", ""]
    check_against_full_scores(lm, texts)
    raw = kenlm.Model(str(arpa))
    for t in texts:
        want = [s[0] * math.log(10) for s in raw.full_scores(t)]
        np.testing.assert_allclose([s.logprob for s in lm.full_scores(t)], want, atol=1e-6)
    # a bigram model's rows are keyed by their last word: equal keys, equal next-word distributions
    rows = lm.begin(1)
    rows = lm.extend(rows, [0, 0, 0], lm.word_ids(["jack", "jill", "jack"]))
    rows = lm.extend(rows, [0, 1, 2], lm.word_ids(["jill", "jill", "zebra"]))
    assert lm.row_context == 1
    assert rows.key(0) == rows.key(1) == (lm.word_ids(["jill"])[0],) != rows.key(2)
    np.testing.assert_array_equal(rows.logprobs[0], rows.logprobs[1])
    assert rows.histories[0] != rows.histories[1]


def test_every_model_offers_the_interface():
    for lm in (tiny_model("sequence"), tiny_model("window"), tiny_model("char")):
        assert isinstance(lm, protocol.LanguageModelLike)
        assert lm.words[lm.eos_id] == "</s>" and lm.words[lm.unk_id] == "<unk>"
        assert len(lm.words) == lm.vocab_size
        assert isinstance(lm.begin(2), protocol.RowsLike)


def test_rows_index_slice_concat_and_key():
    lm = tiny_model("sequence")
    rows = lm.extend(lm.begin(1), [0, 0, 0], lm.word_ids(["jack", "jill", "to"]))
    one = rows[1]
    assert len(one) == 1 and one.histories == (rows.histories[1],)
    np.testing.assert_array_equal(one.logprobs, rows.logprobs[1:2])
    np.testing.assert_array_equal(rows[-1].state, rows.state[2:3])
    assert rows[1:].histories == rows.histories[1:] and len(rows[::2]) == 2
    picked = rows[np.array([2, 0, 2])]
    assert picked.histories == (rows.histories[2], rows.histories[0], rows.histories[2])
    np.testing.assert_array_equal(picked.state, rows.state[[2, 0, 2]])
    with pytest.raises(IndexError):
        rows[3]
    both = Rows.concat([rows[:1], rows[1:]])
    assert both.histories == rows.histories
    np.testing.assert_array_equal(both.logprobs, rows.logprobs)
    np.testing.assert_array_equal(both.state, rows.state)
    with pytest.raises(ValueError):
        Rows.concat([])
    # keys: the whole history (hashable), equal for equal histories
    again = lm.extend(lm.begin(1), [0], lm.word_ids(["jill"]))
    assert rows.key(1) == again.key(0) and hash(rows.key(1)) == hash(again.key(0)) and rows.key(0) != rows.key(1)
    assert len({rows.key(r) for r in range(len(rows))}) == 3
    # the n-gram context: the last k ids
    ctx = Rows(((2, 5, 6, 7), (2,)), np.zeros((2, 3), np.float32), None, 2)
    assert ctx.key(0) == (6, 7) and ctx.key(1) == (2,)
    assert Rows(((2, 5),), np.zeros((1, 3), np.float32), None, 0).key(0) == ()


def test_extend_checks_its_arguments():
    lm = tiny_model("sequence")
    rows = lm.begin(2)
    with pytest.raises(ValueError):
        lm.extend(rows, [0, 1], [4])
    with pytest.raises(IndexError):
        lm.extend(rows, [2], [4])
    with pytest.raises(ValueError):
        lm.extend(rows, [0], [lm.vocab_size])
    assert len(lm.extend(rows, [], [])) == 0


def test_advance_refuses_words_its_tokenizer_would_change_and_flags_oovs():
    lm = tiny_model("sequence")  # the keras tokenizer: lower-case, punctuation split off
    rows = lm.begin(1)
    for bad in ("Jack", "jack and", "", "jack,"):
        with pytest.raises(ValueError, match="not one word"):
            lm.advance(rows, [bad])
    lp, rows2, oov = lm.advance(lm.begin(3), ["jack", "zebra", "</s>"])
    assert oov.tolist() == [False, True, False]
    assert lp[1] == lp[1] and rows2.histories[1][-1] == lm.unk_id and rows2.histories[2][-1] == lm.eos_id
    with pytest.raises(ValueError):
        lm.advance(lm.begin(2), ["jack"])
    char = tiny_model("char")
    with pytest.raises(ValueError, match="not one word"):
        char.advance(char.begin(1), ["jack"])  # a character model reads characters
    lp, _, _ = char.advance(char.begin(2), ["j", " "])
    assert np.isfinite(lp).all()


def test_wordlm_load_takes_what_the_cli_takes(arpa, tmp_path):
    from wordlm.files import model_kind
    from wordlm.mixture import ComponentSpec, MixtureSpec, write

    import shutil

    d = tmp_path / "seq"
    tiny_model("sequence").save(d)
    arpa = Path(shutil.copy(arpa, tmp_path / "tiny.arpa"))  # a mixture's components lie beside it
    write(MixtureSpec([ComponentSpec("tiny.arpa", "kenlm", 0.5), ComponentSpec("seq", "wordlm", 0.5)]),  # beside it
          tmp_path / "mix.json")
    assert [model_kind(p) for p in (d, tmp_path / "mix.json", arpa, tmp_path / "missing")] == \
        ["directory", "mixture", "ngram", "directory"]
    for path in (d, tmp_path / "mix.json", arpa):
        lm = wordlm.load(path)
        assert isinstance(lm, protocol.LanguageModelLike)
        rows = lm.extend(lm.begin(1), [0], lm.word_ids(["jack"]))
        assert rows.logprobs.shape == (1, lm.vocab_size)
        assert np.exp(rows.logprobs[0][np.isfinite(rows.logprobs[0])]).sum() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(wordlm.ModelError):
        wordlm.load(tmp_path / "missing")
