"""The front door (`import wordlm`) and the object API: each method equals its command's output."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import wordlm
from wordlm.cli import cli

from conftest import RHYME_LINES, tiny_model

SENTENCES = ["jack and jill went up the hill", "jack fell down and broke his zebra", "", "to fetch a pail"]


@pytest.fixture(scope="module")
def model_dir(seq_model_dir):
    return seq_model_dir


@pytest.fixture(scope="module")
def lm(model_dir):
    return wordlm.load(model_dir)


def run(*args, stdin=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=stdin, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_import_wordlm_loads_neither_numpy_nor_tensorflow():
    code = "import sys, wordlm; wordlm.__version__; wordlm.InputError; print(sorted(m for m in ('numpy', 'tensorflow', 'keras') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_front_door_names():
    assert wordlm.__version__ and set(wordlm.__all__) <= set(dir(wordlm))
    for name in wordlm.__all__:
        assert getattr(wordlm, name) is not None
    with pytest.raises(AttributeError):
        wordlm.no_such_thing  # noqa: B018


def test_score_equals_the_score_command(lm, model_dir, tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("\n".join(SENTENCES) + "\n")
    cli_scores = json_lines(run("score", model_dir, path, "--json", "--per-token"))
    assert np.allclose(lm.score(SENTENCES), [s["logprob"] for s in cli_scores], atol=1e-5)
    assert math.isclose(lm.score(SENTENCES[0]), cli_scores[0]["logprob"], abs_tol=1e-5)
    for text, want in zip(SENTENCES, cli_scores):
        got = lm.full_scores(text)
        assert [t.token for t in got] == [t["token"] for t in want["tokens"]]
        assert [t.oov for t in got] == [t["oov"] for t in want["tokens"]]
        assert np.allclose([t.logprob for t in got], [t["logprob"] for t in want["tokens"]], atol=1e-5)
        assert math.isclose(sum(t.logprob for t in got if t.logprob is not None), lm.score(text), abs_tol=1e-9)


def test_score_options_match_the_command(lm, model_dir):
    want = json_lines(run("score", model_dir, "-", "--json", "--no-bos", "--oov", "skip", stdin=SENTENCES[1] + "\n"))
    assert math.isclose(lm.score(SENTENCES[1], bos=False, oov="skip"), want[0]["logprob"], abs_tol=1e-5)


def test_perplexity_of_lines_and_of_a_file_equal_the_command(lm, model_dir, tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("\n".join(RHYME_LINES) + "\n")
    want = json.loads(run("perplexity", model_dir, path, "--json"))
    for got in (lm.perplexity(RHYME_LINES).to_json(), lm.perplexity(path).to_json(), lm.perplexity(str(path)).to_json()):
        assert got["sentences"] == want["sentences"] and got["words"] == want["words"]
        assert math.isclose(got["ppl"], want["ppl"], rel_tol=1e-6)


def test_next_words_candidates_and_prefix_equal_the_command(lm, model_dir):
    want = json_lines(run("next", model_dir, "--prompt", "jack and", "--top", "5", "--json"))
    got = lm.next_words("jack and", top=5)
    assert [w.word for w in got] == [w["word"] for w in want]
    assert np.allclose([w.logprob for w in got], [w["logprob"] for w in want], atol=1e-5)
    every = lm.next_words("jack and", top=None)
    assert math.isclose(sum(w.prob for w in every), 1.0, abs_tol=1e-4)
    # prefix: the words starting with the letters, in the order of the full ranking
    completion = lm.next_words("jack and", top=None, prefix="j")
    assert [w.word for w in completion] == [w.word for w in every if w.word.startswith("j") and not w.word.startswith("<")]
    assert [w.to_json() for w in completion[:2]] == json_lines(run("next", model_dir, "--prompt", "jack and", "--top", "2",
                                                                   "--prefix", "J", "--json"))
    batch = lm.next_words(["jack and", "the", ""], top=3)
    assert [[w.word for w in b] for b in batch] == [[w.word for w in lm.next_words(p, top=3)] for p in ["jack and", "the", ""]]
    want = json_lines(run("next", model_dir, "--prompt", "jack fell", "--candidates", "down,up,down and broke", "--json"))
    got = {w.word: w.logprob for w in lm.candidates("jack fell", ["down", "up", "down and broke"])}
    assert all(math.isclose(got[w["word"]], w["logprob"], abs_tol=1e-5) for w in want)


def test_generate_and_fill_equal_the_commands(lm, model_dir):
    want = json_lines(run("generate", model_dir, "--prompt", "jack", "--strategy", "beam", "--beam-size", "4", "--num", "3",
                          "--json"))
    got = lm.generate("jack", strategy="beam", beam_size=4, num=3)
    assert [h.text for h in got] == [h["text"] for h in want]
    assert np.allclose([h.logprob for h in got], [h["logprob"] for h in want], atol=1e-5)
    assert [h.text for h in lm.generate(["jack", "jill"])[1]] == [h.text for h in lm.generate("jill")]
    want = json_lines(run("fill", model_dir, "and jill came ___ after", "--top", "3", "--json"))
    got = lm.fill("and jill came ___ after", top=3)
    assert [f.word for f in got] == [f["word"] for f in want]
    assert np.allclose([f.logprob for f in got], [f["logprob"] for f in want], atol=1e-5)


def test_rerank_equals_the_command(lm, model_dir, tmp_path):
    nbest = tmp_path / "nb.jsonl"
    nbest.write_text(json.dumps({"utt_id": "u1", "ref": "jack and jill", "hyps": [
        {"text": "jack an jill", "score": -1.0}, {"text": "jack and jill", "score": -1.2}]}) + "\n")
    want = json_lines(run("rerank", model_dir, nbest, "--lm-weight", "0.7", "--word-bonus", "0.1", "--json", "--all"))
    got = lm.rerank(nbest, lm_weight=0.7, word_bonus=0.1, all_hyps=True)
    assert got == want
    assert lm.rerank(list(wordlm.read_nbest(nbest)), lm_weight=0.7, word_bonus=0.1, all_hyps=True) == want


@pytest.mark.parametrize("framing", ["sequence", "word", "window", "line", "char"])
def test_incremental_states_equal_full_scores(framing):
    lm = tiny_model(framing, epochs=5) if framing != "line" else tiny_model("line", boundaries=False, epochs=5)
    texts = ["jack and jill went up the hill", "jill came", "to fetch a pail of zebra"]
    rows = [lm.tokens(t) + (["</s>"] if lm.boundaries else []) for t in texts]
    states = lm.begin(len(texts))
    got = [[] for _ in texts]
    for k in range(max(map(len, rows))):
        words = [r[k] if k < len(r) else "</s>" for r in rows]
        lp, states, _ = lm.advance(states, words)
        for i, r in enumerate(rows):
            if k < len(r):
                got[i].append(lp[i])
    for text, g in zip(texts, got):
        want = [t.logprob for t in lm.full_scores(text)]
        want = [np.nan if w is None else w for w in want]
        np.testing.assert_allclose(g, want, atol=1e-5)
    # states are immutable: advancing one twice gives the same answer
    s0 = lm.begin(1)
    first = lm.tokenize("jack")[:1]  # a character model reads "j"
    a, _, _ = lm.advance(s0, first)
    b, _, _ = lm.advance(s0, first)
    assert np.array_equal(a, b, equal_nan=True)


def test_a_string_where_a_list_belongs_is_refused(lm):
    with pytest.raises(TypeError, match="single string"):
        lm.score_lines("jack and jill")
    with pytest.raises(TypeError, match="single string"):
        lm.candidates("jack", "down")
    with pytest.raises(TypeError):
        lm.score([1, 2])


def test_save_and_load_give_identical_scores(lm, tmp_path):
    lm.save(tmp_path / "copy")
    again = wordlm.load(tmp_path / "copy")
    assert again.score(SENTENCES) == lm.score(SENTENCES)


def test_load_keeps_tensorflows_start_up_chatter_off_stderr(model_dir):
    code = f"import wordlm; print(round(wordlm.load({str(model_dir)!r}).score('jack'), 3))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert done.stdout.strip() and done.stderr == ""
