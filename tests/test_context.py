"""Running text (`--context-tokens N`): lines read after the lines before them, in training and scoring.

Invariants: the packed training batches hold exactly the lines' inputs and targets; the compiled
in-context scores equal stepping the LSTM token by token; a line's context is the most recent whole
lines within the budget; batching and N too small for any context change nothing; the CLI agrees
with the Python API and refuses what it cannot do with one-line errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import RHYME_LINES, tiny_model
from test_streaming import one_pass, write_corpus

from wordlm import saving, scoring
from wordlm.cli import cli
from wordlm.framings import make_framing
from wordlm.running_text import in_context, pack_lines
from wordlm.text import Tokenizer
from wordlm.training.batches import RecurrentPlan, make_plan
from wordlm.training.corpus import encode_corpus, token_lines
from wordlm.vocab import BOS_ID, EOS_ID, Vocabulary

TEXT = RHYME_LINES + ["", "jack fell down the hill", "and jill came after", "up the hill went jack and jill"]
LINES = [t for t in TEXT if t]  # what training reads (it skips blank lines; the scorer scores them as `</s>`)


@pytest.fixture(scope="module")
def ctx_lm():
    return tiny_model("sequence", epochs=20, context_tokens=24)


def streams_of(lm, lines):
    return [lm.framing.line(lm.vocab.encode(lm.tokens(t))) for t in lines if lm.tokens(t)]


def test_pack_lines_keeps_order_and_budget():
    lengths = np.array([5, 9, 3, 30, 2, 2, 8, 4])  # stream lengths: n - 1 inputs each
    bounds = pack_lines(lengths, 12)
    assert bounds[0] == 0 and bounds[-1] == len(lengths) and np.all(np.diff(bounds) >= 1)
    for a, b in zip(bounds[:-1], bounds[1:]):
        inputs = int((lengths[a:b] - 1).sum())
        assert inputs <= 12 or b - a == 1  # a longer stream is a run alone
        if b < len(lengths):
            assert inputs + lengths[b] - 1 > 12  # greedy: the next stream did not fit
    assert list(bounds) == [0, 2, 3, 4, 8]


@pytest.mark.parametrize("budget", [6, 12, 24, 40, 1000])
def test_training_context_is_a_suffix_of_the_scoring_context(budget):
    """One rule (running_text.py): in training a line is read after the lines before it in its run;
    the scorer gives it the longest run of previous lines that fits. The first is always a suffix of
    the second, and neither exceeds the budget."""
    rng = np.random.default_rng(budget)
    lines = [[BOS_ID, *rng.integers(4, 30, size=int(n)).tolist(), EOS_ID] for n in rng.integers(1, 9, size=200)]
    runs = pack_lines(np.array([len(s) for s in lines]), budget)
    full, skips = in_context(lines, budget)
    for a, b in zip(runs[:-1], runs[1:]):
        for i in range(a, b):
            trained = [t for s in lines[a:i] for t in s[:-1]]  # the run's inputs before line i
            scored = full[i][: skips[i]]
            assert scored[len(scored) - len(trained):] == trained if trained else True
            assert len(trained) <= len(scored)
            if skips[i]:
                assert skips[i] + len(lines[i]) - 1 <= budget


def test_packed_batches_hold_each_line_once_with_its_targets(tmp_path):
    path = write_corpus(tmp_path / "c.txt", lines=80, longest=12)
    framing = make_framing("sequence", True, 1)
    tok = Tokenizer("keras")
    vocab = Vocabulary.build(token_lines([str(path)], tok))
    corpus = encode_corpus([str(path)], tok, vocab, framing, False, tmp_path / "enc")
    lines = [framing.line(vocab.encode(t)) for t in token_lines([str(path)], tok)]
    plan = make_plan(corpus, framing, batch_size=4, max_batch_tokens=10_000, fixed_shapes=False, context_tokens=40)
    assert isinstance(plan, RecurrentPlan) and plan.predicted == sum(len(s) - 1 for s in lines)
    runs = pack_lines(corpus.lengths, 40)
    want = set()
    for a, b in zip(runs[:-1], runs[1:]):
        x = [t for s in lines[a:b] for t in s[:-1]]
        y = [t for s in lines[a:b] for t in s[1:]]
        want.add((tuple(x), tuple(y)))
    got = set()
    for x, y in one_pass(plan, corpus):
        for xr, yr in zip(x, y):
            n = int(np.count_nonzero(xr))
            assert not np.any(xr[n:]) and not np.any(yr[n:])  # post-padded
            got.add((tuple(xr[:n].tolist()), tuple(yr[:n].tolist())))
    assert got == want and len(want) == len(runs) - 1
    # Every run starts a line: inputs <s> a1 … an <s> b1 …, targets a1 … an </s> b1 … </s>.
    for x, y in want:
        assert x[0] == BOS_ID and y[-1] == EOS_ID and x.count(BOS_ID) == y.count(EOS_ID)


def test_context_is_the_latest_whole_lines_within_the_budget():
    previous = [[BOS_ID, 5, 6], [BOS_ID, 7], [BOS_ID, 8, 9, 10]]
    assert scoring.context_ids(previous, 3, 100) == [BOS_ID, 5, 6, BOS_ID, 7, BOS_ID, 8, 9, 10]
    assert scoring.context_ids(previous, 3, 9) == [BOS_ID, 7, BOS_ID, 8, 9, 10]  # 6 + 3 ≤ 9
    assert scoring.context_ids(previous, 3, 8) == [BOS_ID, 8, 9, 10]
    assert scoring.context_ids(previous, 3, 6) == []  # the latest line does not fit: nothing older is used
    assert scoring.context_ids([], 3, 100) == []


def test_scores_in_context_equal_stepping_the_lstm(ctx_lm):
    lm = ctx_lm
    full, skips = scoring.in_context(streams_of(lm, TEXT), 24)
    assert any(skips) and skips[0] == 0
    for stream, skip, got in zip(full, skips, lm.stream_logprobs(full, skips=skips)):
        lp, state = lm.start([[stream[0]]])
        want = []
        for t in range(1, len(stream)):
            if t - 1 >= skip:
                want.append(lp[0, stream[t]])
            lp, state = lm.step(state, np.array([stream[t]]))
        np.testing.assert_allclose(got, want, atol=2e-5)
        assert len(got) == len(stream) - 1 - skip


def test_context_changes_scores_and_batching_does_not(ctx_lm):
    lm = ctx_lm
    numbered = list(enumerate(TEXT, start=1))
    alone = [s for _, s in scoring.score_stream(lm, numbered)]
    one = [s for _, s in scoring.score_stream(lm, numbered, batch_size=1, context_tokens=24)]
    many = [s for _, s in scoring.score_stream(lm, numbered, batch_size=100, context_tokens=24)]
    assert [s.logprob for s in one] == pytest.approx([s.logprob for s in many], abs=1e-5)
    assert one[0].logprob == alone[0].logprob  # the first line has no context
    assert any(abs(a.logprob - b.logprob) > 1e-3 for a, b in zip(alone[1:], one[1:]))
    assert [s.scored for s in one] == [s.scored for s in alone]  # the same tokens are counted
    # A budget no previous line fits in is the independent-lines score.
    tight = [s for _, s in scoring.score_stream(lm, numbered, context_tokens=3)]
    assert [s.logprob for s in tight] == pytest.approx([s.logprob for s in alone], abs=1e-5)


def test_validation_perplexity_is_the_scorers_in_context(ctx_lm):
    from wordlm.training import perplexity

    lm = ctx_lm
    summary = scoring.summarize(lm, [s for _, s in scoring.score_stream(lm, enumerate(LINES), context_tokens=24)])
    assert perplexity(lm, streams_of(lm, LINES), context_tokens=24) == pytest.approx(summary.ppl, rel=1e-6)


def test_cli_trains_and_scores_running_text(tmp_path):
    corpus = tmp_path / "rhyme.txt"
    corpus.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["train", str(corpus), "-o", str(out), "--epochs", "3", "--units", "8",
                                      "--embedding-dim", "8", "--context-tokens", "20", "--valid", str(corpus), "-q"])
    assert result.exit_code == 0, result.output
    lm = saving.load(out)
    assert lm.info["train_config"]["context_tokens"] == 20
    info = CliRunner().invoke(cli, ["info", str(out)])
    assert "running text (20 tokens)" in info.stdout.splitlines()[0]
    ppl = CliRunner().invoke(cli, ["perplexity", str(out), str(corpus), "--context-tokens", "20", "--json"])
    assert ppl.exit_code == 0, ppl.output
    import json

    assert json.loads(ppl.stdout)["ppl"] == pytest.approx(lm.info["best_valid_ppl"], rel=1e-5)
    # Each file is its own text: two copies score as twice one copy.
    twice = CliRunner().invoke(cli, ["perplexity", str(out), str(corpus), str(corpus), "--context-tokens", "20", "--json"])
    assert json.loads(twice.stdout)["logprob"] == pytest.approx(2 * json.loads(ppl.stdout)["logprob"], rel=1e-9)


@pytest.mark.parametrize("args, code, message", [
    (["train", "{corpus}", "-o", "{out}", "--framing", "word", "--context-tokens", "8"], 2, "recurrent framing"),
    (["train", "{corpus}", "-o", "{out}", "--reverse", "--context-tokens", "8"], 2, "not with --reverse"),
    (["perplexity", "{model}", "{corpus}", "--context-tokens", "8", "--shard", "0/2"], 2, "not with --shard"),
    (["perplexity", "{model}", "{corpus}", "--context-tokens", "8", "--no-bos"], 1, "--no-bos"),
    (["score", "{word}", "{corpus}", "--context-tokens", "8"], 1, "recurrent model"),
])
def test_what_context_cannot_do_is_a_one_line_error(tmp_path, args, code, message):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TEXT) + "\n", encoding="utf-8")
    saving.save(tiny_model("sequence"), tmp_path / "model")
    saving.save(tiny_model("word"), tmp_path / "word")
    paths = {"corpus": corpus, "out": tmp_path / "new", "model": tmp_path / "model", "word": tmp_path / "word"}
    result = CliRunner().invoke(cli, [a.format(**paths) for a in args])
    assert result.exit_code == code, result.output
    assert message in result.stderr and result.stdout == ""
    assert not (tmp_path / "new").exists()


def test_sampled_softmax_refuses_what_it_cannot_train(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    for extra, code, message in ((["--framing", "word"], 2, "--sampled-softmax needs"),  # usage: before any work
                                 (["--sampled-softmax", "500"], 1, "must be below the vocabulary size")):
        args = ["train", str(corpus), "-o", str(tmp_path / "m"), "--epochs", "1", "--sampled-softmax", "4", *extra]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == code and message in result.stderr, result.output
