"""Scoring library: conventions checked by hand on stubs, and every fast path against a slow one."""

import math

import numpy as np
import pytest

from wordlm.inference import streams as inference_streams
from wordlm import scoring
from wordlm.errors import InputError
from wordlm.scoring import Options, Summary, score_sentences, summarize
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID

from conftest import tiny_model
from stubs import TableLM

SENTENCES = ["jack and jill went up the hill", "jill came tumbling", "a pail of zebra water", "jack", ""]


_UNTRAINED = {}


def untrained(framing, boundaries=True, context=2, reverse=False):
    """A model with the rhyme's vocabulary and random weights: invariants need no training (fast)."""
    key = (framing, boundaries, context, reverse)
    if key not in _UNTRAINED:
        from wordlm.demo import rhyme_path
        from wordlm.model import ModelSize
        from wordlm.text import Tokenizer
        from wordlm.training import TrainConfig, new_language_model, read_tokenized

        config = TrainConfig(framing=framing, boundaries=boundaries, context=context, size=ModelSize(8, 16, 1, 0.0),
                             seed=0, reverse=reverse)
        _UNTRAINED[key] = new_language_model(read_tokenized([rhyme_path()], Tokenizer(), reverse), config)
    return _UNTRAINED[key]


def framings():
    """(id, model): every framing, with and without boundaries."""
    return {
        "sequence": lambda: tiny_model("sequence"),
        "sequence-2-layers": lambda: tiny_model("sequence", units=8, layers=2),
        "line": lambda: tiny_model("line"),
        "window": lambda: tiny_model("window", context=2),
        "word": lambda: tiny_model("word"),
        "char": lambda: tiny_model("char", epochs=5),
        "sequence-no-boundaries": lambda: tiny_model("sequence", boundaries=False),
        "window-no-boundaries": lambda: untrained("window", boundaries=False, context=2),
    }


FRAMINGS = list(framings())


def model(name):
    return framings()[name]()


# -- hand-computed numbers ----------------------------------------------------------------------
def test_uniform_stub_gives_minus_n_plus_one_log_v():
    lm = TableLM(["a", "b", "c"])
    v = len(lm.predictable)  # <unk>, </s>, a, b, c
    assert v == 5
    texts = ["a b c", "c", "", "a zz b b"]
    scores = score_sentences(lm, texts)
    for text, s in zip(texts, scores):
        n = len(text.split())
        assert s.logprob == pytest.approx(-(n + 1) * math.log(v), rel=1e-6)
        assert s.words == n and s.scored == n + 1 and s.ppl == pytest.approx(v, rel=1e-6)
    summary = summarize(lm, scores)
    assert (summary.sentences, summary.words, summary.oovs) == (4, 8, 1)
    assert summary.ppl == pytest.approx(v, rel=1e-6)
    assert summary.ppl1 == pytest.approx(math.exp(12 * math.log(v) / 8), rel=1e-6)


SRILM_WORDS = ["i've", "got", "a", "bad", "feeling", "</s>"]
SRILM_LOG10 = [-2.91887, -0.259637, -1.11394, -4.21002, -5.54323, -1.10537]


def srilm_stub():
    """A stub that gives SRILM's own probabilities to "i've got a bad feeling" (the rest to "other")."""

    def table(history):
        p = 10 ** SRILM_LOG10[len(history) - 1]
        return {SRILM_WORDS[len(history) - 1]: p, "other": 1 - p}

    return TableLM(SRILM_WORDS[:-1] + ["other"], table)


def test_srilm_example_reproduces_its_perplexities():
    lm = srilm_stub()
    (s,) = score_sentences(lm, ["i've got a bad feeling"])
    np.testing.assert_allclose(s.logprobs / math.log(10), SRILM_LOG10, rtol=1e-6)
    summary = summarize(lm, [s])
    assert (summary.sentences, summary.words, summary.oovs) == (1, 5, 0)
    assert summary.logprob / math.log(10) == pytest.approx(-15.1511, abs=5e-5)
    # SRILM printed its figures from unrounded terms; the six-digit terms carry ~1e-5 relative error.
    assert summary.ppl == pytest.approx(335.102, abs=2e-3)
    assert summary.ppl1 == pytest.approx(1072.05, abs=1e-2)
    # The formula alone, on the terms in float64 (no stub, no float32): exp(-L/(W+S)), exp(-L/W).
    exact = Summary(sentences=1, words=5, scored=6, ends=1,
                    fixed=round(sum(SRILM_LOG10) * math.log(10) * scoring.FIXED_POINT))
    assert exact.ppl == pytest.approx(335.102, abs=2e-3) and exact.ppl1 == pytest.approx(1072.05, abs=1e-2)


def _history_stub():
    """A stub whose next-token distribution depends on the whole history (to see what it was)."""
    seen = []

    def table(history):
        seen.append(tuple(history))
        if history[-1] == "<unk>":
            return {"b": 0.5, "c": 0.25, "</s>": 0.25}
        return {"a": 0.4, "b": 0.2, "c": 0.1, "<unk>": 0.2, "</s>": 0.1}

    return TableLM(["a", "b", "c"], table), seen


def test_oov_unk_scores_the_unknown_word_as_unk():
    lm, _ = _history_stub()
    (s,) = score_sentences(lm, ["a zz b"], Options(oov="unk"))
    np.testing.assert_allclose(s.logprobs, np.log([0.4, 0.2, 0.5, 0.1]), rtol=1e-6)
    assert s.oov == [False, True, False, False] and (s.words, s.oovs, s.scored, s.ends) == (3, 1, 4, 1)


def test_oov_skip_keeps_unk_in_the_history_but_adds_and_counts_nothing():
    lm, seen = _history_stub()
    (s,) = score_sentences(lm, ["a zz b"], Options(oov="skip"))
    assert np.isnan(s.logprobs[1])
    assert s.logprob == pytest.approx(math.log(0.4) + math.log(0.5) + math.log(0.1), rel=1e-6)
    assert ("<s>", "a", "<unk>") in seen  # b was predicted after <unk>: the OOV stayed in the history
    assert (s.words, s.oovs, s.scored) == (3, 1, 3)
    summary = summarize(lm, [s], Options(oov="skip"))
    # DESIGN: ppl = exp(-L / (W - O_skipped + S)), ppl1 = exp(-L / (W - O_skipped))
    assert summary.ppl == pytest.approx(math.exp(-s.logprob / (3 - 1 + 1)))
    assert summary.ppl1 == pytest.approx(math.exp(-s.logprob / (3 - 1)))


def test_no_bos_makes_the_first_word_context_only_and_no_eos_drops_the_end():
    lm, seen = _history_stub()
    (s,) = score_sentences(lm, ["a b"], Options(bos=False))
    assert np.isnan(s.logprobs[0]) and s.context == 1
    assert ("a",) in seen and not any(h[0] == "<s>" for h in seen)
    assert s.logprob == pytest.approx(math.log(0.2 * 0.1), rel=1e-6)
    assert (s.words, s.scored, s.ends) == (2, 2, 1)
    (s,) = score_sentences(lm, ["a b"], Options(eos=False))
    assert s.tokens == ["a", "b"] and s.ends == 0 and s.logprob == pytest.approx(math.log(0.4 * 0.2), rel=1e-6)
    summary = summarize(lm, [s], Options(eos=False))
    assert summary.ppl == summary.ppl1 == pytest.approx(math.exp(-s.logprob / 2))
    # An empty line without <s> has nothing to predict </s> from: nothing is scored.
    (s,) = score_sentences(lm, [""], Options(bos=False))
    assert s.tokens == ["</s>"] and s.scored == 0 and s.logprob == 0.0 and s.ppl is None


def test_empty_line_scores_just_the_end_marker():
    lm, _ = _history_stub()
    for text in ("", "   "):
        (s,) = score_sentences(lm, [text])
        assert s.tokens == ["</s>"] and s.logprob == pytest.approx(math.log(0.1), rel=1e-6) and s.words == 0


def test_no_boundary_model_reads_the_first_token_as_context():
    lm = model("window-no-boundaries")
    (s,) = score_sentences(lm, ["jack and jill went"])
    assert s.tokens == ["jack", "and", "jill", "went"]  # no </s>
    assert np.isnan(s.logprobs[:2]).all() and not np.isnan(s.logprobs[2:]).any()  # first_target = 2
    assert (s.scored, s.ends, s.context) == (2, 0, 2)


# -- every framing against an independent step-by-step computation -------------------------------
def _by_hand(lm, stream):
    """ln p(stream[t] | stream[:t]) for t >= first: contexts built here, the Keras model called directly."""
    from wordlm.framings import LineFraming, SequenceFraming, WindowFraming, WordFraming

    fr, out = lm.framing, []
    for t in range(fr.first_target, len(stream)):
        prefix = list(stream[:t])
        if isinstance(fr, SequenceFraming):  # sequence and char: the whole prefix, read the last output
            x = prefix
        elif isinstance(fr, WordFraming):
            x = prefix[-1:]
        elif isinstance(fr, WindowFraming):
            x = ([PAD_ID] * fr.n + prefix)[-fr.n:]
        else:
            assert isinstance(fr, LineFraming)
            x = ([PAD_ID] * fr.input_length + prefix)[-fr.input_length:]
        logits = np.asarray(lm.keras_model(np.array([x], dtype=np.int32), training=False), dtype=np.float64)
        logits = logits[0, -1] if fr.recurrent else logits[0]
        logits[lm.never_predicted()] = -np.inf
        logz = np.log(np.exp(logits - logits.max()).sum()) + logits.max()
        out.append(logits[stream[t]] - logz)
    return np.array(out)


@pytest.mark.parametrize("name", FRAMINGS)
def test_scores_equal_a_step_by_step_computation_of_the_contexts(name):
    lm = model(name)
    texts = SENTENCES[:4] if lm.tokenizer.mode != "char" else ["jack and", "hill", ""]
    for text, s in zip(texts, score_sentences(lm, texts)):
        want = _by_hand(lm, lm.stream(text))
        got = s.logprobs[~np.isnan(s.logprobs)]
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert s.logprob == pytest.approx(want.sum(), abs=1e-5)


@pytest.mark.parametrize("name", FRAMINGS)
def test_per_token_scores_sum_to_the_sentence_score(name):
    lm = model(name)
    for options in (Options(), Options(oov="skip"), Options(bos=False, eos=False)):
        for s in score_sentences(lm, SENTENCES, options):
            assert s.logprob == pytest.approx(float(np.nansum(s.logprobs)), abs=1e-9)
            assert s.scored == int((~np.isnan(s.logprobs)).sum())


@pytest.mark.parametrize("name", ["sequence", "line", "window", "char"])
def test_a_sentence_scores_the_same_alone_and_in_a_ragged_batch_of_1000(name):
    lm = model(name)
    rng = np.random.default_rng(0)
    words = lm.vocab.id_to_token[4:] + ["zebra"]
    sep = "" if lm.tokenizer.mode == "char" else " "
    ragged = [sep.join(rng.choice(words, size=rng.integers(0, 25))) for _ in range(1000)]
    target = "jack and jill went up the hill"
    alone = score_sentences(lm, [target])[0]
    batched = score_sentences(lm, ragged[:500] + [target] + ragged[500:])[500]
    assert abs(alone.logprob - batched.logprob) < 1e-5
    np.testing.assert_allclose(alone.logprobs, batched.logprobs, atol=1e-5)


@pytest.mark.parametrize("name", ["sequence", "sequence-2-layers", "char", "sequence-no-boundaries"])
def test_packed_forward_passes_equal_next_logprobs_at_every_prefix(name):
    lm = model(name)
    rng = np.random.default_rng(3)
    streams = [list(rng.integers(4, lm.vocab_size, size=n)) for n in rng.integers(0, 30, size=90)]
    streams = [lm.framing.line(s) for s in streams]
    first = lm.framing.first_target
    prefixes = [(i, t) for i, s in enumerate(streams) for t in range(first, len(s))]
    lp = lm.next_logprobs([streams[i][:t] for i, t in prefixes])  # the masked Keras layers, one row a prefix
    want = [np.zeros(max(0, len(s) - first)) for s in streams]
    for k, (i, t) in enumerate(prefixes):
        want[i][t - first] = lp[k, streams[i][t]]
    for max_batch in (1, 7, 128):
        for a, b in zip(lm.stream_logprobs(streams, batch_size=max_batch), want):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("name", ["sequence", "sequence-2-layers", "char"])
def test_long_lines_read_in_chunks_equal_one_forward_pass(name):
    lm = model(name)
    rng = np.random.default_rng(1)
    sep = "" if lm.tokenizer.mode == "char" else " "
    texts = [sep.join(rng.choice(lm.vocab.id_to_token[4:], size=n)) for n in (1, 7, 40, 95)]
    whole = score_sentences(lm, texts)
    for max_logits in (lm.vocab_size * 9, lm.vocab_size):  # chunks of 9 positions, of 1
        ids = [lm.stream(t) for t in texts]
        chunked = inference_streams.stream_logprobs(lm, ids, max_logits=max_logits)
        for a, b in zip(whole, chunked):
            np.testing.assert_allclose(a.logprobs, b, atol=1e-5)


def test_a_10000_word_line_scores_in_bounded_chunks():
    lm = model("sequence")
    words = lm.vocab.id_to_token[4:]
    text = " ".join(words[i % len(words)] for i in range(10_000))
    (chunked,) = inference_streams.stream_logprobs(lm, [lm.stream(text)], max_logits=lm.vocab_size * 4096)
    (s,) = score_sentences(lm, [text])  # 10,001 positions: over the default budget too, so chunked as well
    assert s.words == 10_000 and s.scored == 10_001 and np.isfinite(s.logprob)
    assert s.logprob == pytest.approx(float(chunked.sum()), abs=1e-3)


# -- summaries ------------------------------------------------------------------------------------
def test_merged_shard_summaries_equal_the_unsharded_summary_exactly():
    lm = model("sequence")
    rng = np.random.default_rng(2)
    words = lm.vocab.id_to_token[4:] + ["zebra"]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(200)]
    for options in (Options(), Options(oov="skip", bos=False)):
        scores = score_sentences(lm, texts, options)
        whole = summarize(lm, scores, options)
        for n in (2, 3, 7):
            merged = Summary.from_json(summarize(lm, scores[0::n], options).to_json())
            for k in range(1, n):
                merged.merge(Summary.from_json(summarize(lm, scores[k::n], options).to_json()))
            assert merged.to_json() == whole.to_json()  # bit for bit
        assert whole.logprob == pytest.approx(sum(s.logprob for s in scores), abs=1e-6 * len(scores))


def test_summaries_scored_differently_do_not_merge():
    lm = model("sequence")
    a = summarize(lm, score_sentences(lm, SENTENCES), Options())
    b = summarize(lm, score_sentences(lm, SENTENCES, Options(oov="skip")), Options(oov="skip"))
    with pytest.raises(InputError, match="scored differently"):
        a.merge(b)
    with pytest.raises(InputError, match="not a wordlm summary"):
        Summary.from_json({"sentences": 1}, "x.json:1")
    bad = a.to_json()
    bad["words"] = -3
    with pytest.raises(InputError, match="x.json:1: malformed summary"):
        Summary.from_json(bad, "x.json:1")


def test_character_model_reports_word_and_character_perplexity():
    lm = model("char")
    texts = ["jack and jill", "up the hill", ""]
    scores = score_sentences(lm, texts)
    assert [s.words for s in scores] == [3, 3, 0] and [s.chars for s in scores] == [13, 11, 0]
    summary = summarize(lm, scores).to_json()
    total = sum(s.logprob for s in scores)
    assert summary["chars"] == 24 and summary["scored"] == 24 + 3
    assert summary["ppl"] == pytest.approx(math.exp(-total / (6 + 3)), rel=1e-6)  # exp(-L/(W+S))
    assert summary["ppl1"] == pytest.approx(math.exp(-total / 6), rel=1e-6)
    assert summary["char_ppl"] == pytest.approx(math.exp(-total / 27), rel=1e-6)
    assert summary["bpc"] == pytest.approx(-total / math.log(2) / 27, rel=1e-6)


# -- next words, conditional scores ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["sequence", "line", "window", "word", "char", "sequence-no-boundaries"])
def test_next_word_probabilities_sum_to_one_and_include_end_and_unk(name):
    lm = model(name)
    ranked = scoring.next_words(lm, "jack and")
    assert sum(math.exp(lp) for _, lp in ranked) == pytest.approx(1.0, abs=1e-5)
    tokens = [t for t, _ in ranked]
    assert "<unk>" in tokens and ("</s>" in tokens) == lm.boundaries and "<s>" not in tokens
    assert [lp for _, lp in ranked] == sorted((lp for _, lp in ranked), reverse=True)
    assert scoring.next_words(lm, "jack and", top=3) == ranked[:3]


@pytest.mark.parametrize("name", ["sequence", "line", "window", "word", "sequence-no-boundaries"])
def test_continuation_logprobs_chain_the_next_word_distributions(name):
    lm = model(name)
    prompt, candidates = "jack and", ["jill", "jill went up", "zebra", "the hill </s>"]
    got = scoring.continuation_logprobs(lm, prompt, candidates)
    for cand, lp in zip(candidates, got):
        history, want = lm.history(prompt), 0.0
        for tok in cand.split():
            i = EOS_ID if tok == "</s>" and lm.boundaries else lm.vocab.encode([tok])[0]
            want += float(lm.next_logprobs([history])[0, i])
            history = history + [i]
        assert lp == pytest.approx(want, abs=1e-5), cand


def test_conditional_scoring_rejects_bad_candidates_and_prompts():
    lm = model("sequence")
    with pytest.raises(InputError, match="empty candidate"):
        scoring.continuation_logprobs(lm, "jack", [" "])
    with pytest.raises(InputError, match="can only be its last token"):
        scoring.continuation_logprobs(lm, "jack", ["</s> jill"])
    with pytest.raises(InputError, match="at least one word"):
        scoring.next_words(model("sequence-no-boundaries"), "")


# -- fill in the blank ---------------------------------------------------------------------------
FILL = {
    "sequence": ["and jill came ___ after", "___ and jill", "jack fell ___"],
    "sequence-2-layers": ["jack ___ down"],
    "line": ["and jill came ___ after", "jack and jill went up the hill and ___ down the hill"],  # 2nd > max length
    "window": ["and jill came ___ after", "___"],
    "word": ["to fetch a ___ of water"],
    "sequence-no-boundaries": ["___ and jill", "jack ___"],
    "window-no-boundaries": ["jack ___ jill went", "jack and ___ went up"],
}


@pytest.mark.parametrize("name", list(FILL))
def test_fill_equals_scoring_every_filled_sentence(name):
    lm = model(name)
    for sentence in FILL[name]:
        ranked = scoring.fill(lm, sentence, top=None)
        assert len(ranked) == lm.vocab.num_words
        assert sum(f.prob for f in ranked) == pytest.approx(1.0, abs=1e-9)
        by_scoring = {s.text: s.logprob for s in score_sentences(lm, [f.text for f in ranked])}
        for f in ranked:
            assert f.text == sentence.replace("___", f.word)
            assert f.logprob == pytest.approx(by_scoring[f.text], abs=1e-5), (sentence, f.word)
        assert [f.logprob for f in ranked] == sorted((f.logprob for f in ranked), reverse=True)


def test_fill_batches_the_candidates_instead_of_one_call_each():
    lm = TableLM([f"w{i}" for i in range(50)])
    scoring.fill(lm, "w1 ___ w2 w3", top=5)
    assert lm.calls <= 3  # the prefix once, then every candidate's rows together (50 < CHUNK)


def test_fill_on_a_character_model_fills_one_character():
    lm = model("char")
    ranked = scoring.fill(lm, "jack and j___ll", top=None)
    assert {f.word for f in ranked} == set(lm.vocab.id_to_token[4:])
    by_scoring = {s.text: s.logprob for s in score_sentences(lm, [f.text for f in ranked])}
    for f in ranked:
        assert f.logprob == pytest.approx(by_scoring[f.text], abs=1e-5)


def test_fill_with_a_backward_model_averages_the_two_sentence_logprobs():
    fwd, bwd = model("sequence"), untrained("sequence", reverse=True)
    assert bwd.reverse
    ranked = scoring.fill(fwd, "and jill came ___ after", top=None, backward=bwd)
    texts = [f.text for f in ranked]
    for f, a, b in zip(ranked, score_sentences(fwd, texts), score_sentences(bwd, texts)):
        assert f.forward == pytest.approx(a.logprob, abs=1e-5) and f.backward == pytest.approx(b.logprob, abs=1e-5)
        assert f.logprob == pytest.approx((a.logprob + b.logprob) / 2, abs=1e-5)
    with pytest.raises(InputError, match="--reverse"):
        scoring.fill(fwd, "jack ___", backward=fwd)


def test_fill_needs_exactly_one_blank():
    lm = model("sequence")
    for bad in ("no blank here", "___ and ___"):
        with pytest.raises(InputError, match="exactly one ___"):
            scoring.fill(lm, bad)


def test_a_backward_model_scores_lines_right_to_left():
    bwd = untrained("sequence", reverse=True)
    (s,) = score_sentences(bwd, ["jack and jill"])
    assert s.tokens == ["jill", "and", "jack", "</s>"]
    assert s.logprob == pytest.approx(_by_hand(bwd, [BOS_ID, *bwd.vocab.encode(["jill", "and", "jack"]), EOS_ID]).sum(),
                                      abs=1e-5)
