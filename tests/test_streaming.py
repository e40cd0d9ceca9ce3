"""Streaming pipeline: the batches hold exactly the framing's examples, bucketed, seeded, sharded."""

from __future__ import annotations

import gzip
from collections import Counter

import numpy as np
import pytest

from wordlm.errors import InputError
from wordlm.framings import LineFraming, make_framing
from wordlm.text import Tokenizer
from wordlm.training.batches import FixedPlan, RecurrentPlan, make_plan
from wordlm.training.corpus import encode_corpus, token_lines
from wordlm.vocab import PAD_ID, Vocabulary

WORDS = "jack jill went up the hill to fetch a pail of water fell down and broke his crown came tumbling after".split()


def write_corpus(path, lines=60, seed=0, longest=30):
    rng = np.random.default_rng(seed)
    text = [" ".join(rng.choice(WORDS, size=rng.integers(1, longest))) for _ in range(lines)]
    text.insert(5, "")  # a blank line: skipped
    text.append("Jack ZEBRA")  # an uppercase word and, for a vocabulary built without it, an OOV
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def encoded(path, framing, tmp_path, vocab=None):
    tok = Tokenizer("keras")
    vocab = vocab or Vocabulary.build(token_lines([str(path)], tok))
    corpus = encode_corpus([str(path)], tok, vocab, framing, False, tmp_path / "enc")
    lines = [vocab.encode(t) for t in token_lines([str(path)], tok)]
    if isinstance(framing, LineFraming):
        framing.fit_length(lines)
    return corpus, lines, vocab


def one_pass(plan, corpus, seed=0, shard=0, num_shards=1):
    return list(plan.batches(corpus, np.random.default_rng(seed), shard, num_shards))


FIXED = [("word", True, 1), ("word", False, 1), ("window", True, 2), ("window", False, 3), ("line", True, 1),
         ("line", False, 1)]


@pytest.mark.parametrize("name,boundaries,context", FIXED)
def test_fixed_framing_batches_hold_exactly_the_in_memory_examples(tmp_path, name, boundaries, context):
    framing = make_framing(name, boundaries, context)
    corpus, lines, _ = encoded(write_corpus(tmp_path / "c.txt"), framing, tmp_path)
    plan = make_plan(corpus, framing, batch_size=7, max_batch_tokens=10**6)
    batches = one_pass(plan, corpus)
    assert len(batches) == plan.num_batches
    got = Counter()
    for x, y in batches:
        assert x.shape == (7, framing.input_length) and y.shape == (7,)
        for row, target in zip(x, y):
            if target != PAD_ID:  # filler rows of the last batch have <pad> targets
                got[(tuple(row), int(target))] += 1
    expected = Counter((tuple(c), t) for c, t in framing.examples(lines))
    assert got == expected
    assert plan.examples == sum(expected.values()) == framing.count_examples(lines)[0]


@pytest.mark.parametrize("name,boundaries,fixed", [("sequence", True, True), ("sequence", False, True),
                                                   ("char", True, True), ("sequence", True, False)])
def test_recurrent_batches_hold_exactly_the_in_memory_streams(tmp_path, name, boundaries, fixed):
    framing = make_framing(name, boundaries)
    path = write_corpus(tmp_path / "c.txt")
    tok = Tokenizer("char" if name == "char" else "keras")
    vocab = Vocabulary.build(token_lines([str(path)], tok))
    corpus = encode_corpus([str(path)], tok, vocab, framing, False, tmp_path / "enc")
    lines = [vocab.encode(t) for t in token_lines([str(path)], tok)]
    plan = make_plan(corpus, framing, batch_size=4, max_batch_tokens=10**6, fixed_shapes=fixed)
    batches = one_pass(plan, corpus)
    assert len(batches) == plan.num_batches
    got = Counter()
    for x, y in batches:
        assert x.shape == y.shape
        if fixed:
            assert (x.shape[0], x.shape[1]) in plan.shapes
        else:  # cut to the longest stream, no filler rows
            assert y[:, -1].any() and y[:, 0].all()
        for xr, yr in zip(x, y):
            n = int(np.count_nonzero(yr))
            if n:
                assert not xr[n:].any() and not yr[n:].any()  # post-padded, nothing after the end
                got[(tuple(xr[:n]), tuple(yr[:n]))] += 1
    expected = Counter((tuple(a), tuple(b)) for a, b in framing.examples(lines))
    assert got == expected
    assert (plan.examples, plan.predicted) == framing.count_examples(lines)


def test_same_seed_same_batches_and_each_pass_reshuffles(tmp_path):
    framing = make_framing("sequence")
    corpus, _, _ = encoded(write_corpus(tmp_path / "c.txt"), framing, tmp_path)
    plan = make_plan(corpus, framing, 4, 10**6)
    a, b, c = one_pass(plan, corpus, 1), one_pass(plan, corpus, 1), one_pass(plan, corpus, 2)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))
    assert not all(p[0].shape == q[0].shape and np.array_equal(p[0], q[0]) for p, q in zip(a, c))


def test_bucketing_keeps_padding_small_and_bounds_batch_tokens():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 200, size=2000)
    plan = RecurrentPlan(lengths, batch_size=32, max_batch_tokens=1024)
    assert plan.padded_tokens / plan.predicted < 1.25  # unbucketed padding would be ~2x
    for rows, length in plan.shapes:
        assert rows * length <= 1024 or rows == 1
    assert sum(-(-len(idx) // rows) for _, rows, idx in plan.buckets) == plan.num_batches


def test_rows_are_a_multiple_of_the_replicas():
    plan = RecurrentPlan(np.array([5, 9, 40, 41, 300]), batch_size=5, max_batch_tokens=100, multiple=2)
    assert all(rows % 2 == 0 and rows >= 2 for rows, _ in plan.shapes)
    assert FixedPlan(np.array([10, 10]), 1, 2, batch_size=5, multiple=2).rows == 6


@pytest.mark.parametrize("name,fixed", [("sequence", True), ("sequence", False), ("window", True)])
def test_shards_split_every_global_batch(tmp_path, name, fixed):
    framing = make_framing(name)
    corpus, _, _ = encoded(write_corpus(tmp_path / "c.txt"), framing, tmp_path)
    plan = make_plan(corpus, framing, 6, 10**6, multiple=2, fixed_shapes=fixed)
    whole = one_pass(plan, corpus, seed=3)
    parts = [one_pass(plan, corpus, seed=3, shard=k, num_shards=2) for k in range(2)]
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *parts):
        assert np.array_equal(np.concatenate([x0, x1]), x) and np.array_equal(np.concatenate([y0, y1]), y)


def test_gzip_and_plain_encode_alike_and_ids_stay_on_disk(tmp_path):
    plain = write_corpus(tmp_path / "c.txt")
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    framing = make_framing("sequence")
    tok = Tokenizer("keras")
    vocab = Vocabulary.build(token_lines([str(plain)], tok))
    a = encode_corpus([str(plain)], tok, vocab, framing, False, tmp_path / "a")
    b = encode_corpus([str(gz)], tok, vocab, framing, False, tmp_path / "b")
    assert isinstance(a.ids, np.memmap)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.starts, b.starts)
    assert (a.lines, a.tokens) == (61, sum(len(t) for t in token_lines([str(plain)], tok)))
    assert [list(s) for s in a.streams()] == [framing.line(vocab.encode(t)) for t in token_lines([str(plain)], tok)]


def test_oovs_counted_and_reverse_reverses(tmp_path):
    path = write_corpus(tmp_path / "c.txt")
    tok = Tokenizer("keras")
    vocab = Vocabulary(WORDS)  # no "zebra"
    framing = make_framing("sequence")
    corpus = encode_corpus([str(path)], tok, vocab, framing, True, tmp_path / "r")
    assert corpus.oovs == 1
    last = list(corpus.streams())[-1]
    assert vocab.decode(last) == ["<s>", "<unk>", "jack", "</s>"]


def test_empty_corpus_and_too_short_lines_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    framing = make_framing("sequence", boundaries=False)
    with pytest.raises(InputError, match="empty.txt: no words found"):
        encode_corpus([str(empty)], Tokenizer(), Vocabulary([]), framing, False, tmp_path / "e")
    one = tmp_path / "one.txt"
    one.write_text("jack\njill\n", encoding="utf-8")
    corpus = encode_corpus([str(one)], Tokenizer(), Vocabulary(["jack", "jill"]), framing, False, tmp_path / "o")
    with pytest.raises(InputError, match="no training examples"):
        make_plan(corpus, framing, 4, 100)


def test_dataset_repeats_with_a_new_order_each_pass(tmp_path):
    from wordlm.training.batches import make_dataset

    framing = make_framing("sequence")
    corpus, _, _ = encoded(write_corpus(tmp_path / "c.txt", lines=12), framing, tmp_path)
    plan = make_plan(corpus, framing, 4, 10**6)
    ds = make_dataset(corpus, plan, True, seed=5)
    got = [(x.numpy(), y.numpy()) for x, y in ds.take(2 * plan.num_batches)]
    first, second = got[: plan.num_batches], got[plan.num_batches :]
    # Each pass is one whole epoch (every predicted token once), in a different order.
    assert sum(int(np.count_nonzero(y)) for _, y in first) == plan.predicted
    assert sum(int(np.count_nonzero(y)) for _, y in second) == plan.predicted
    assert [x.tolist() for x, _ in first] != [x.tolist() for x, _ in second]
