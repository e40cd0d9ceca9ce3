"""Reranking: the formula against the code, first-pass order at α = β = 0, exact trie scoring, tuning."""

import math

import numpy as np
import pytest

from wordlm import rerank as rr
from wordlm.errors import InputError
from wordlm.nbest import RecognizerHypothesis, Utterance
from wordlm.wer import count_errors

from conftest import tiny_model
from stubs import TableLM

WORDS = ["a", "b", "c", "d"]


class StatefulTableLM(TableLM):
    """A TableLM whose "LSTM state" is the history itself (ids stored as floats), so the trie runs on it
    through the generic `lm.step` path."""

    WIDTH = 40

    @property
    def stateful(self):
        return True

    @property
    def state_size(self):
        return self.WIDTH + 1  # [length, id_1, ..., id_length, 0, ...]

    def max_stateful_history(self):
        return None

    def _histories(self, state):
        return [[int(x) for x in row[1 : 1 + int(row[0])]] for row in state]

    def step(self, state, ids):
        state = np.array(state, dtype=np.float32, copy=True)
        for row, i in zip(state, ids):
            n = int(row[0])
            row[1 + n], row[0] = i, n + 1
        return self.next_logprobs(self._histories(state)), state

    def start(self, histories):
        state = np.zeros((len(histories), self.state_size), dtype=np.float32)
        for t in range(max(len(h) for h in histories)):
            lp, new = self.step(state, [h[min(t, len(h) - 1)] for h in histories])
            grow = np.array([t < len(h) for h in histories])
            state = np.where(grow[:, None], new, state)
        return self.next_logprobs(self._histories(state)), state


def bigram_table(history):
    """A hand-made distribution that depends on the whole history (so sharing prefixes matters)."""
    last = history[-1]
    base = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 0.5, "</s>": 1.0 + len(history) / 4, "<unk>": 0.25}
    base[last if last in WORDS else "a"] *= 3
    return base


TEXTS = ["a b c", "a b c d", "a b d", "a b", "", "c", "a b c", "zebra b a", "d d d d d d", "b a"]


# -- the combination ------------------------------------------------------------------------------


def test_parse_am():
    assert rr.parse_am(None) == {"score": 1.0}
    assert rr.parse_am("decoder=0.6,ctc=0.4") == {"decoder": 0.6, "ctc": 0.4}
    assert rr.parse_am("lm") == {"lm": 1.0}
    for bad in ("decoder=x", "=1", "a=1,a=2", "a=inf"):
        with pytest.raises(InputError, match="--am"):
            rr.parse_am(bad)


def test_parse_range_is_inclusive():
    np.testing.assert_allclose(rr.parse_range("0:2:0.05", "--lm-weights"), np.arange(41) * 0.05)
    np.testing.assert_allclose(rr.parse_range("-2:2:0.25", "x"), np.arange(-8, 9) * 0.25)
    assert list(rr.parse_range("0.3", "x")) == [0.3]
    for bad in ("1:0:0.1", "0:1:0", "a:b:c", "0:1"):
        with pytest.raises(InputError):
            rr.parse_range(bad, "x")


def make_utt(rows, ref=None, utt_id="u"):
    return Utterance(utt_id, [RecognizerHypothesis(t, dict(f)) for t, f in rows], ref)


def test_formula_checked_against_the_code():
    lm = TableLM(WORDS, bigram_table)
    utt = make_utt([("a b c", {"decoder": -1.0, "ctc": -2.0, "score": -9.0}),
                    ("a b", {"decoder": -0.5, "ctc": -4.0, "score": -8.0}),
                    ("c", {"decoder": -3.0, "ctc": -0.5, "score": -7.0})])
    am = rr.parse_am("decoder=0.6,ctc=0.4")
    (s,) = rr.score_nbest(lm, [utt], am)
    alpha, beta = 0.7, 1.3
    for i, h in enumerate(utt.hyps):
        lmv = float(lm.stream_logprobs([lm.stream(h.text)])[0].sum())  # the scorer's plain number
        expected = 0.6 * h.fields["decoder"] + 0.4 * h.fields["ctc"] + alpha * lmv + beta * len(h.text.split())
        assert s.first_pass[i] == pytest.approx(0.6 * h.fields["decoder"] + 0.4 * h.fields["ctc"])
        assert s.lm[i] == pytest.approx(lmv, abs=1e-9)
        assert s.totals(alpha, beta)[i] == pytest.approx(expected, abs=1e-9)
    totals = s.totals(alpha, beta)
    rec = rr.record(s, alpha, beta, all_hyps=True)
    best = int(np.argmax(totals))
    assert rec["rank_before"] == best + 1 and rec["text"] == utt.hyps[best].text
    assert rec["score"] == pytest.approx(totals[best], abs=1e-6)
    assert [h["total"] for h in rec["hyps"]] == sorted((h["total"] for h in rec["hyps"]), reverse=True)
    assert rec["hyps"][0]["decoder"] == utt.hyps[best].fields["decoder"]  # input fields kept


def test_uniform_lm_scores_by_hand():
    lm = TableLM(WORDS)  # uniform over the V - 2 predictable ids: <unk>, </s> and the 4 words
    cache = rr.LMCache(lm)
    got = cache(["a b c", "", "zebra"])
    np.testing.assert_allclose(got, [-4 * math.log(6), -math.log(6), -2 * math.log(6)])


def test_zero_weights_keep_the_first_pass_order():
    rng = np.random.default_rng(1)
    lm = TableLM(WORDS, bigram_table)
    scores = [-1.0, -3.0, -1.0, -0.5, -3.0, -2.0]  # ties: the earlier hypothesis stays first
    utt = make_utt([(t, {"score": sc}) for t, sc in zip(rng.choice(TEXTS, 6), scores)])
    (s,) = rr.score_nbest(lm, [utt], {"score": 1.0})
    assert list(rr.ranking(s.totals(0.0, 0.0))) == [3, 0, 2, 5, 1, 4]
    assert rr.record(s, 0.0, 0.0)["rank_before"] == 4
    # equal totals everywhere: the recogniser's order is kept
    flat = make_utt([(t, {"score": 0.0}) for t in ["a", "b", "c"]])
    (f,) = rr.score_nbest(lm, [flat], {"score": 1.0})
    assert list(rr.ranking(f.totals(0.0, 0.0))) == [0, 1, 2] and rr.choose(f.totals(0.0, 0.0)) == 0


# -- exact LM scores ------------------------------------------------------------------------------


def plain(lm, texts):
    return np.array([float(x.sum()) for x in lm.stream_logprobs([lm.stream(t) for t in texts])])


def test_trie_equals_plain_scoring_on_a_stateful_stub():
    lm = StatefulTableLM(WORDS, bigram_table)
    streams = [lm.stream(t) for t in TEXTS]
    for rows in (1, 3, 256):
        np.testing.assert_allclose(rr.trie_logprobs(lm, streams, rows_per_call=rows), plain(lm, TEXTS), atol=1e-9)
    # each distinct prefix is stepped once: far fewer rows than tokens
    lm.calls = 0
    rr.trie_logprobs(lm, streams, rows_per_call=1000)
    assert lm.calls == max(len(s) for s in streams) - 1  # one call per depth level


@pytest.mark.parametrize("framing,kw", [("sequence", {}), ("sequence", {"layers": 2}), ("line", {}),
                                        ("char", {"epochs": 5}), ("sequence", {"boundaries": False})])
def test_trie_equals_plain_scoring_on_trained_models(framing, kw):
    lm = tiny_model(framing, **kw)
    texts = ["jack and jill went up the hill", "jack and jill went up", "jack and jill came down", "",
             "to fetch a pail of zebra water", "jack", "jack and jill went up the hill", "jill came tumbling after"]
    streams = [lm.stream(t) for t in texts]
    got = rr.trie_logprobs(lm, streams, rows_per_call=2)
    np.testing.assert_allclose(got, plain(lm, texts), atol=1e-4)
    np.testing.assert_allclose(rr.sentence_logprobs(lm, streams), got, atol=1e-9)  # the default path is the trie


def test_compiled_level_step_equals_lm_step():
    lm = tiny_model("sequence", layers=2)
    rng = np.random.default_rng(0)
    state = rng.normal(size=(5, lm.state_size)).astype(np.float32)
    ids = rng.integers(4, lm.vocab_size, size=5).astype(np.int32)
    rows = np.array([0, 0, 3, 4, 2], dtype=np.int32)
    targets = np.array([3, 5, 1, 7, 9], dtype=np.int32)
    lp, new = (np.asarray(x) for x in lm.compiled["level"](ids, state, rows, targets))  # either runtime
    ref_lp, ref_new = lm.step(state, ids)
    np.testing.assert_allclose(new, ref_new, atol=1e-6)
    np.testing.assert_allclose(lp, ref_lp[rows, targets], atol=1e-5)


def test_non_stateful_framings_fall_back_to_stream_logprobs():
    lm = tiny_model("window", context=2)
    texts = ["jack and jill", "jack and", ""]
    np.testing.assert_allclose(rr.sentence_logprobs(lm, [lm.stream(t) for t in texts]), plain(lm, texts), atol=1e-9)


def test_cache_scores_each_text_once():
    lm = TableLM(WORDS, bigram_table)
    cache = rr.LMCache(lm)
    first = cache(["a b", "a b", "c"])
    lm.calls = 0
    again = cache(["c", "a b"])
    assert lm.calls == 0 and again[0] == first[2] and again[1] == first[0]


# -- tuning and the report ------------------------------------------------------------------------


def scored(rows, ref):
    """A Scored utterance with hand-set LM scores: rows of (text, first_pass, lm)."""
    utt = make_utt([(t, {"score": fp}) for t, fp, _ in rows], ref)
    return rr.Scored(utt, np.array([r[1] for r in rows], float), np.array([r[2] for r in rows], float),
                     np.array([len(r[0].split()) for r in rows], float),
                     count_errors([ref] * len(rows), [r[0] for r in rows]))


def alpha_data():
    # u1 is fixed once α·2 > 1 (α > 0.5); u2 breaks once α·2 > 3 (α > 1.5): the best α is in (0.5, 1.5]
    return [scored([("a c", 0.0, -5.0), ("a b", -1.0, -3.0)], "a b"),
            scored([("a c", 0.0, -5.0), ("a b", -3.0, -3.0)], "a c")]


def test_tune_picks_the_known_best_alpha():
    res = rr.tune(alpha_data(), rr.parse_range("0:2:0.25", "a"), np.array([0.0]))
    assert list(res.errors[:, 0]) == [1, 1, 1, 0, 0, 0, 0, 1, 1]
    assert res.lm_weight == 1.0  # the middle of the flat optimum 0.75 … 1.5, then the smaller α
    assert (res.first_pass.errors, res.tuned.errors, res.oracle.errors) == (1, 0, 0)


def test_tune_picks_the_known_best_word_bonus():
    # u1 needs β > 0.5 to take the longer (right) hypothesis; u2 goes wrong once β > 1.5
    data = [scored([("a b", 0.0, 0.0), ("a b c", -0.5, 0.0)], "a b c"),
            scored([("a b", 0.0, 0.0), ("a b c", -1.5, 0.0)], "a b")]
    res = rr.tune(data, np.array([0.0]), rr.parse_range("-2:2:0.5", "b"))
    assert list(res.errors[0]) == [1, 1, 1, 1, 1, 1, 0, 0, 1]
    assert (res.lm_weight, res.word_bonus) == (0.0, 1.0)


def test_tune_grid_equals_brute_force():
    rng = np.random.default_rng(3)
    data = []
    for k in range(20):
        texts = [" ".join(rng.choice(WORDS, rng.integers(1, 5))) for _ in range(4)]
        data.append(scored([(t, rng.normal(), rng.normal() * 3) for t in texts], texts[rng.integers(4)]))
    alphas, betas = rr.parse_range("0:2:0.5", "a"), rr.parse_range("-1:1:0.5", "b")
    res = rr.tune(data, alphas, betas)
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            errors = 0
            for s in data:
                totals = [s.first_pass[h] + a * s.lm[h] + b * s.words[h] for h in range(len(s.utt.hyps))]
                errors += s.counts[totals.index(max(totals))].errors
            assert res.errors[i, j] == errors
    assert res.errors[list(alphas).index(res.lm_weight), list(betas).index(res.word_bonus)] == res.errors.min()


def test_tune_needs_references():
    s = scored([("a", 0.0, 0.0)], "a")
    s.counts = None
    with pytest.raises(InputError, match="references"):
        rr.tune([s], np.array([0.0]), np.array([0.0]))


def test_report_counts():
    report = rr.Report(1.0, 0.0)
    for s in alpha_data() + [scored([("a", 0.0, 0.0)], "a b")]:
        report.add(s)
    j = report.to_json()
    assert j["first_pass"]["errors"] == 2 and j["reranked"]["errors"] == 1 and j["oracle"]["errors"] == 1
    assert (j["changed"], j["improved"], j["worsened"]) == (1, 1, 0)
    assert j["reranked"]["ref_words"] == 6 and j["reranked"]["deletions"] == 1
    assert any("oracle" in line for line in report.lines())


def test_ascii_plot_marks_the_minimum():
    lines = rr.ascii_plot([(0.0, 5.0), (0.5, 4.0), (1.0, 4.5)], height=5, marks={"fp": 5.0})
    assert "*" in lines[-3] and "(fp)" in lines[0]  # the lowest WER is on the bottom row
