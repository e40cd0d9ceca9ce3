"""`wordlm train`, `info`, `demo` through click's CliRunner: exit codes, stdout holds only data."""

import json

import pytest
from click.testing import CliRunner

from wordlm.cli import cli


@pytest.fixture()
def runner():
    return CliRunner()


TUTORIAL = ["--no-boundaries", "--embedding-dim", "8", "--units", "8", "--epochs", "1", "-q"]


@pytest.mark.parametrize(
    "framing,expected",
    [(["--framing", "word"], 24), (["--framing", "line"], 21), (["--framing", "window", "--context", "2"], 23)],
)
def test_train_reproduces_the_tutorials_numbers(runner, rhyme_file, tmp_path, framing, expected):
    out = tmp_path / "m"
    result = runner.invoke(cli, ["train", rhyme_file, "-o", str(out), *framing, *TUTORIAL])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["vocabulary size: 21", f"training examples: {expected}"]
    assert (out / "wordlm.json").is_file()


def test_info_text_and_json(runner, rhyme_file, tmp_path):
    out = tmp_path / "m"
    assert runner.invoke(cli, ["train", rhyme_file, "-o", str(out), "--framing", "line", *TUTORIAL]).exit_code == 0
    result = runner.invoke(cli, ["info", str(out), "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["framing"] == {"name": "line", "boundaries": False, "max_length": 7}
    assert info["vocab_words"] == 21 and info["corpus"]["lines"] == 4 and info["corpus"]["tokens"] == 25
    assert info["parameters"] > 0 and info["examples"] == 21
    text = runner.invoke(cli, ["info", str(out)]).stdout
    assert "line, max length 7, boundaries off" in text and "21 words" in text


def test_train_with_validation_reports_perplexity(runner, rhyme_file, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(cli, ["train", rhyme_file, "-o", str(out), "--valid", rhyme_file, "--epochs", "2",
                                 "--units", "8", "--embedding-dim", "8", "-q"])
    assert result.exit_code == 0, result.output
    assert "validation perplexity:" in result.stdout
    info = json.loads(runner.invoke(cli, ["info", str(out), "--json"]).stdout)
    assert info["valid_ppl"] > 1


def test_train_from_stdin(runner, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(cli, ["train", "-", "-o", str(out), *TUTORIAL, "--framing", "word"],
                           input="a b c\nb c d\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "vocabulary size: 4"


@pytest.mark.parametrize("content,message", [(None, "no such file"), (b"", "empty corpus"),
                                             (b"\n  \n\n", "empty corpus"), (b"ok\n\xff\xfe\n", ":2: invalid UTF-8")])
def test_bad_corpus_is_a_one_line_error(runner, tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(cli, ["train", str(path), "-o", str(tmp_path / "m"), *TUTORIAL])
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert not (tmp_path / "m").exists()


def test_info_on_a_non_model_directory(runner, tmp_path):
    result = runner.invoke(cli, ["info", str(tmp_path)])
    assert result.exit_code == 1 and "not a wordlm model directory" in result.stderr


def test_bad_usage_is_exit_2(runner, tmp_path):
    assert runner.invoke(cli, ["train", "x.txt"]).exit_code == 2  # no -o
    assert runner.invoke(cli, ["train", "x.txt", "-o", "m", "--epochs", "0"]).exit_code == 2


def test_demo_reproduces_the_tutorial(runner):
    result = runner.invoke(cli, ["demo", "--epochs", "500"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "word framing: vocabulary 21, 24 training examples" in out
    assert "line framing: vocabulary 21, 21 training examples" in out
    assert "window 2 framing: vocabulary 21, 23 training examples" in out
    assert "greedy from 'jack': jack and jill went up the hill" in out


def test_train_tie_embeddings_and_info(runner, rhyme_file, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(cli, ["train", rhyme_file, "-o", str(out), "--tie-embeddings", "--ema", "0.9",
                                 "--epochs", "1", "--units", "8", "--embedding-dim", "8", "-q"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "wordlm.json").read_text())["info"]["train_config"]
    assert config["tie_embeddings"] is True and config["ema"] == 0.9
    assert json.loads(runner.invoke(cli, ["info", str(out), "--json"]).stdout)["tied_embeddings"] is True
    assert "output layer tied to the embedding" in runner.invoke(cli, ["info", str(out)]).stdout
    bad = runner.invoke(cli, ["train", rhyme_file, "-o", str(tmp_path / "n"), "--tie-embeddings", "--epochs", "1",
                              "--units", "8", "--embedding-dim", "6", "-q"])
    assert bad.exit_code == 1 and "--embedding-dim equal to --units" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "n").exists()
