"""`wordlm score`, `perplexity`, `next`, `fill` through click's CliRunner: exit codes, stdout holds only
data, errors name the file and line, shard summaries merge into the unsharded summary."""

import gzip
import json
import math

import pytest

from wordlm.scoring import Options, score_sentences

import helpers
from conftest import tiny_model

LINES = ["jack and jill went up the hill", "", "to fetch a pail of zebra water", "jill came tumbling after",
         "Jack fell down", "and broke his crown", "up up up", "the hill"]
WORDS = sum(len(x.split()) for x in LINES)


@pytest.fixture(scope="module")
def seq_dir(seq_model_dir):
    return str(seq_model_dir)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return str(path)


def run(*args, input=None):
    return helpers.cli_run(*args, input=input)


def test_score_prints_one_line_per_input_line_and_the_summary_on_stderr(seq_dir, corpus):
    result = run("score", seq_dir, corpus)
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    assert len(out) == len(LINES)
    expected = score_sentences(tiny_model("sequence"), LINES)
    for line, text, s in zip(out, LINES, expected):
        logprob, words, oovs, ppl, echoed = line.split("\t")
        assert echoed == text and int(words) == s.words and int(oovs) == s.oovs
        assert float(logprob) == pytest.approx(s.logprob, rel=1e-5) and float(ppl) == pytest.approx(s.ppl, rel=1e-5)
    err = result.stderr.splitlines()  # not a terminal: no progress bar, just SRILM's two lines
    assert err[0] == f"{len(LINES)} sentences, {WORDS} words, 1 OOVs"
    assert err[1].startswith("logprob= ") and " ppl= " in err[1] and err[1].endswith("(logprob in ln)")


def test_score_json_per_token_from_stdin(seq_dir):
    result = run("score", seq_dir, "-", "--json", "--per-token", "--oov", "skip", input="jack zebra hill\n\n")
    assert result.exit_code == 0, result.stderr
    first, empty = (json.loads(x) for x in result.stdout.splitlines())
    assert set(first) == {"text", "logprob", "words", "oovs", "ppl", "tokens"}
    assert [t["token"] for t in first["tokens"]] == ["jack", "zebra", "hill", "</s>"]
    assert [t["oov"] for t in first["tokens"]] == [False, True, False, False]
    assert first["tokens"][1]["logprob"] is None  # skipped
    assert first["logprob"] == pytest.approx(sum(t["logprob"] for t in first["tokens"] if t["logprob"] is not None))
    assert (first["words"], first["oovs"]) == (3, 1)
    assert [t["token"] for t in empty["tokens"]] == ["</s>"] and empty["words"] == 0  # an empty line: just </s>
    summary = json.loads(result.stderr.splitlines()[-1])
    assert summary["options"] == {"unit": "word", "bos": True, "eos": True, "oov": "skip"}
    assert (summary["sentences"], summary["words"], summary["oovs"], summary["scored"]) == (2, 3, 1, 4)


def test_score_text_per_token_marks_context_and_skipped_tokens_in_base_10(seq_dir):
    result = run("score", seq_dir, "-", "--per-token", "--no-bos", "--oov", "skip", "--base", "10",
                 input="jack zebra hill\n")
    assert result.exit_code == 0, result.stderr
    fields = result.stdout.rstrip("\n").split("\t")
    pairs = dict(p.split("=") for p in fields[5].split(" "))
    assert pairs["jack"] == "ctx" and pairs["zebra"] == "skip"
    assert float(fields[0]) == pytest.approx(float(pairs["hill"]) + float(pairs["</s>"]), abs=2e-5)
    (s,) = score_sentences(tiny_model("sequence"), ["jack zebra hill"], Options(bos=False, oov="skip"))
    assert float(fields[0]) == pytest.approx(s.logprob / math.log(10), rel=1e-5)


def test_bad_bytes_give_one_line_error_naming_the_line_after_the_lines_before_it(seq_dir, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"jack and jill\nup the hill\nfetch \xff water\nnever read\n")
    result = run("score", seq_dir, bad)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2  # the lines before the bad one were scored
    assert result.stderr.startswith(f"Error: {bad}:3: invalid UTF-8") and "Traceback" not in result.stderr
    assert run("perplexity", seq_dir, tmp_path / "missing.txt").exit_code == 1


def test_a_10000_word_line_and_a_gz_file(seq_dir, tmp_path):
    words = tiny_model("sequence").vocab.id_to_token[4:]
    path = tmp_path / "long.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(" ".join(words[i % len(words)] for i in range(10_000)) + "\n")
    result = run("score", seq_dir, path, "--json")
    assert result.exit_code == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["words"] == 10_000 and math.isfinite(line["logprob"])


def test_merged_shard_summaries_equal_the_unsharded_run(seq_dir, corpus, tmp_path):
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"shard{k}.json")
        result = run("score", seq_dir, corpus, "--shard", f"{k}/3", "--summary", paths[-1], "--oov", "skip")
        assert result.exit_code == 0, result.stderr
        assert [x.split("\t")[4] for x in result.stdout.splitlines()] == LINES[k::3]
    whole = run("perplexity", seq_dir, corpus, "--json", "--oov", "skip")
    merged = run("perplexity", seq_dir, "--merge", *paths, "--json")
    assert whole.exit_code == merged.exit_code == 0, merged.stderr
    assert json.loads(merged.stdout) == json.loads(whole.stdout)  # exactly: totals are fixed point
    text = run("perplexity", seq_dir, "--merge", *paths, "--base", "10")
    first, second = text.stdout.splitlines()
    total = json.loads(whole.stdout)
    assert first == f"{len(LINES)} sentences, {WORDS} words, 1 OOVs"
    assert second == (f"logprob= {total['logprob'] / math.log(10):.6g} ppl= {total['ppl']:.6g} "
                      f"ppl1= {total['ppl1']:.6g} (logprob in log10)")
    # Summaries scored under different options refuse to merge, naming the file and line.
    other = tmp_path / "unk.json"
    assert run("score", seq_dir, corpus, "--shard", "0/3", "--summary", other).exit_code == 0
    refused = run("perplexity", seq_dir, "--merge", paths[1], other)
    assert refused.exit_code == 1 and f"{other}:1: cannot merge summaries scored differently" in refused.stderr


def test_usage_errors_exit_2(seq_dir, corpus):
    for args in (["--shard", "3/2"], ["--shard", "x"], ["--json", "--base", "10"], ["--oov", "drop"]):
        result = run("score", seq_dir, corpus, *args)
        assert result.exit_code == 2, args


def test_next_ranks_every_token_and_scores_candidates(seq_dir):
    lm = tiny_model("sequence")
    result = run("next", seq_dir, "--prompt", "jack and", "--top", "1000", "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert set(rows[0]) == {"word", "logprob", "prob"} and len(rows) == lm.vocab_size - 2  # not <pad>, <s>
    assert sum(r["prob"] for r in rows) == pytest.approx(1.0, abs=1e-5)
    assert {"</s>", "<unk>"} <= {r["word"] for r in rows}
    result = run("next", seq_dir, "--prompt", "jack and", "--candidates", "jill,jill went,zebra")
    assert result.exit_code == 0, result.stderr
    scored = {line.split("\t")[0]: float(line.split("\t")[1]) for line in result.stdout.splitlines()}
    by_word = {r["word"]: r["logprob"] for r in rows}
    assert scored["jill"] == pytest.approx(by_word["jill"], abs=1e-5)
    assert scored["zebra"] == pytest.approx(by_word["<unk>"], abs=1e-5)
    assert "zebra not in the vocabulary" in result.stderr


def test_fill_ranks_words_by_the_whole_sentence(seq_dir):
    result = run("fill", seq_dir, "and jill came ___ after", "--top", "3", "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(rows) == 3 and set(rows[0]) == {"word", "text", "logprob", "prob"}
    lm = tiny_model("sequence")
    for r in rows:
        assert r["text"] == f"and jill came {r['word']} after"
        assert r["logprob"] == pytest.approx(score_sentences(lm, [r["text"]])[0].logprob, abs=1e-5)
    bad = run("fill", seq_dir, "no blank")
    assert bad.exit_code == 1 and "exactly one ___" in bad.stderr


def test_shard_merge_at_scale_is_exact_in_any_order_and_within_float32_rounding_of_the_whole(seq_dir, tmp_path):
    """3,000 lines of mixed lengths: large enough that batching changes per-token float32 values."""
    import random

    words = tiny_model("sequence").vocab.id_to_token[4:]
    rng = random.Random(0)
    corpus = tmp_path / "big.txt"
    corpus.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(0, 30))) + "\n"
                              for _ in range(3000)))
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"s{k}.json")
        assert run("score", seq_dir, corpus, "--shard", f"{k}/3", "--summary", paths[-1]).exit_code == 0
    whole = json.loads(run("perplexity", seq_dir, corpus, "--json").stdout)
    merged = json.loads(run("perplexity", seq_dir, "--merge", *paths, "--json").stdout)
    backwards = json.loads(run("perplexity", seq_dir, "--merge", *paths[::-1], "--json").stdout)
    assert merged == backwards  # the merge itself is exact: fixed-point totals
    for key in ("sentences", "words", "oovs", "scored", "ends"):
        assert merged[key] == whole[key]
    assert math.isclose(merged["logprob"], whole["logprob"], rel_tol=1e-9)  # the bound the README states
