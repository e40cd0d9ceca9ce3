"""`wordlm generate` through click's CliRunner: output formats, prompts from files, exit codes."""

import gzip
import json

import pytest
from click.testing import CliRunner

from wordlm import saving
from wordlm.cli import cli
from wordlm.decoding import generate_batch



@pytest.fixture(scope="module")
def model_dir(seq_model_dir):
    return str(seq_model_dir)


@pytest.fixture()
def runner():
    return CliRunner()


def run(runner, *args, input=None):
    return runner.invoke(cli, ["generate", *map(str, args)], input=input)


def test_greedy_text_output_matches_the_library(runner, model_dir):
    result = run(runner, model_dir, "--prompt", "Jack and")
    assert result.exit_code == 0, result.output
    lm = saving.load(model_dir)
    hyp = generate_batch(lm, ["Jack and"])[0][0]
    assert result.stdout == f"{hyp.text}\t{hyp.logprob:.4f}\t{hyp.score:.4f}\n"
    assert result.stdout.startswith("jack and")  # lower-cased as the model reads it
    assert result.stderr == ""


def test_beam_json_nbest(runner, model_dir):
    result = run(runner, model_dir, "--prompt", "jill", "--strategy", "beam", "--beam-size", "5", "--num", "3",
                 "--length-norm", "avg", "--length-penalty", "0.7", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert all(set(r) == {"text", "continuation", "logprob", "score"} for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert all(r["text"] == f"jill {r['continuation']}".strip() for r in rows)
    assert len({r["text"] for r in rows}) == 3


def test_several_prompts_one_block_each_with_prompt_index(runner, model_dir, tmp_path):
    prompts = tmp_path / "prompts.txt.gz"
    with gzip.open(prompts, "wt") as f:
        f.write("to fetch\n\njack fell\n")
    result = run(runner, model_dir, "--prompt", "jack", "--prompts", prompts, "--strategy", "beam", "--num", "2",
                 "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["prompt"] for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert rows[2]["text"].startswith("to fetch") and rows[6]["text"].startswith("jack fell")
    text = run(runner, model_dir, "--prompt", "jack", "--prompts", prompts, "--strategy", "beam", "--num", "2")
    blocks = text.stdout.split("\n\n")
    assert len(blocks) == 4 and all(len(b.strip().splitlines()) == 2 for b in blocks)


def test_prompts_from_stdin_and_batching_does_not_change_results(runner, model_dir):
    stdin = "jack\njill came\nto\n"
    a = run(runner, model_dir, "--prompts", "-", "--strategy", "sample", "--num", "2", "--seed", "3", input=stdin)
    b = run(runner, model_dir, "--prompts", "-", "--strategy", "sample", "--num", "2", "--seed", "3",
            "--batch-size", "1", input=stdin)
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout
    assert len(a.stdout.strip().split("\n\n")) == 3


def test_same_seed_same_samples(runner, model_dir):
    args = [model_dir, "--prompt", "jack", "--strategy", "sample", "--num", "5", "--top-p", "0.9",
            "--temperature", "1.3"]
    first = run(runner, *args, "--seed", "1")
    assert first.exit_code == 0, first.output
    assert run(runner, *args, "--seed", "1").stdout == first.stdout
    assert run(runner, *args, "--seed", "2").stdout != first.stdout


def test_unknown_prompt_word_warns_on_stderr_only(runner, model_dir):
    result = run(runner, model_dir, "--prompt", "jack zebra", "--json")
    assert result.exit_code == 0, result.output
    assert "zebra" in result.stderr and "<unk>" in result.stderr and "warning" in result.stderr
    assert json.loads(result.stdout)["text"].startswith("jack zebra")


def test_forbid_min_words_and_no_repeat(runner, model_dir):
    result = run(runner, model_dir, "--prompt", "jack", "--strategy", "beam", "--num", "4", "--forbid", "and,Jill",
                 "--min-words", "3", "--no-repeat-ngram", "1", "--json")
    assert result.exit_code == 0, result.output
    for row in map(json.loads, result.stdout.splitlines()):
        words = row["continuation"].split()
        assert "and" not in words and "jill" not in words
        assert len(words) >= 3 and len(set(words + ["jack"])) == len(words) + 1


@pytest.mark.parametrize("args", [
    ["--strategy", "beam", "--beam-size", "0"],
    ["--strategy", "sample", "--temperature", "-1"],
    ["--strategy", "sample", "--top-p", "0"],
    ["--strategy", "sample", "--top-p", "1.5"],
    ["--strategy", "sample", "--top-k", "0"],
    ["--strategy", "beam", "--beam-size", "2", "--num", "3"],
    ["--num", "2"],  # greedy has one result
    ["--temperature", "0.5"],  # a sampling option without --strategy sample
    ["--beam-size", "3"],
    ["--min-words", "5", "--max-words", "3"],
    ["--max-words", "0"],
    ["--length-norm", "max"],
    ["--strategy", "nucleus"],
])
def test_bad_options_are_usage_errors(runner, model_dir, args):
    result = run(runner, model_dir, "--prompt", "jack", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""


def test_no_prompt_is_a_usage_error(runner, model_dir):
    assert run(runner, model_dir).exit_code == 2


def test_errors_exit_1_with_one_line(runner, model_dir, tmp_path):
    missing = run(runner, tmp_path / "nothing", "--prompt", "jack")
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"jack\nj\xe9ll\n")
    result = run(runner, model_dir, "--prompts", bad)
    assert result.exit_code == 1
    assert f"{bad}:2" in result.stderr and "UTF-8" in result.stderr
    assert result.stdout == ""  # nothing half-written: prompts are read before anything is generated
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = run(runner, model_dir, "--prompts", empty)
    assert result.exit_code == 1 and "no prompts" in result.stderr


def test_cli_choices_match_the_library():
    from wordlm.cli import decode_cmds
    from wordlm.decoding import options

    assert decode_cmds.STRATEGIES == options.STRATEGIES
    assert decode_cmds.LENGTH_NORMS == options.LENGTH_NORMS
