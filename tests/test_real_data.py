"""Real data, end to end (`-m slow`; reads ../shared/data): the paths users take cannot rot unnoticed.

A few minutes of training on Penn Treebank, then PTB test scored through the CLI and the API (the
same numbers), and the ATIS n-best lists tuned on dev and reranked on test. Bounds are sanity
bounds for a briefly trained model, not benchmark figures (those are in benchmarks/).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from wordlm.cli import cli

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not DATA.is_dir(), reason="the project's data folder ../shared/data is not here")]


def _train(runner, text, out, seconds, *extra):
    result = runner.invoke(cli, ["train", str(text), "-o", str(out), "--epochs", "100", "--time-limit", str(seconds),
                                 "--units", "128", "--embedding-dim", "128", "--batch-size", "32", "-q", *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def ptb_model(tmp_path_factory):
    return _train(CliRunner(), DATA / "ptb" / "ptb.train.txt.gz", tmp_path_factory.mktemp("ptb") / "m", 150,
                  "--tokenizer", "whitespace", "--valid", str(DATA / "ptb" / "ptb.valid.txt"))


def test_ptb_test_perplexity_is_sane_and_the_cli_equals_the_api(ptb_model):
    import wordlm

    test = DATA / "ptb" / "ptb.test.txt"
    result = CliRunner().invoke(cli, ["perplexity", str(ptb_model), str(test), "--json"])
    assert result.exit_code == 0, result.output
    cli_summary = json.loads(result.stdout)
    # PTB's own `<unk>` tokens are counted as OOVs and scored as <unk> (KenLM's convention), so nothing is skipped
    unks = test.read_text().split().count("<unk>")
    assert cli_summary["sentences"] == 3761 and cli_summary["words"] == 78669 and cli_summary["oovs"] == unks == 4794
    assert cli_summary["scored"] == 78669 + 3761
    assert 60 < cli_summary["ppl"] < 600  # uniform over 10k words would be 10,000
    api = wordlm.load(ptb_model).perplexity(test)
    assert math.isclose(api.ppl, cli_summary["ppl"], rel_tol=1e-9)
    info = json.loads(CliRunner().invoke(cli, ["info", str(ptb_model), "--json"]).stdout)
    # PTB's 10k vocabulary is 9,999 word types plus the end of sentence; its `<unk>` is wordlm's own <unk>
    assert info["vocab_words"] == 9998 and info["vocab_size"] == 9998 + 4 and info["valid_ppl"] < 1000


def test_atis_nbest_tuned_on_dev_and_reranked_on_test(tmp_path):
    runner = CliRunner()
    model = _train(runner, DATA / "lm-text" / "atis.train.txt", tmp_path / "atis", 90)
    dev, test = DATA / "nbest" / "atis" / "dev.json", DATA / "nbest" / "atis" / "test.json"
    tuned = tmp_path / "tuned.json"
    result = runner.invoke(cli, ["tune", str(model), str(dev), "-o", str(tuned), "--am", "am_score=1",
                                 "--lm-weights", "0:2:0.25", "--word-bonuses", "-1:1:0.5"])
    assert result.exit_code == 0, result.output
    weights = json.loads(tuned.read_text())
    assert weights["wer"] <= weights["first_pass_wer"] + 1e-9  # α = 0 is in the grid
    assert weights["oracle_wer"] <= weights["wer"]
    result = runner.invoke(cli, ["rerank", str(model), str(test), "--weights", str(tuned), "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 809 and all(r["text"] is not None for r in records)
    report = result.stderr
    reranked = float(next(line for line in report.splitlines() if line.strip().startswith("reranked")).split()[1])
    assert reranked < 9.5  # first pass 8.396, oracle 5.312: a sane LM stays near or below the first pass
