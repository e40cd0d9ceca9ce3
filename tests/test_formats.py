"""The neighbouring tools' formats: SRILM's `ngram -ppl -debug 2` output, and the SRILM, Kaldi and
NeMo n-best formats, each from a small fixture written by hand from the format's documentation
(SRILM's nbest-format(5) and ngram(1) pages, Kaldi's nbest-to-linear keys and cost files, NeMo's
beam-search TSV)."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from wordlm.cli import cli
from wordlm.errors import InputError
from wordlm.nbest import read_nbest
from wordlm.nbest_formats import BYTELOG_TO_LN

pytest.importorskip("kenlm", reason="the kenlm module (pip install 'wordlm[ngram]') is needed for the n-gram fixture")

from test_mixture import ARPA, P_NGRAM  # noqa: E402


def test_srilm_nbestlist1(tmp_path):
    f = tmp_path / "utt7.nbest"
    f.write_text("NBestList1.0\n(-4520) jack and jill\n(-4600) jack an jill\n")
    (u,) = read_nbest(f)  # auto-detected from the header
    assert u.utt_id == "utt7" and [h.text for h in u.hyps] == ["jack and jill", "jack an jill"]
    assert u.hyps[0].fields["bytelog"] == -4520
    assert u.hyps[0].fields["score"] == pytest.approx(-4520 * 1024 * math.log(1.0001))


def test_srilm_nbestlist2_sums_word_scores(tmp_path):
    f = tmp_path / "u1.score"
    f.write_text("NBestList2.0\n"
                 "(-300) jack ( st: 0.00 et: 0.30 g: -100 a: -50 ) fell ( st: 0.30 et: 0.61 g: -120 a: -30 )\n")
    (u,) = read_nbest(f, "srilm")
    h = u.hyps[0]
    assert h.text == "jack fell"
    assert h.fields["lm"] == pytest.approx(-220 * BYTELOG_TO_LN) and h.fields["acoustic"] == pytest.approx(-80 * BYTELOG_TO_LN)
    assert h.fields["score"] == pytest.approx(-300 * BYTELOG_TO_LN)


def test_srilm_own_format_and_a_directory(tmp_path):
    d = tmp_path / "nbest"
    d.mkdir()
    (d / "b.txt").write_text("-10.5 -3.25 2 jill came\n-11 -2 3 jill came tumbling\n")
    (d / "a.txt").write_text("-1 -2 1 jack\n")
    utts = list(read_nbest(d, "srilm"))
    assert [u.utt_id for u in utts] == ["a", "b"]  # sorted file names
    h = utts[1].hyps[0].fields
    assert h["acoustic"] == pytest.approx(-10.5 * math.log(10)) and h["lm"] == pytest.approx(-3.25 * math.log(10))
    assert h["score"] == pytest.approx(h["acoustic"] + h["lm"])
    (d / "c.txt").write_text("-1 -2 5 jack\n")
    with pytest.raises(InputError, match="c.txt:1: says 5 words but has 1"):
        list(read_nbest(d, "srilm"))


def test_kaldi_directory(tmp_path):
    d = tmp_path / "kaldi"
    d.mkdir()
    (d / "text").write_text("utt1-1 jack and jill\nutt1-2 jack an jill\nutt2-1 to fetch\n")
    (d / "ac_cost").write_text("utt1-1 120.5\nutt1-2 118.0\nutt2-1 40\n")
    (d / "lm_cost").write_text("utt1-1 10\nutt1-2 14.5\nutt2-1 3\n")
    refs = tmp_path / "refs"
    refs.write_text("utt1 jack and jill\nutt2 to fetch\n")
    utts = list(read_nbest(d, refs=refs, required=("ac_cost", "lm_cost")))  # auto: a directory with `text`
    assert [u.utt_id for u in utts] == ["utt1", "utt2"] and utts[0].ref == "jack and jill"
    f = utts[0].hyps[1].fields
    assert (f["ac_cost"], f["lm_cost"], f["score"]) == (-118.0, -14.5, -132.5)  # costs negated
    (d / "lm_cost").write_text("utt1-1 10\n")
    with pytest.raises(InputError, match="lm_cost: no cost for 'utt1-2'"):
        list(read_nbest(d))


def test_nemo_beam_tsv(tmp_path):
    f = tmp_path / "preds_out_width2.tsv"
    f.write_text("jack and jill\t-3.5\njack an jill\t-3.9\nto fetch\t-1.0\nto fresh\t-1.2\n")
    refs = tmp_path / "refs"
    refs.write_text("1 jack and jill\n2 to fetch\n")
    utts = list(read_nbest(f, "nemo", beam_size=2, refs=refs))
    assert [(u.utt_id, u.ref, len(u.hyps)) for u in utts] == [("1", "jack and jill", 2), ("2", "to fetch", 2)]
    assert utts[1].hyps[1].fields["score"] == -1.2
    with pytest.raises(InputError, match="--beam-size"):
        list(read_nbest(f, "nemo"))
    with pytest.raises(InputError, match="not a multiple of --beam-size 3"):
        list(read_nbest(f, "nemo", beam_size=3))


def test_rerank_reads_the_new_formats_end_to_end(tmp_path):
    (tmp_path / "tiny.arpa").write_text(ARPA)
    f = tmp_path / "beams.tsv"
    f.write_text("jack jack\t-1.0\njack jill\t-1.1\n")
    (tmp_path / "refs").write_text("1 jack jill\n")
    r = CliRunner().invoke(cli, ["rerank", str(tmp_path / "tiny.arpa"), str(f), "--format", "nemo", "--beam-size", "2",
                                 "--refs", str(tmp_path / "refs"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["text"] == "jack jill" and "reranked       0.000" in r.stderr


def test_srilm_ppl_output(tmp_path):
    (tmp_path / "tiny.arpa").write_text(ARPA)
    (tmp_path / "t.txt").write_text("jack jill\njack zebra\n")
    r = CliRunner().invoke(cli, ["score", str(tmp_path / "tiny.arpa"), str(tmp_path / "t.txt"), "--format", "srilm",
                                 "--oov", "skip"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[:6] == [
        "jack jill",
        f"\tp( jack | <s> ) \t= [mixture] {P_NGRAM[('<s>', 'jack')]:.6g} [ {math.log10(0.5):.6g} ]",
        f"\tp( jill | jack ...) \t= [mixture] {0.8:.6g} [ {math.log10(0.8):.6g} ]",
        f"\tp( </s> | jill ...) \t= [mixture] {0.6:.6g} [ {math.log10(0.6):.6g} ]",
        "1 sentences, 2 words, 0 OOVs",
        f"0 zeroprobs, logprob= {math.log10(0.24):.6g} ppl= {0.24 ** (-1 / 3):.6g} ppl1= {0.24 ** (-1 / 2):.6g}",
    ]
    assert lines[9] == "\tp( zebra | jack ...) \t= [OOV] 0 [ -inf ]"  # SRILM's OOV line, skipped
    # what compute-best-mix reads: field 10 of the p( lines; and SRILM's own formula on the totals
    fields = [ln.split() for ln in lines if ln.split()[:1] == ["p("]]
    assert [f[9] for f in fields][:3] == [f"{math.log10(x):.6g}" for x in (0.5, 0.8, 0.6)]
    file_line, totals = lines[-2], lines[-1].split()
    assert file_line == f"file {tmp_path / 't.txt'}: 2 sentences, 4 words, 1 OOVs"
    logprob, ppl = float(totals[3]), float(totals[5])
    assert ppl == pytest.approx(10 ** (-logprob / (4 - 1 + 2)), rel=1e-5)
    bad = CliRunner().invoke(cli, ["score", str(tmp_path / "tiny.arpa"), str(tmp_path / "t.txt"), "--format", "srilm",
                                   "--json"])
    assert bad.exit_code == 2
