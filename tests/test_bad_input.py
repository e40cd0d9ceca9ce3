"""The bad-input catalogue, through the CLI: each case has a defined result or a one-line error
naming the file and line (or utterance), exit code 1 (2 for usage), and no partial output file."""

import gzip
import json

import pytest

from wordlm import saving

import helpers
from conftest import tiny_model


@pytest.fixture(scope="module")
def model(seq_model_dir):
    return str(seq_model_dir)


def run(*args, input=None):
    return helpers.cli_run(*args, input=input)


def one_line_error(result, *needles):
    return helpers.one_line_error(result, *needles)


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


# -- text files ----------------------------------------------------------------------------------
def test_empty_file_scores_nothing(model, tmp_path):
    r = run("score", model, write(tmp_path, "e.txt", b""), "--json")
    assert r.exit_code == 0 and r.stdout == ""
    r = run("perplexity", model, write(tmp_path, "e2.txt", b""), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["sentences"] == 0


def test_blank_lines_are_empty_sentences(model, tmp_path):
    r = run("score", model, write(tmp_path, "b.txt", b"\n   \n\t\n"), "--json", "--per-token")
    assert r.exit_code == 0
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3 and all(row["words"] == 0 and len(row["tokens"]) == 1 for row in rows)  # just </s>
    assert rows[0]["logprob"] == pytest.approx(rows[1]["logprob"])


def test_binary_file(model, tmp_path):
    p = write(tmp_path, "x.bin", bytes(range(256)) * 4)
    one_line_error(run("score", model, p), "x.bin:1")
    one_line_error(run("train", p, "-o", tmp_path / "m"), "x.bin:1")
    assert not (tmp_path / "m").exists()


def test_invalid_utf8_names_the_line(model, tmp_path):
    p = write(tmp_path, "latin1.txt", "ok\ncafé\n".encode("latin-1"))
    one_line_error(run("score", model, p), "latin1.txt:2", "UTF-8")
    one_line_error(run("perplexity", model, p), "latin1.txt:2")


def test_bom_and_crlf_are_invisible(model, tmp_path):
    plain = run("score", model, write(tmp_path, "p.txt", b"jack and jill\nto fetch\n"), "--json")
    crlf = run("score", model, write(tmp_path, "c.txt", b"\xef\xbb\xbfjack and jill\r\nto fetch\r\n"), "--json")
    assert crlf.exit_code == 0 and crlf.stdout == plain.stdout


def test_gzip_input_and_corrupt_gzip(model, tmp_path):
    g = tmp_path / "t.txt.gz"
    with gzip.open(g, "wb") as f:
        f.write(b"jack and jill\n")
    assert run("score", model, g).exit_code == 0
    one_line_error(run("score", model, write(tmp_path, "bad.txt.gz", b"not gzip at all")), "bad.txt.gz")


def test_one_megabyte_single_line(model, tmp_path):
    line = ("jack and jill went up the hill " * 35000)[: 1 << 20]
    r = run("score", model, write(tmp_path, "big.txt", line.encode()), "--json")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    assert row["words"] == len(line.split()) and row["logprob"] < 0


def test_control_characters_and_typed_markers(model, tmp_path):
    r = run("score", model, write(tmp_path, "cc.txt", "jack\x07 and\x1b[31m jill\x00".encode()[:-1]
                                          + b"\nand <s> jill </s> <unk>\n"), "--json", "--per-token")
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    # keras tokenizer: "[" is a filter, so "and\x1b[31m" is "and\x1b" + "31m"; with "jack\x07",
    # three unknown words, each scored as <unk>.
    assert rows[0]["oovs"] == 3 and rows[0]["words"] == 4
    typed = rows[1]["tokens"]
    assert [t["token"] for t in typed] == ["and", "<s>", "jill", "</s>", "<unk>", "</s>"]
    assert [t["oov"] for t in typed] == [False, True, False, True, True, False]


def test_missing_input_and_directory(model, tmp_path):
    one_line_error(run("score", model, tmp_path / "nope.txt"), "nope.txt", "no such file")
    one_line_error(run("score", model, tmp_path), "is a directory")


# -- model directories ----------------------------------------------------------------------------
def test_model_directory_problems(model, tmp_path):
    p = write(tmp_path, "t.txt", b"jack\n")
    one_line_error(run("score", tmp_path / "none", p), "no such model directory")
    one_line_error(run("score", tmp_path, p), "not a wordlm model directory")
    broken = tmp_path / "broken"
    saving.save(tiny_model("sequence"), broken)
    cfg = json.loads((broken / "wordlm.json").read_text())
    cfg["format_version"] = 7
    (broken / "wordlm.json").write_text(json.dumps(cfg))
    one_line_error(run("score", broken, p), "newer")
    (broken / "wordlm.json").write_text("{")
    one_line_error(run("generate", broken, "--prompt", "jack"), "corrupt")


# -- options out of range -------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["generate", "{m}", "--prompt", "jack", "--strategy", "beam", "--beam-size", "0"],
    ["generate", "{m}", "--prompt", "jack", "--strategy", "sample", "--temperature", "-1"],
    ["generate", "{m}", "--prompt", "jack", "--strategy", "sample", "--top-p", "0"],
    ["generate", "{m}", "--prompt", "jack", "--strategy", "sample", "--top-p", "1.5"],
    ["train", "{t}", "-o", "{o}", "--framing", "window", "--context", "0"],
    ["score", "{m}", "{t}", "--base", "3"],
    ["next", "{m}", "--prompt", "jack", "--top", "0"],
])
def test_options_out_of_range_are_usage_errors(model, tmp_path, args):
    t = write(tmp_path, "t.txt", b"jack and jill\n")
    r = run(*[a.format(m=model, t=t, o=tmp_path / "o") for a in args])
    assert r.exit_code == 2, r.output
    assert not (tmp_path / "o").exists()
