"""The decoder: greedy, sampling and beam search, checked against invariants and exhaustive search.

Hand-made stubs (`TableLM`, 3-5 words) give exact, enumerable distributions; tiny trained models
check the same invariants through the real network, carried LSTM state included.
"""

import math
import warnings
import zlib

import numpy as np
import pytest

from wordlm.decoding import DecodeOptions, UnknownWordWarning, generate, generate_batch, length_normalised
from wordlm.decoding.beam import beam_search, merge_candidates, row_top
from wordlm.decoding.constraints import repeated_ngram_tokens
from wordlm.decoding.sampling import draw, shape
from wordlm.decoding.compiled import greedy_applies
from wordlm.decoding.hypothesis import prepare_prompts
from wordlm.decoding.search import decode_rows
from wordlm.decoding.state import Stepper
from wordlm.errors import InputError
from wordlm.vocab import EOS_ID, UNK_ID

from conftest import tiny_model
from stubs import TableLM

WORDS = ["a", "b", "c", "d"]


def markov(h):
    """A first-order table with distinct probabilities (no ties), `</s>` reachable from everywhere."""
    return {
        "<s>": {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.05, "</s>": 0.05},
        "a": {"b": 0.5, "c": 0.25, "</s>": 0.15, "a": 0.1},
        "b": {"c": 0.45, "</s>": 0.35, "d": 0.2},
        "c": {"</s>": 0.6, "a": 0.3, "d": 0.1},
        "d": {"d": 0.55, "a": 0.3, "</s>": 0.15},
    }[h[-1] if h[-1] in WORDS else "<s>"]


def scrambled(h):
    """Probabilities that depend on the whole history (pseudo-random, seeded by it): no structure to exploit."""
    rng = np.random.default_rng(zlib.crc32(" ".join(h).encode()))
    p = rng.dirichlet(np.ones(5))
    return dict(zip(WORDS + ["</s>"], p))


def trained(framing="sequence", **kw):
    """The tiny models of conftest (the same cache keys as test_lm.py, so they are trained once)."""
    if framing == "char":
        kw.setdefault("epochs", 5)
    if framing == "window":
        kw.setdefault("context", 2)
    return tiny_model(framing, **kw)


def scorer_logprob(lm, prompt, hyp):
    """The scorer's ln p(continuation [+ </s>] | prompt), from `lm.stream_logprobs`."""
    history = lm.history(prompt)
    ids = lm.vocab.encode(hyp.tokens) + ([EOS_ID] if hyp.eos else [])
    scores = lm.stream_logprobs([history + ids])[0]
    return float(scores[len(history) - lm.framing.first_target:].sum())


def exhaustive(lm, prompt, max_words, norm="none", alpha=1.0, min_words=0, allowed=lambda seq: True):
    """Every continuation up to max_words (complete with `</s>`, or cut at max_words), best first."""
    history = lm.history(prompt)
    found = []

    def walk(seq, logprob):
        if len(seq) == max_words:
            found.append((length_normalised(logprob, len(seq), norm, alpha), tuple(seq), logprob, False))
            return
        lp = lm.next_logprobs([history + seq])[0]
        for tok in range(lm.vocab_size):
            if not np.isfinite(lp[tok]) or tok == UNK_ID or not allowed(seq + [tok]):
                continue
            total = logprob + float(lp[tok])
            if tok == EOS_ID:
                if len(seq) >= min_words:
                    found.append((length_normalised(total, len(seq) + 1, norm, alpha), tuple(seq), total, True))
            else:
                walk(seq + [tok], total)

    walk([], 0.0)
    return sorted(found, key=lambda f: (-f[0], f[1]))


def ids_of(lm, hyp):
    return tuple(lm.vocab.encode(hyp.tokens))


# -- greedy ≡ beam 1 ≡ top-k 1 ≡ temperature 0 ---------------------------------------------------
def four_ways(lm, prompt, **kw):
    return [
        generate(lm, prompt, strategy="greedy", **kw)[0],
        generate(lm, prompt, strategy="beam", beam_size=1, **kw)[0],
        generate(lm, prompt, strategy="sample", top_k=1, seed=3, **kw)[0],
        generate(lm, prompt, strategy="sample", temperature=0, seed=3, **kw)[0],
    ]


@pytest.mark.parametrize("table", [markov, scrambled, None], ids=["markov", "scrambled", "uniform"])
@pytest.mark.parametrize("prompt", ["", "a", "d d"])
def test_greedy_beam1_topk1_temperature0_agree_on_stubs(table, prompt):
    lm = TableLM(WORDS, table)
    hyps = four_ways(lm, prompt, max_words=6)
    assert len({(h.text, h.eos) for h in hyps}) == 1, hyps
    for h in hyps:
        assert h.logprob == pytest.approx(hyps[0].logprob, abs=1e-9)
    # Greedy by hand: the most likely token each step, lower id on ties.
    history, total = lm.history(prompt), 0.0
    for _ in range(6):
        lp = lm.next_logprobs([history])[0]
        lp[UNK_ID] = -np.inf
        tok = int(np.argmax(lp))
        total += float(lp[tok])
        if tok == EOS_ID:
            break
        history.append(tok)
    assert hyps[0].logprob == pytest.approx(total)


@pytest.mark.parametrize("framing,kw", [("sequence", {}), ("line", {}), ("window", {"context": 2}),
                                        ("sequence", {"boundaries": False})])
def test_greedy_beam1_topk1_temperature0_agree_on_trained_models(framing, kw):
    lm = trained(framing, **kw)
    for prompt in ["jack", "and jill", "to fetch"]:
        hyps = four_ways(lm, prompt, max_words=8)
        assert len({h.text for h in hyps}) == 1, hyps
        for h in hyps:
            assert h.logprob == pytest.approx(scorer_logprob(lm, prompt, h), abs=1e-4)


# -- beam search == exhaustive search -------------------------------------------------------------
@pytest.mark.parametrize("table", [markov, scrambled], ids=["markov", "scrambled"])
@pytest.mark.parametrize("norm,alpha", [("none", 1.0), ("avg", 1.0), ("avg", 0.6), ("gnmt", 0.8)])
def test_wide_beam_is_exhaustive_search(table, norm, alpha):
    lm = TableLM(WORDS, table)
    every = exhaustive(lm, "a", 3, norm, alpha)
    if table is scrambled:
        assert len(every) == 1 + 4 + 16 + 64  # 0-2 words + </s>, or 3 words cut at max_words
    hyps = generate(lm, "a", strategy="beam", beam_size=len(every), num=len(every), max_words=3,
                    length_norm=norm, length_penalty=alpha)
    assert [(ids_of(lm, h), h.eos) for h in hyps] == [(f[1], f[3]) for f in every]
    np.testing.assert_allclose([h.score for h in hyps], [f[0] for f in every], rtol=0, atol=1e-9)
    np.testing.assert_allclose([h.logprob for h in hyps], [f[2] for f in every], rtol=0, atol=1e-9)
    # A top-10 from the same wide beam is the exhaustive top 10 (early stopping is exact).
    top = generate(lm, "a", strategy="beam", beam_size=len(every), num=10, max_words=3,
                   length_norm=norm, length_penalty=alpha)
    assert [ids_of(lm, h) for h in top] == [f[1] for f in every[:10]]


@pytest.mark.parametrize("norm", ["none", "gnmt"])
def test_wide_compiled_beam_is_exhaustive_search_on_a_trained_model(norm):
    lm = trained()  # 21 words: 1 + 21 + 21² continuations of at most 2 words
    every = exhaustive(lm, "jill", 2, norm)
    assert len(every) == 1 + 21 + 21 * 21
    hyps = generate(lm, "jill", strategy="beam", beam_size=len(every), num=len(every), max_words=2, length_norm=norm)
    assert len(hyps) == len(every)
    np.testing.assert_allclose([h.score for h in hyps], [f[0] for f in every], atol=1e-5)
    for h in hyps:  # the same hypothesis, or one tied with it to float32 rounding
        assert (ids_of(lm, h), h.eos) in {(f[1], f[3]) for f in every if abs(f[0] - h.score) < 1e-5}


def test_wide_beam_is_exhaustive_under_constraints():
    lm = TableLM(WORDS, scrambled)
    b = lm.vocab.token_to_id["b"]

    def ok(seq):  # forbid "b"; no repeated bigram (prompt "a c" included)
        full = lm.history("a c")[1:] + seq
        bigrams = list(zip(full, full[1:]))
        return b not in seq and len(bigrams) == len(set(bigrams))

    every = exhaustive(lm, "a c", 4, min_words=2, allowed=ok)
    hyps = generate(lm, "a c", strategy="beam", beam_size=len(every), num=len(every), max_words=4, min_words=2,
                    forbid=["b"], no_repeat_ngram=2)
    assert [(ids_of(lm, h), h.eos) for h in hyps] == [(f[1], f[3]) for f in every]


def test_narrow_beam_finds_what_greedy_misses():
    # Greedy takes "a" (0.4) then is stuck with 0.4*0.15 at best; the beam finds "</s>"-heavy paths.
    lm = TableLM(WORDS, markov)
    best = exhaustive(lm, "", 5)[0]
    beam = generate(lm, "", strategy="beam", beam_size=3, max_words=5)[0]
    assert (ids_of(lm, beam), beam.eos) == (best[1], best[3])
    assert beam.logprob >= generate(lm, "", max_words=5)[0].logprob


# -- results: logprob is the scorer's; n-best sorted, distinct; nothing after </s> ---------------------
@pytest.mark.parametrize("framing,kw", [("sequence", {}), ("line", {}), ("window", {"context": 2}), ("word", {}),
                                        ("line", {"boundaries": False}), ("char", {}), ("sequence", {"reverse": True})])
def test_every_hypothesis_logprob_is_the_scorers(framing, kw):
    lm = trained(framing, **kw)
    prompts = ["jack and", "jill came"] if framing != "char" else ["jack an", "ji"]
    for strategy, extra in [("greedy", {}), ("sample", {"num": 4, "seed": 1}), ("beam", {"beam_size": 5, "num": 5}),
                            ("beam", {"beam_size": 4, "num": 3, "length_norm": "gnmt"})]:
        for prompt, hyps in zip(prompts, generate_batch(lm, prompts, strategy=strategy, max_words=6, **extra)):
            for h in hyps:
                assert h.logprob == pytest.approx(scorer_logprob(lm, prompt, h), abs=1e-4), (strategy, h)
                assert h.score == pytest.approx(length_normalised(h.logprob, len(h.tokens) + h.eos,
                                                                  extra.get("length_norm", "none")))
                assert "</s>" not in h.tokens and "<s>" not in h.tokens and "<pad>" not in h.tokens
                assert "<unk>" not in h.tokens
                assert len(h.tokens) <= 6
                if not lm.boundaries:
                    assert not h.eos
                if lm.reverse:
                    assert h.text == " ".join(h.tokens[::-1] + prompt.split())
                elif framing != "char":
                    assert h.text == " ".join(prompt.split() + h.tokens)
                    assert h.continuation == " ".join(h.tokens)


@pytest.mark.parametrize("lm_name", ["stub", "trained"])
def test_nbest_is_sorted_and_distinct(lm_name):
    lm = TableLM(WORDS, scrambled) if lm_name == "stub" else trained()
    for norm in ["none", "avg", "gnmt"]:
        hyps = generate(lm, "a" if lm_name == "stub" else "jack", strategy="beam", beam_size=8, num=8,
                        max_words=7, length_norm=norm)
        assert len(hyps) == 8
        keys = [(-h.score, ids_of(lm, h)) for h in hyps]
        assert keys == sorted(keys)
        assert len({h.text for h in hyps}) == len(hyps)


def test_without_boundaries_generation_stops_at_max_words_or_the_end_of_the_line():
    seq = trained("sequence", boundaries=False)
    for h in generate(seq, "jack", strategy="beam", beam_size=3, num=3, max_words=9):
        assert len(h.tokens) == 9 and not h.eos
    line = trained("line", boundaries=False)  # longest training line: 7 tokens
    assert len(generate(line, "jack", max_words=20)[0].tokens) == 6
    assert len(generate(line, "jack and jill", max_words=2)[0].tokens) == 2
    assert generate(line, "jack and jill went up the hill", max_words=5)[0].tokens == []


# -- sampling -------------------------------------------------------------------------------------
def chi_square(counts, expected):
    return float(np.sum((counts - expected) ** 2 / expected))


# Upper 0.1% critical values of chi-square by degrees of freedom (fixed seeds: the test is deterministic).
CHI2_999 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467}


def first_words(lm, n, **kw):
    hyps = generate(lm, "", strategy="sample", num=n, max_words=1, **kw)
    return [h.tokens[0] if h.tokens else "</s>" for h in hyps]


@pytest.mark.parametrize("kw,expected", [
    ({"seed": 0}, {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.05, "</s>": 0.05}),
    ({"seed": 1, "temperature": 0.5}, {"a": 0.16, "b": 0.09, "c": 0.04, "d": 0.0025, "</s>": 0.0025}),
    ({"seed": 2, "top_k": 3}, {"a": 0.4, "b": 0.3, "c": 0.2}),
    ({"seed": 3, "top_p": 0.75}, {"a": 0.4, "b": 0.3, "c": 0.2}),  # mass before c is 0.7 < 0.75
    ({"seed": 4, "top_p": 0.7}, {"a": 0.4, "b": 0.3}),  # a + b reach 0.7 exactly
])
def test_sampled_first_word_frequencies_match_the_distribution(kw, expected):
    lm = TableLM(WORDS, markov)
    n = 4000
    drawn = first_words(lm, n, **kw)
    assert set(drawn) <= set(expected)
    tokens = list(expected)
    p = np.array([expected[t] for t in tokens])
    p = p / p.sum()
    counts = np.array([drawn.count(t) for t in tokens], dtype=float)
    assert (p * n).min() >= 5  # the chi-square approximation needs expected counts of 5 or more
    assert chi_square(counts, p * n) < CHI2_999[len(p) - 1]


def test_sampled_frequencies_match_a_trained_model():
    lm = trained()
    lp = lm.next_logprobs([lm.history("jack")])[0].astype(np.float64)
    lp[UNK_ID] = -np.inf
    p = np.exp(lp) / np.exp(lp).sum()
    n = 3000
    hyps = generate(lm, "jack", strategy="sample", num=n, max_words=1, seed=5)
    ids = [lm.vocab.token_to_id[h.tokens[0]] if h.tokens else EOS_ID for h in hyps]
    top = np.argsort(-p)[:3]  # three big cells + the rest
    counts = np.array([ids.count(i) for i in top] + [n - sum(ids.count(i) for i in top)], dtype=float)
    expected = np.append(p[top], 1 - p[top].sum()) * n
    assert expected.min() >= 5
    assert chi_square(counts, expected) < CHI2_999[3]


@pytest.mark.parametrize("kw", [{"top_k": 2}, {"top_k": 1}, {"top_p": 0.5}, {"top_p": 0.9, "temperature": 1.5},
                                {"top_k": 3, "top_p": 0.6, "temperature": 0.7}])
@pytest.mark.parametrize("table", [markov, scrambled], ids=["markov", "scrambled"])
def test_samples_never_leave_the_top_k_or_the_nucleus(kw, table):
    lm = TableLM(WORDS, table)
    temperature = kw.get("temperature", 1.0)
    for h in generate(lm, "", strategy="sample", num=200, max_words=5, seed=7, **kw):
        history = lm.history("")
        for tok in lm.vocab.encode(h.tokens) + ([EOS_ID] if h.eos else []):
            lp = lm.next_logprobs([history])[0].astype(np.float64)
            lp[UNK_ID] = -np.inf
            order = sorted(np.flatnonzero(np.isfinite(lp)), key=lambda i: (-lp[i], i))
            assert order.index(tok) < kw.get("top_k", len(order))
            if "top_p" in kw:
                q = np.exp(lp / temperature)
                q = q / q.sum()
                mass_before = sum(q[i] for i in order[: order.index(tok)])
                assert order.index(tok) == 0 or mass_before < kw["top_p"]
            history.append(tok)


def test_shape_and_draw_by_hand():
    lp = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]]))
    np.testing.assert_allclose(shape(lp), np.exp(lp))
    np.testing.assert_allclose(shape(lp, temperature=0.5)[0], np.array([1, 4, 9, 16]) / 30)
    np.testing.assert_allclose(shape(lp, top_k=2)[0], [0, 0, 3 / 7, 4 / 7])
    np.testing.assert_allclose(shape(lp, top_k=2)[1], [0.5, 0.5, 0, 0])  # ties: lower ids kept
    np.testing.assert_allclose(shape(lp, top_p=0.5)[0], [0, 0, 3 / 7, 4 / 7])
    np.testing.assert_allclose(shape(lp, top_p=0.01)[0], [0, 0, 0, 1])  # the top word is always kept
    probs = np.array([[0.0, 0.5, 0.0, 0.5], [0, 0, 0, 0.0]])
    assert draw(probs, np.array([0.0, 0.3])).tolist() == [1, -1]
    assert draw(probs, np.array([0.49, 0.3])).tolist() == [1, -1]
    assert draw(probs, np.array([0.5, 0.3])).tolist() == [3, -1]
    assert draw(probs, np.array([np.nextafter(1.0, 0), 0.3])).tolist() == [3, -1]


def test_same_seed_same_samples_different_seed_different_samples():
    lm = TableLM(WORDS, scrambled)
    a = generate(lm, "a", strategy="sample", num=20, max_words=6, seed=11)
    b = generate(lm, "a", strategy="sample", num=20, max_words=6, seed=11)
    c = generate(lm, "a", strategy="sample", num=20, max_words=6, seed=12)
    assert [h.text for h in a] == [h.text for h in b]
    assert [h.text for h in a] != [h.text for h in c]


# -- constraints ------------------------------------------------------------------------------------
def test_min_words_forbid_unk_and_no_repeat():
    lm = TableLM(WORDS, markov)
    for h in generate(lm, "", strategy="sample", num=100, max_words=6, min_words=3, seed=0):
        assert len(h.tokens) >= 3
    for h in generate(lm, "", strategy="beam", beam_size=6, num=6, max_words=6, forbid=["a", "C"]):
        assert not {"a", "c"} & set(h.tokens)
    with pytest.warns(UnknownWordWarning, match="zebra"):
        generate(lm, "", forbid=["zebra"])
    for h in generate(lm, "d", strategy="sample", num=50, max_words=8, no_repeat_ngram=2, seed=0):
        seq = ["d"] + h.tokens
        bigrams = list(zip(seq, seq[1:]))
        assert len(bigrams) == len(set(bigrams))
    # <unk> is never generated unless allowed.
    unk_table = lambda h: {"<unk>": 0.9, "a": 0.05, "</s>": 0.05}  # noqa: E731
    lm = TableLM(WORDS, unk_table)
    assert "<unk>" not in generate(lm, "", max_words=3)[0].tokens
    assert generate(lm, "", max_words=3, allow_unk=True)[0].tokens == ["<unk>"] * 3


def test_a_row_with_nothing_allowed_ends_where_it_is():
    lm = TableLM(WORDS, lambda h: {"a": 1.0})  # only "a" is possible, and it is forbidden
    for strategy in ["greedy", "sample", "beam"]:
        hyps = generate(lm, "b", strategy=strategy, forbid=["a"], seed=0)
        assert [(h.tokens, h.eos, h.logprob) for h in hyps] == [([], False, 0.0)]


def test_repeated_ngram_tokens():
    assert repeated_ngram_tokens([5, 6, 7, 5, 6], 3) == {7}
    assert repeated_ngram_tokens([5, 6, 7, 5], 2) == {6}
    assert repeated_ngram_tokens([5, 6], 1) == {5, 6}
    assert repeated_ngram_tokens([5], 3) == set()


def test_length_normalisation_formulas():
    assert length_normalised(-6.0, 3, "none") == -6.0
    assert length_normalised(-6.0, 3, "avg", 1.0) == -2.0
    assert length_normalised(-6.0, 4, "avg", 0.5) == -3.0
    assert length_normalised(-6.0, 1, "gnmt", 1.0) == -6.0  # (5+1)/6 = 1
    assert length_normalised(-6.0, 7, "gnmt", 1.0) == pytest.approx(-3.0)  # (5+7)/6 = 2
    assert length_normalised(-6.0, 3, "gnmt", 2.0) == pytest.approx(-6.0 / (64 / 36))
    assert length_normalised(0.0, 0, "avg") == 0.0


def test_row_top_then_merge_is_an_exact_sort_with_ties_by_row_then_token():
    rng = np.random.default_rng(0)
    for trial in range(100):
        vocab, beams, n = int(rng.integers(3, 12)), int(rng.integers(1, 5)), int(rng.integers(1, 10))
        block = rng.choice([-1.0, -2.0, -0.5, -np.inf, -3.25], size=(beams, vocab)).astype(np.float32)  # many ties
        cum = rng.choice([0.0, -1.0, -0.5], size=beams)
        values, tokens = row_top(block, n)
        for r in range(beams):  # each row: its best tokens, ties by lower id, as tf.math.top_k
            want = sorted(range(vocab), key=lambda t: (-block[r, t], t))[:n]
            assert tokens[r][np.isfinite(values[r])].tolist() == [t for t in want if np.isfinite(block[r, t])]
        rows, toks, scores = merge_candidates(values, tokens, cum, n)
        every = sorted((-(cum[r] + float(block[r, t])), r, t) for r in range(beams) for t in range(vocab)
                       if np.isfinite(block[r, t]))[:n]
        assert list(zip(rows.tolist(), toks.tolist())) == [(r, t) for _, r, t in every]
        np.testing.assert_array_equal(scores, [-s for s, _, _ in every])


@pytest.mark.parametrize("bad", [{"beam_size": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"top_k": 0},
                                 {"strategy": "beam", "num": 5, "beam_size": 4}, {"num": 2}, {"min_words": 5, "max_words": 4},
                                 {"length_norm": "max"}, {"strategy": "nucleus"}, {"no_repeat_ngram": 0}])
def test_options_are_validated(bad):
    with pytest.raises(InputError):
        generate(TableLM(WORDS), "a", **bad)


def test_options_round_trip():
    opts = DecodeOptions(strategy="beam", beam_size=6, num=3, forbid=("a", "b"), length_norm="gnmt", seed=4)
    assert DecodeOptions.from_config(opts.to_config()) == opts


def test_unknown_prompt_words_warn_and_read_as_unk():
    lm = TableLM(WORDS, scrambled)
    with pytest.warns(UnknownWordWarning, match="prompt 1: .*'zebra'"):
        hyp = generate(lm, "a zebra", max_words=3)[0]
    assert hyp.text.startswith("a zebra ")
    assert lm.history("a zebra") == [2, lm.vocab.token_to_id["a"], UNK_ID]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generate(lm, "a <unk> b", max_words=1)  # a literal <unk> is no surprise: no warning


def test_empty_prompt_without_boundaries_is_an_error_naming_it():
    with pytest.raises(InputError, match="p.txt:3: empty prompt"):
        generate_batch(TableLM(WORDS, boundaries=False), ["a", ""], names=["p.txt:2", "p.txt:3"])


# -- batching and carried state -------------------------------------------------------------------------
@pytest.mark.parametrize("lm_name", ["stub", "sequence", "line", "window"])
@pytest.mark.parametrize("strategy,kw", [("greedy", {}), ("sample", {"num": 3, "seed": 9, "top_p": 0.9}),
                                         ("beam", {"beam_size": 4, "num": 3})])
def test_batched_prompts_equal_one_by_one(lm_name, strategy, kw):
    lm = TableLM(WORDS, scrambled) if lm_name == "stub" else trained(lm_name)
    prompts = ["a", "", "b c d", "a"] if lm_name == "stub" else ["jack", "", "jill came tumbling", "to fetch a"]
    batched = generate_batch(lm, prompts, strategy=strategy, max_words=7, **kw)
    for prompt, together in zip(prompts, batched):
        alone = generate(lm, prompt, strategy=strategy, max_words=7, **kw)
        assert [h.text for h in together] == [h.text for h in alone]
        np.testing.assert_allclose([h.logprob for h in together], [h.logprob for h in alone], atol=1e-5)


@pytest.mark.parametrize("framing", ["sequence", "line", "char"])
def test_carried_state_gives_the_logprobs_of_rereading(framing):
    lm = trained(framing)
    prompts = ["jack and", "to", "jack fell down and broke his"] if framing != "char" else ["ja", "t", "jack fe"]
    histories = [lm.history(p) for p in prompts]
    stepper = Stepper(lm, histories)
    assert stepper.incremental
    rng = np.random.default_rng(0)
    for step in range(8):  # the line model outgrows its input (6 tokens) and switches to re-reading
        np.testing.assert_allclose(np.nan_to_num(stepper.logprobs, neginf=-99),
                                   np.nan_to_num(lm.next_logprobs(stepper.histories), neginf=-99), atol=1e-5)
        parents = rng.integers(0, len(stepper.histories), size=4)  # reorder, duplicate, drop rows
        stepper.advance(parents, rng.integers(4, lm.vocab_size, size=4))
    assert stepper.incremental == (framing != "line")


@pytest.mark.parametrize("framing", ["sequence", "line", "char"])
def test_the_compiled_prompt_reader_equals_stepping_token_by_token(framing):
    lm = trained(framing)
    prompts = ["jack and jill went up", "", "to", "jill came tumbling after jack"]
    histories = [lm.history(p) for p in prompts if lm.history(p)]
    fast_lp, fast_state = lm.start(histories)
    for h, lp, state in zip(histories, fast_lp, fast_state):  # one row at a time, one token a call
        slow_state = np.zeros((1, lm.state_size), dtype=np.float32)
        for token in h:
            slow_lp, slow_state = lm.step(slow_state, [token])
        np.testing.assert_allclose(state[None], slow_state, atol=1e-6)
        np.testing.assert_allclose(np.nan_to_num(lp[None], neginf=-99), np.nan_to_num(slow_lp, neginf=-99), atol=1e-6)


@pytest.mark.parametrize("framing,kw", [("sequence", {}), ("line", {}), ("char", {}), ("line", {"boundaries": False}),
                                        ("sequence", {"boundaries": False})])
@pytest.mark.parametrize("opts", [{}, {"min_words": 4, "forbid": ("and", "jill")}, {"max_words": 2},
                                  {"length_norm": "avg", "allow_unk": True}])
def test_the_compiled_greedy_loop_equals_the_stepwise_search(framing, kw, opts):
    lm = trained(framing, **kw)
    texts = ["jack", "to fetch a pail of", "jill came", "jack zebra"] if framing != "char" else ["ja", "to fe", "j"]
    if lm.boundaries:
        texts.append("")
    options = DecodeOptions(**{"max_words": 9, **opts}).validate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownWordWarning)
        prompts = prepare_prompts(lm, texts, options.max_words)
    fast = decode_rows(lm, prompts, options)
    slow = decode_rows(lm, prompts, options, compiled=False)
    for a, b in zip(fast, slow):
        assert [(h.text, h.eos) for h in a] == [(h.text, h.eos) for h in b]
        assert a[0].logprob == pytest.approx(b[0].logprob, abs=1e-5)
        assert a[0].score == pytest.approx(b[0].score, abs=1e-5)
    applies = greedy_applies(lm, prompts, options)
    assert applies == (framing != "line" or not lm.boundaries or options.max_words == 2)  # 9 words outgrow the line


@pytest.mark.parametrize("framing,kw", [("sequence", {}), ("char", {}), ("line", {"boundaries": False})])
@pytest.mark.parametrize("opts", [{}, {"min_words": 3, "forbid": ("and",), "length_norm": "gnmt"}])
def test_compiled_numpy_and_rereading_beam_sources_give_the_same_hypotheses(framing, kw, opts):
    lm = trained(framing, **kw)
    texts = ["jack", "to fetch", "jill came tumbling"] if framing != "char" else ["ja", "to f"]
    options = DecodeOptions(strategy="beam", beam_size=6, num=6, max_words=6, **opts).validate()
    prompts = prepare_prompts(lm, texts, options.max_words)
    runs = [beam_search(lm, prompts, options, source) for source in ("auto", "numpy", "reread")]
    for a, b, c in zip(*runs):
        assert [h.text for h in a] == [h.text for h in b] == [h.text for h in c]
        np.testing.assert_allclose([h.logprob for h in a], [h.logprob for h in c], atol=1e-5)
        np.testing.assert_allclose([h.logprob for h in b], [h.logprob for h in c], atol=1e-5)


def test_one_model_call_per_step_for_all_beams_and_prompts():
    lm = TableLM(WORDS, scrambled)
    lm.calls = 0
    generate_batch(lm, ["a", "b", "c d"], strategy="beam", beam_size=5, num=2, max_words=4, min_words=4)
    assert lm.calls == 4  # one batched call per step (4 steps; the last words are never read)


# -- the tutorial -----------------------------------------------------------------------------------------
def test_the_tutorials_line_model_generates_its_line():
    """Model 2 of the tutorial (line framing, no boundaries, Embedding 10, LSTM 50, 500 epochs, seed 4)."""
    from wordlm.demo import TUTORIAL_SIZE, rhyme_path
    from wordlm.training import TrainConfig, train

    config = TrainConfig(framing="line", boundaries=False, size=TUTORIAL_SIZE, epochs=500, batch_size=32, seed=4)
    lm = train([rhyme_path()], config, verbose=0)
    greedy = generate(lm, "jack")[0]  # max_words 20: the line ends at its 7th token
    assert greedy.text == "jack and jill went up the hill"
    beam = generate(lm, "jack", strategy="beam", beam_size=3, num=3, max_words=6)
    assert beam[0].text == "jack and jill went up the hill"
    assert beam[0].logprob == pytest.approx(greedy.logprob)
    assert beam[0].logprob == pytest.approx(scorer_logprob(lm, "jack", beam[0]), abs=1e-4)


def test_exhaustive_helper_counts_every_continuation():
    lm = TableLM(WORDS[:2])  # uniform over <unk>, </s>, a, b; <unk> is never generated
    every = exhaustive(lm, "", 2)
    assert [(f[1], f[3]) for f in every][:1] == [((), True)]  # "" then </s>: 1/4
    assert len(every) == 1 + 2 + 4  # </s>; a </s>, b </s>; four 2-word lines cut at max_words
    np.testing.assert_allclose(sorted(math.exp(f[2]) for f in every), [1 / 16] * 6 + [1 / 4], rtol=1e-6)


@pytest.mark.parametrize("vocab,chunk,k", [(37, 5, 3), (37, 6, 16), (40, 4, 12), (23, 7, 23), (1000, None, 16),
                                           (2000, None, 16), (2000, 3, 40)])
def test_two_stage_top_k_is_top_k_exactly(vocab, chunk, k):
    """Values and indices, ties (to the lower index) and −inf entries included."""
    import tensorflow as tf

    from wordlm.inference.search_loops import top_k_rows

    rng = np.random.default_rng(vocab + k)
    x = rng.integers(-6, 3, size=(9, vocab)).astype(np.float32)  # many ties
    x[x < -4] = -np.inf
    x[0] = -np.inf  # nothing allowed
    x[1, : vocab - 2] = -np.inf  # fewer finite entries than k
    x[2] = 1.0  # all tied
    want_v, want_i = tf.math.top_k(x, k=k)
    got_v, got_i = top_k_rows(tf.constant(x), k, vocab, chunk)
    np.testing.assert_array_equal(got_v.numpy(), want_v.numpy())
    finite = np.isfinite(want_v.numpy())
    np.testing.assert_array_equal(got_i.numpy()[finite], want_i.numpy()[finite])
    assert got_i.numpy().min() >= 0 and got_i.numpy().max() < vocab


@pytest.mark.parametrize("opts", [{}, {"min_words": 3, "forbid": ("and",), "length_norm": "gnmt"},
                                  {"length_norm": "avg", "length_penalty": 0.7, "num": 3}])
def test_the_compiled_beam_with_a_two_stage_top_k_gives_the_same_hypotheses(monkeypatch, opts):
    """The tiny model's vocabulary is below `TWO_STAGE_MIN_VOCAB`: force the two stages (chunks of 4)."""
    from wordlm.inference import search_loops

    lm = trained()
    texts = ["jack", "to fetch", "jill came tumbling"]
    options = DecodeOptions(**{"strategy": "beam", "beam_size": 6, "num": 6, "max_words": 6, **opts}).validate()
    prompts = prepare_prompts(lm, texts, options.max_words)
    one = beam_search(lm, prompts, options, "auto")
    plain = search_loops.top_k_rows
    monkeypatch.setattr(search_loops, "top_k_rows", lambda x, k, vocab, chunk=None: plain(x, k, vocab, 4))
    lm.reset_compiled()
    try:
        two = beam_search(lm, prompts, options, "auto")
    finally:
        lm.reset_compiled()
    for a, b in zip(one, two):
        assert [(h.text, h.eos, h.logprob, h.score) for h in a] == [(h.text, h.eos, h.logprob, h.score) for h in b]
