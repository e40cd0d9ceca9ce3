"""Hostile numbers and nesting in the JSON and TSV files wordlm reads, and in what it writes back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wordlm.errors import InputError
from wordlm.nbest import read_nbest
from wordlm.rerank import formula

import helpers


@pytest.fixture(scope="module")
def model_dir(seq_model_dir):
    return str(seq_model_dir)


def invoke(*args):
    return helpers.cli_run(*args)


def one_line_error(result, *needles):
    return helpers.one_line_error(result, *needles, only=False)


DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize("content", [
    '{"utt_id": "u", "hyps": ' + DEEP + "}\n",  # jsonl
    DEEP + "\n",  # hyporadise list
])
def test_deeply_nested_nbest_is_one_line_error(model_dir, tmp_path, content):
    path = tmp_path / "deep.json"
    path.write_text(content)
    one_line_error(invoke("rerank", model_dir, path), "deep.json", "nested deeper than 64")


@pytest.mark.parametrize("content,needle", [
    ('{"lm_weight": ' + DEEP + "}", "nested deeper than 64"),
    ('{"lm_weight": 1e400, "word_bonus": 0}', 'field "lm_weight": 1e400 is not a finite number'),
    ('{"lm_weight": NaN, "word_bonus": 0}', 'field "lm_weight": NaN is not a finite number'),
])
def test_hostile_weights_file_is_one_line_error(model_dir, tmp_path, content, needle):
    nb = tmp_path / "n.tsv"
    nb.write_text("u1\t-1\tjack and jill\n")
    weights = tmp_path / "w.json"
    weights.write_text(content)
    one_line_error(invoke("rerank", model_dir, nb, "--weights", weights), "w.json", needle)


@pytest.mark.parametrize("logprob,needle", [
    ("1e400", 'field "logprob": 1e400 is not a finite number'), ("1e300", '"logprob" must be a number in [-1e+200, 0]'),
    ('"x"', '"logprob" must be a number'), ("Infinity", 'field "logprob": Infinity'),
])
def test_hostile_summary_to_merge_is_one_line_error(model_dir, tmp_path, logprob, needle):
    good = tmp_path / "good.json"
    text = tmp_path / "t.txt"
    text.write_text("jack and jill\n")
    assert invoke("score", model_dir, text, "--summary", good).exit_code == 0
    bad = tmp_path / "bad.json"
    bad.write_text(good.read_text().replace(f'"logprob": {json.loads(good.read_text())["logprob"]!r}',
                                            f'"logprob": {logprob}'))
    assert bad.read_text() != good.read_text()
    result = invoke("perplexity", model_dir, "--merge", good, bad)
    assert result.exit_code == 1 and "bad.json:1" in result.stderr and "Traceback" not in result.output
    assert needle in result.stderr, result.stderr


def test_extra_tsv_columns_are_an_error_not_words(tmp_path):
    path = tmp_path / "n.tsv"
    path.write_text("u1\t-1.0\tjack and jill\n" "u2\t-2.0\tto fetch\t0.5\n")
    with pytest.raises(InputError, match=r"n\.tsv:2: expected 3 columns utt_id<TAB>score<TAB>text, got 4"):
        list(read_nbest(path))


def test_nan_totals_never_rank_first_and_overflowing_totals_are_refused(model_dir, tmp_path):
    totals = np.array([np.nan, -5.0, np.nan, -1.0])
    assert formula.choose(totals) == 3 and list(formula.ranking(totals)) == [3, 1, 0, 2]
    assert formula.choose(np.array([np.nan, np.nan])) == 0  # nothing better: the first, as before
    # scores so large that the combination overflows to inf and inf - inf
    nb = tmp_path / "n.jsonl"
    nb.write_text(json.dumps({"utt_id": "u1", "hyps": [{"text": "jack and jill", "score": 1e308, "b": 1e308},
                                                       {"text": "jack", "score": -1.0, "b": 0.0}]}) + "\n")
    result = invoke("rerank", model_dir, nb, "--am", "score=1,b=1", "--json", "--all")
    assert result.exit_code == 1 and result.stdout == ""  # refused, never ranked or printed as Infinity
    error = result.stderr.strip().splitlines()[-1]
    assert str(nb) in error and "utterance u1: hypothesis 1" in error and "not a finite number" in error


def test_tsv_output_escapes_tabs_and_newlines(model_dir, tmp_path):
    nb = tmp_path / "n.jsonl"
    nb.write_text(json.dumps({"utt_id": "u\t1", "hyps": [{"text": "jack\tand\njill\\", "score": -1.0}]}) + "\n")
    result = invoke("rerank", model_dir, nb)
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert len(rows) == 1 and rows[0].split("\t")[0] == "u\\t1" and rows[0].split("\t")[3] == "jack\\tand\\njill\\\\"
