"""Several LMs in reranking (log-linear, coordinate search), cross-validation and the sign-test rule.

Utterances here are made by hand (no model): each hypothesis has a first-pass score, an LM score,
the other LMs' scores and its word errors, so every choice can be checked by brute force.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from wordlm import rerank as rr
from wordlm.nbest import RecognizerHypothesis, Utterance
from wordlm.wer import ErrorCounts


def utterance(i, first, lm, others, errors, words=4):
    hyps = [RecognizerHypothesis(f"h{i}_{k}", {"score": f}) for k, f in enumerate(first)]
    counts = [ErrorCounts(substitutions=e, hits=words - e) for e in errors]
    return rr.Scored(Utterance(f"u{i}", hyps, "ref"), np.array(first, float), np.array(lm, float),
                     np.full(len(first), float(words)), counts, None if others is None else np.array(others, float))


def test_sign_test_by_hand():
    assert rr.sign_test(8, 1) == pytest.approx(2 * (9 + 1) / 2**9)
    assert rr.sign_test(1, 8) == rr.sign_test(8, 1)
    assert rr.sign_test(0, 0) == 1.0 and rr.sign_test(3, 3) == 1.0
    assert rr.sign_test(2, 0) == 0.5  # two utterances can never be significant at 0.05
    assert 0 < rr.sign_test(600, 500) < 0.01  # large n (log space)


def test_several_weights_beat_the_grid_and_match_brute_force():
    # the first LM is useless (0 everywhere); the second points at the right hypothesis
    rng = np.random.default_rng(0)
    scored = []
    for i in range(30):
        right = int(rng.integers(0, 3))
        first = rng.normal(0, 1, 3)
        others = np.zeros((3, 1))
        others[right, 0] = 2.0 + rng.random()
        scored.append(utterance(i, first.tolist(), [0.0] * 3, others.tolist(), [0 if k == right else 1 for k in range(3)]))
    alphas, betas, grid = np.array([0.0, 1.0]), np.array([0.0]), np.round(np.arange(0, 3.01, 0.5), 6)
    result = rr.tune(scored, alphas, betas, grid)
    table = rr.Table(scored)
    brute = min(table.errors(a, b, [w]) for a, b, w in itertools.product(alphas, betas, grid))
    assert result.tuned.errors == brute == 0 and result.other_weights[0] > 0
    assert result.tuned.errors < table.errors(result.lm_weight, result.word_bonus)  # the grid alone (w = 0)
    # the record and the report use the same combination
    rec = rr.record(scored[0], result.lm_weight, result.word_bonus, other_weights=result.other_weights)
    assert rec["text"] == scored[0].utt.hyps[int(np.argmax(scored[0].others[:, 0]))].text and len(rec["lms"]) == 1


def test_one_lm_keeps_the_grid_search():
    scored = [utterance(i, [0.0, -0.5], [-2.0, 0.0], None, [1, 0]) for i in range(4)]
    result = rr.tune(scored, np.arange(0, 1.01, 0.25), np.array([0.0]))
    assert result.other_weights == [] and result.tuned.errors == 0 and result.lm_weight == 0.75  # the middle of 0.5–1


def consistent(n, helps):
    """n utterances; the LM picks the right hypothesis on `helps` of them and is wrong on the rest."""
    out = []
    for i in range(n):
        good = i < helps
        out.append(utterance(i, [0.0, -0.1], [-1.0, 0.0], None, [1, 0] if good else [0, 1]))
    return out


def test_folds_and_the_rule_keep_a_significant_gain():
    table = rr.Table(consistent(40, 40))
    search = lambda t: rr.tune(t, np.arange(0, 1.01, 0.25), np.array([0.0]))  # noqa: E731
    result = search(table)
    check = rr.generalise(table, result, search, folds=5)
    assert check.kept and check.cv_errors == 0 and check.first_pass_errors == 40
    assert check.improved == 40 and check.p_value == pytest.approx(2 * 0.5**40)
    assert json.dumps(check.to_json())


def test_rule_keeps_the_first_pass_when_the_gain_is_noise():
    # the LM helps on the first 12 utterances and hurts on the other 8: in-sample tuning still finds a
    # gain (12 vs 8), which the sign test does not call significant
    table = rr.Table(consistent(20, 12))
    search = lambda t: rr.tune(t, np.arange(0, 1.01, 0.25), np.array([0.0]))  # noqa: E731
    result = search(table)
    assert table.errors(result.lm_weight, result.word_bonus) < table.errors(0, 0)
    check = rr.generalise(table, result, search, folds=4)
    assert not check.kept and check.p_value > 0.05
    best = rr.generalise(table, result, search, folds=4, rule="best")
    assert best.kept and best.cv_errors == check.cv_errors
    # folds are contiguous blocks in file order
    assert [f.tolist() for f in rr.generalise.__globals__["fold_rows"](7, 3)] == [[0, 1, 2], [3, 4], [5, 6]]


def test_cross_validated_choices_never_see_their_own_fold():
    # every fold's utterances want a different weight; CV must then be worse than in-sample
    scored = consistent(10, 5)
    table = rr.Table(scored)
    search = lambda t: rr.tune(t, np.arange(0, 1.01, 0.5), np.array([0.0]))  # noqa: E731
    check = rr.generalise(table, search(table), search, folds=2, rule="best")
    assert check.cv_errors >= check.in_sample_errors


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from conftest import tiny_model

    d = tmp_path_factory.mktemp("lms")
    tiny_model("sequence").save(d / "fwd")
    from test_mixture import ARPA  # a hand-written bigram model: the second LM, no training needed

    (d / "small.arpa").write_text(ARPA)
    utts = [{"utt_id": f"u{i}", "ref": ref, "hyps": [{"text": bad, "score": -1.0}, {"text": ref, "score": -1.1}]}
            for i, (ref, bad) in enumerate([("jack and jill went up the hill", "jack and jill want up the hill"),
                                            ("to fetch a pail of water", "to fetch a pale of water"),
                                            ("jack fell down", "jack fell town"),
                                            ("and jill came tumbling after", "and jill came tumbling laughter")])]
    (d / "nb.jsonl").write_text("".join(json.dumps(u) + "\n" for u in utts))
    return d


def test_tune_and_rerank_with_several_lms(files):
    pytest.importorskip("kenlm", reason="the second LM is an ARPA file (pip install 'wordlm[ngram]')")
    d, runner = files, CliRunner()
    from wordlm.cli import cli

    r = runner.invoke(cli, ["tune", str(d / "fwd"), str(d / "nb.jsonl"), "--lm", str(d / "small.arpa"), "--rule", "best",
                            "--lm-weights", "0:1:0.5", "--word-bonuses", "0", "--folds", "2", "-o", str(d / "t.json")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["lms"][0]["path"] == str(d / "small.arpa") and "coordinate search" in r.stderr
    assert "2-fold cross-validation" in r.stderr and out["generalisation"]["folds"] == 2
    # rerank takes the other LM's weight from the tuned file, or from --lm PATH=W
    a = runner.invoke(cli, ["rerank", str(d / "fwd"), str(d / "nb.jsonl"), "--weights", str(d / "t.json"), "--json"])
    b = runner.invoke(cli, ["rerank", str(d / "fwd"), str(d / "nb.jsonl"), "--lm-weight", str(out["lm_weight"]),
                            "--word-bonus", "0", "--lm", f"{d / 'small.arpa'}={out['lms'][0]['weight']}", "--json"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert a.stdout == b.stdout and "lms" in json.loads(a.stdout.splitlines()[0])
    assert f"*LM[{d / 'small.arpa'}]" in a.stderr
