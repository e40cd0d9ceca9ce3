"""The KenLM drop-in (`wordlm.kenlm_compat`): one script of a KenLM user's ten idioms, run unchanged
against `kenlm` itself and against the drop-in on the same ARPA file (equal to 1e-4), and on an LSTM
model directory (equal to the native `full_scores` / ln 10). Plus the native API's traps, one test each.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import wordlm
import wordlm.kenlm_compat

from conftest import tiny_model

kenlm = pytest.importorskip("kenlm")

SENTENCES = ["jack jill", "jill jack jack", "jack zebra jill", ""]


def kenlm_script(module, path, sentences):
    """A KenLM user's script, written for `import kenlm`; returns what it computed."""
    out = {}
    m = module.Model(str(path))                                              # 1. load
    out["order"] = m.order                                                   # 2. order
    out["score"] = [m.score(s, bos=True, eos=True) for s in sentences]       # 3. score
    out["full"] = [[(prob, oov) for prob, length, oov in m.full_scores(s)]  # 4. full_scores tuples
                   for s in sentences]
    out["ppl"] = [m.perplexity(s) for s in sentences if s]                   # 5. perplexity of a sentence
    out["contains"] = ["jack" in m, "zebra" in m]                            # 6. __contains__
    state, out_state = module.State(), module.State()                        # 7. State, BeginSentenceWrite
    m.BeginSentenceWrite(state)
    total = []
    for w in sentences[0].split() + ["</s>"]:                                # 8. BaseScore, word by word
        total.append(m.BaseScore(state, w, out_state))
        state, out_state = out_state, state
    out["incremental"] = total
    null = module.State()                                                    # 9. NullContextWrite
    m.NullContextWrite(null)
    out["null"] = m.BaseScore(null, "jill", module.State())
    out["no_bos"] = [m.score(s, bos=False, eos=False) for s in sentences if s]  # 10. fragments
    a, b = module.State(), module.State()                                    # states compare by context
    m.BeginSentenceWrite(a)
    m.BeginSentenceWrite(b)
    out["states_equal"] = a == b and hash(a) == hash(b)
    return out


@pytest.fixture(scope="module")
def arpa(tmp_path_factory):
    from test_mixture import ARPA

    path = tmp_path_factory.mktemp("ngram") / "tiny.arpa"
    path.write_text(ARPA)
    return path


def flat(x):
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in flat(x[k])]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in flat(item)]
    return [float(x)]


def test_a_kenlm_script_runs_unchanged_and_agrees_on_an_arpa_file(arpa):
    want = kenlm_script(kenlm, arpa, SENTENCES)
    got = kenlm_script(wordlm.kenlm_compat, arpa, SENTENCES)
    assert sorted(got) == sorted(want)
    np.testing.assert_allclose(flat(got), flat(want), atol=1e-4)
    # score is the sum of full_scores; incremental scoring equals whole-sentence scoring (KenLM's own invariants)
    assert got["incremental"] == pytest.approx([p for p, _ in got["full"][0]], abs=1e-6)
    m = wordlm.kenlm_compat.Model(arpa)
    assert [length for _, length, _ in m.full_scores("jack jill")] == [2, 2, 2]


def test_the_drop_in_on_an_lstm_equals_full_scores_over_ln10(tmp_path):
    lm = tiny_model("sequence")
    lm.save(tmp_path / "m")
    texts = ["jack and jill", "jill came tumbling zebra", ""]
    got = kenlm_script(wordlm.kenlm_compat, tmp_path / "m", texts)
    for text, per_word, total in zip(texts, got["full"], got["score"]):
        want = [t.logprob / math.log(10) for t in lm.full_scores(text)]
        np.testing.assert_allclose([p for p, _ in per_word], want, atol=1e-5)
        assert [o for _, o in per_word] == [t.oov for t in lm.full_scores(text)]
        assert total == pytest.approx(lm.score(text) / math.log(10), abs=1e-5)
    np.testing.assert_allclose(got["incremental"], [p for p, _ in got["full"][0]], atol=1e-5)
    assert got["order"] == 0 and got["contains"] == [True, False] and got["states_equal"]
    assert math.isnan(got["null"])  # an LSTM cannot predict from nothing
    # bos=False: the first word is context only, as lm.score(bos=False)
    assert got["no_bos"][0] == pytest.approx(lm.score(texts[0], bos=False, eos=False) / math.log(10), abs=1e-5)
    assert got["ppl"][0] == pytest.approx(10 ** (-got["score"][0] / 4), rel=1e-9)


# -- the native API's traps (issue 26), one test each ------------------------------------------------
def test_full_scores_fields_are_read_by_name():
    lm = tiny_model("sequence")
    first = lm.full_scores("jack and")[0]
    assert (first.token, first.oov) == ("jack", False) and isinstance(first.logprob, float)
    assert first._fields == ("token", "logprob", "oov")  # documented: not KenLM's (prob, length, oov)


def test_perplexity_of_a_string_that_is_no_file_is_refused():
    lm = tiny_model("sequence")
    with pytest.raises(wordlm.InputError, match="not an existing file.*list of lines"):
        lm.perplexity("jack and jill went up the hill")
    assert lm.perplexity(["jack and jill went up the hill"]).sentences == 1


def test_advance_refuses_a_word_its_tokenizer_changes():
    lm = tiny_model("sequence")
    for word in ("Jack", "jack and", ""):
        with pytest.raises(ValueError, match="not one word"):
            lm.advance(lm.begin(1), [word])
    _, _, oov = lm.advance(lm.begin(1), ["zebra"])
    assert oov.tolist() == [True]


def test_rows_index_slice_stack_and_hash():
    lm = tiny_model("sequence")
    rows = lm.extend(lm.begin(1), [0, 0], lm.word_ids(["jack", "jill"]))
    from wordlm.inference.rows import Rows

    assert len(Rows.concat([rows[1], rows[0:1]])) == 2 and {rows.key(0), rows.key(1)} == set(rows.histories)


def test_words_and_word_ids_are_public():
    lm = tiny_model("sequence")
    ids = lm.word_ids(["jack", "zebra", "</s>"])
    assert [lm.words[i] for i in ids] == ["jack", "<unk>", "</s>"]


def test_score_without_bos_on_an_ngram_model_reads_the_null_context(arpa):
    m = wordlm.kenlm_compat.Model(arpa)
    assert m.score("jill", bos=False, eos=False) == pytest.approx(math.log10(0.4), abs=1e-6)  # the unigram
