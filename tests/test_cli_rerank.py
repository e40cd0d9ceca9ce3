"""`wordlm rerank` and `wordlm tune` through click's CliRunner: outputs, reports, errors, atomic files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from wordlm import rerank as rr
from wordlm.cli import cli
from wordlm.nbest import read_nbest


UTTS = [
    {"utt_id": "u1", "ref": "jack and jill went up the hill", "hyps": [
        {"text": "jack and jill went up the hall", "score": -1.0, "decoder": -1.0, "ctc": -2.0},
        {"text": "jack and jill went up the hill", "score": -1.4, "decoder": -2.0, "ctc": -0.5},
        {"text": "jack in jill went up the hill", "score": -1.2, "decoder": -1.5, "ctc": -1.0}]},
    {"utt_id": "u2", "ref": "to fetch a pail of water", "hyps": [
        {"text": "to fetch a pail of water", "score": -0.5, "decoder": -0.5, "ctc": -0.5},
        {"text": "to fetch a pale of water", "score": -0.6, "decoder": -0.4, "ctc": -1.0}]},
    {"utt_id": "u3", "ref": "jill came tumbling after", "hyps": [
        {"text": "jill came tumbling after", "score": -3.0, "decoder": -3.0, "ctc": -3.0},
        {"text": "jill came tumbling", "score": -2.0, "decoder": -2.5, "ctc": -1.0}]},
]


@pytest.fixture(scope="module")
def model_dir(seq_model_dir):
    return str(seq_model_dir)


@pytest.fixture()
def nbest(tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_text("".join(json.dumps(u) + "\n" for u in UTTS), encoding="utf-8")
    return str(path)


@pytest.fixture()
def runner():
    return CliRunner()


def expected_choices(model_dir, nbest, alpha, beta, am=None):
    from wordlm.saving import load

    lm = load(model_dir)
    weights = rr.parse_am(am)
    return [rr.record(s, alpha, beta) for s in rr.score_nbest(lm, read_nbest(nbest, required=weights), weights)]


def test_rerank_text_output_and_report(runner, model_dir, nbest):
    result = runner.invoke(cli, ["rerank", model_dir, nbest, "--lm-weight", "0.5", "--word-bonus", "0.1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    expected = expected_choices(model_dir, nbest, 0.5, 0.1)
    assert lines == [f"{e['utt_id']}\t{e['rank_before']}\t{e['score']}\t{e['text']}" for e in expected]
    err = result.stderr
    assert "first pass" in err and "reranked" in err and "oracle" in err and "changed" in err
    assert "sub" in err and "del" in err and "ins" in err


def test_rerank_zero_weights_keep_the_first_pass(runner, model_dir, nbest):
    result = runner.invoke(cli, ["rerank", model_dir, nbest, "--lm-weight", "0", "--json", "--am", "decoder=0.6,ctc=0.4"])
    assert result.exit_code == 0, result.output
    recs = [json.loads(line) for line in result.stdout.splitlines()]
    for rec, utt in zip(recs, UTTS):
        fp = [0.6 * h["decoder"] + 0.4 * h["ctc"] for h in utt["hyps"]]
        assert rec["rank_before"] == int(np.argmax(fp)) + 1
        assert rec["score"] == pytest.approx(max(fp))
        assert set(rec) >= {"utt_id", "text", "rank_before", "score", "first_pass", "wordlm", "words"}


def test_rerank_all_json_is_a_valid_nbest_file(runner, model_dir, nbest, tmp_path):
    out = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["rerank", model_dir, nbest, "--all", "--json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # data went to the file
    utts = list(read_nbest(str(out)))
    assert [u.utt_id for u in utts] == ["u1", "u2", "u3"]
    for u, orig in zip(utts, UTTS):
        totals = [h.fields["total"] for h in u.hyps]
        assert totals == sorted(totals, reverse=True) and len(u.hyps) == len(orig["hyps"])
        for h in u.hyps:
            assert h.fields["total"] == pytest.approx(h.fields["first_pass"] + h.fields["wordlm"], abs=1e-5)
            assert h.fields["score"] == orig["hyps"][int(h.fields["rank_before"]) - 1]["score"]
    plain = runner.invoke(cli, ["rerank", model_dir, nbest, "--all"])
    assert plain.exit_code == 0 and len(plain.stdout.splitlines()) == 7
    tsv = tmp_path / "all.tsv"
    tsv.write_text(plain.stdout, encoding="utf-8")
    assert [len(u.hyps) for u in read_nbest(str(tsv))] == [3, 2, 2]  # the TSV n-best format


def test_tune_then_rerank_with_weights(runner, model_dir, nbest, tmp_path):
    tuned = tmp_path / "tuned.json"
    # three utterances cannot make a gain significant: by default the first pass is kept
    default = runner.invoke(cli, ["tune", model_dir, nbest, "--lm-weights", "0:1:0.25", "--word-bonuses", "-1:1:0.5"])
    assert default.exit_code == 0, default.output
    kept = json.loads(default.stdout)
    assert (kept["lm_weight"], kept["word_bonus"]) == (0.0, 0.0) and kept["wer"] == kept["first_pass_wer"]
    assert kept["generalisation"]["kept"] is False and "sign test" in default.stderr and "p = " in default.stderr
    result = runner.invoke(cli, ["tune", model_dir, nbest, "-o", str(tuned), "--lm-weights", "0:1:0.25",
                                 "--word-bonuses", "-1:1:0.5", "--rule", "best"])
    assert result.exit_code == 0, result.output
    best = json.loads(result.stdout)
    assert (best["lm_weight"], best["word_bonus"]) == (best["in_sample"]["lm_weight"], best["in_sample"]["word_bonus"])
    saved = json.loads(tuned.read_text())
    assert {k: saved[k] for k in best} == best and saved["grid"]["lm_weights"] == [0, 0.25, 0.5, 0.75, 1.0]
    assert best["am"] == "score=1" and best["first_pass_wer"] >= best["wer"] >= best["oracle_wer"]
    assert "lm_weight" in result.stderr and "first pass" in result.stderr and "*" in result.stderr
    # the tuned point is the grid's minimum (checked by brute force through the library)
    from wordlm.saving import load

    lm = load(model_dir)
    scored = list(rr.score_nbest(lm, read_nbest(nbest), {"score": 1.0}))
    errors = {(a, b): sum(s.counts[rr.choose(s.totals(a, b))].errors for s in scored)
              for a in saved["grid"]["lm_weights"] for b in saved["grid"]["word_bonuses"]}
    assert errors[(best["lm_weight"], best["word_bonus"])] == min(errors.values()) == best["tuned"]["errors"]
    grid = saved["grid"]
    assert [[errors[(a, b)] for b in grid["word_bonuses"]] for a in grid["lm_weights"]] == grid["errors"]
    rer = runner.invoke(cli, ["rerank", model_dir, nbest, "--weights", str(tuned), "--json"])
    assert rer.exit_code == 0, rer.output
    recs = [json.loads(line) for line in rer.stdout.splitlines()]
    assert [r["text"] for r in recs] == [e["text"] for e in expected_choices(model_dir, nbest, best["lm_weight"],
                                                                             best["word_bonus"])]
    assert f"{best['wer']:.3f}" in rer.stderr


def test_errors_exit_1_with_one_line_and_no_output_file(runner, model_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(UTTS[0]) + "\n" + json.dumps({"utt_id": "u2", "hyps": []}) + "\n", encoding="utf-8")
    out = tmp_path / "out.txt"
    result = runner.invoke(cli, ["rerank", model_dir, str(bad), "-o", str(out)])
    assert result.exit_code == 1
    assert "bad.jsonl: utterance u2" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.txt*"))
    tuned = tmp_path / "t.json"
    result = runner.invoke(cli, ["tune", model_dir, str(bad), "-o", str(tuned)])
    assert result.exit_code == 1 and not tuned.exists()
    missing = runner.invoke(cli, ["rerank", model_dir, str(bad), "--am", "decoder=1,nope=2"])
    assert missing.exit_code == 1 and "'nope'" in missing.stderr and "u1" in missing.stderr
    weights = tmp_path / "w.json"
    weights.write_text('{"lm_weight": "high"}')
    result = runner.invoke(cli, ["rerank", model_dir, str(bad), "--weights", str(weights)])
    assert result.exit_code == 1 and "w.json" in result.stderr
    result = runner.invoke(cli, ["tune", model_dir, str(bad), "--lm-weights", "2:1:1"])
    assert result.exit_code == 1 and "--lm-weights" in result.stderr


def test_tune_without_references_is_an_error(runner, model_dir, tmp_path):
    path = tmp_path / "n.tsv"
    path.write_text("u1\t-1\tjack and jill\nu1\t-2\tjack and\n", encoding="utf-8")
    result = runner.invoke(cli, ["tune", model_dir, str(path)])
    assert result.exit_code == 1 and "references" in result.stderr
    ok = runner.invoke(cli, ["rerank", model_dir, str(path)])
    assert ok.exit_code == 0 and ok.stdout.startswith("u1\t") and "no references" in ok.stderr
