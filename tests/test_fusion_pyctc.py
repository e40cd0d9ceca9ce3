"""pyctcdecode with a wordlm model inside: exact LM contributions in the real decoder, α = 0 leaves
the search alone, one model call per frame, bounded cache, mixtures, upper-case labels."""

import math

import numpy as np
import pytest

pytest.importorskip("pyctcdecode")

from pyctcdecode import BeamSearchDecoderCTC  # noqa: E402
from pyctcdecode.alphabet import Alphabet  # noqa: E402

from conftest import tiny_model  # noqa: E402
from wordlm.fusion import FusionLM  # noqa: E402
from wordlm.fusion.pyctc import FusionDecoderCTC, WordlmLanguageModel, build_ctcdecoder  # noqa: E402
from wordlm.fusion.simulate import emissions, greedy  # noqa: E402

LABELS = ["", " ", *"abcdefghijklmnopqrstuvwxyz'"]
SENTENCES = ["jack and jill went up the hill", "to fetch a pail of water", "and jill came tumbling after"]
LN10 = math.log(10)


@pytest.fixture(scope="module")
def lm():
    return tiny_model("sequence")


def utterances(seed=0, **noise):
    rng = np.random.default_rng(seed)
    return [emissions(s, LABELS, rng, **noise) for s in SENTENCES]


def lm_part(lm, text, alpha, beta, offset=-10.0):
    """What the adapter should add for a final beam: α·(Σ full_scores + ln10·offset per OOV) + β·words."""
    words = text.split()
    scores = lm.full_scores(text)
    oovs = sum(1 for t in scores if t.oov)
    return alpha * (sum(t.logprob for t in scores) + LN10 * offset * oovs) + beta * len(words)


@pytest.mark.parametrize("lookahead", [False, True])
def test_every_final_beam_carries_exactly_alpha_full_scores_plus_beta(lm, lookahead):
    alpha, beta = 0.7, 0.4
    decoder = build_ctcdecoder(LABELS, lm, alpha=alpha, beta=beta, lookahead=lookahead)
    checked = 0
    for x in utterances(sub=0.3, flat=0.5):
        for text, _, _, logit, combined in decoder.decode_beams(x, beam_width=16):
            assert combined - logit == pytest.approx(lm_part(lm, text, alpha, beta), abs=1e-5)
            checked += 1
    assert checked > 10


def test_plain_decoder_with_the_adapter_gives_the_same_beams(lm):
    plain = BeamSearchDecoderCTC(Alphabet.build_alphabet(LABELS), WordlmLanguageModel(lm, 0.6, 0.2))
    fused = build_ctcdecoder(LABELS, lm, alpha=0.6, beta=0.2)
    assert isinstance(fused, FusionDecoderCTC)
    for x in utterances(1, sub=0.3):
        a, b = plain.decode_beams(x, beam_width=8), fused.decode_beams(x, beam_width=8)
        assert [t for t, *_ in a] == [t for t, *_ in b]
        np.testing.assert_allclose([r[-1] for r in a], [r[-1] for r in b], atol=1e-6)
        for text, _, _, logit, combined in a:
            assert combined - logit == pytest.approx(lm_part(lm, text, 0.6, 0.2), abs=1e-5)


def test_alpha_zero_leaves_ctc_output_unchanged(lm):
    decoder = build_ctcdecoder(LABELS, lm, alpha=0.0, beta=0.0, unk_score_offset=0.0)
    no_lm = build_ctcdecoder(LABELS)
    for x in utterances(2, flat=0.0):
        assert decoder.decode(x, beam_width=8) == no_lm.decode(x, beam_width=8) == greedy(x, LABELS)


def test_one_model_call_per_frame_and_one_for_the_end(lm):
    decoder = build_ctcdecoder(LABELS, lm, alpha=0.5, beta=1.0)
    fusion = decoder.fusion
    for x in utterances(3, sub=0.3, flat=0.5):
        fusion.clear()
        frames_calling = []
        flush = fusion.flush
        fusion.flush = lambda: (frames_calling.append(fusion.calls), flush())
        decoder.decode_beams(x, beam_width=32)
        del fusion.flush
        # each flush is one extend (two only at the end: the last words' states, then their </s>)
        assert len(frames_calling) <= len(x) + 1
        assert fusion.calls <= len(frames_calling) + 1


def test_oov_words_get_unk_and_the_offset(lm):
    x = emissions("jack zebra went", LABELS, np.random.default_rng(0), sub=0.0, flat=0.0, drop_space=0.0)
    decoder = build_ctcdecoder(LABELS, lm, alpha=1.0, beta=0.0, unk_score_offset=-2.0)
    beams = {b[0]: b for b in decoder.decode_beams(x, beam_width=16)}
    assert "jack zebra went" in beams
    for text, _, _, logit, combined in beams.values():
        assert combined - logit == pytest.approx(lm_part(lm, text, 1.0, 0.0, -2.0), abs=1e-5)
    fusion = decoder.fusion
    assert fusion.word_id("zebra") == lm.unk_id and fusion.word_id("jack") == lm.word_ids(["jack"])[0]
    assert decoder._language_model.score_partial_token("zeb") == -2.0
    assert decoder._language_model.score_partial_token("jil") == 0.0


def test_cache_is_bounded_and_does_not_change_results(lm):
    small = build_ctcdecoder(LABELS, lm, alpha=0.6, beta=0.5, cache_mb=0.0001)
    large = build_ctcdecoder(LABELS, lm, alpha=0.6, beta=0.5)
    fusion = small.fusion
    for x in utterances(4, sub=0.3, flat=0.5):
        a, b = small.decode_beams(x, beam_width=16), large.decode_beams(x, beam_width=16)
        assert [t for t, *_ in a] == [t for t, *_ in b]
        np.testing.assert_allclose([r[-1] for r in a], [r[-1] for r in b], atol=1e-5)
        assert fusion.cached <= fusion.max_entries == 16
    assert large.fusion.hits > 0  # "jack", "and jill" ... seen again


def test_prefix_mass_is_the_sum_over_words_with_that_prefix(lm):
    fusion = FusionLM(lm)
    root = fusion.start()
    lp = fusion.logprobs(root).astype(np.float64)
    words = [w for w in fusion.vocabulary() if w.startswith("j")]
    assert words
    expected = np.log(np.exp(lp[lm.word_ids(words)]).sum())
    assert fusion.prefix_logprob(root, "j") == pytest.approx(expected, abs=1e-6)
    assert fusion.prefix_logprob(root, "qqq") == -math.inf


def test_upper_case_labels_are_the_model_words(lm):
    labels = ["", " ", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ'"]
    x = emissions("jack and jill", labels, np.random.default_rng(5), sub=0.2)
    decoder = build_ctcdecoder(labels, lm, alpha=0.8, beta=0.3)
    for text, _, _, logit, combined in decoder.decode_beams(x, beam_width=8):
        assert text == text.upper()
        assert combined - logit == pytest.approx(lm_part(lm, text.lower(), 0.8, 0.3), abs=1e-5)
    assert decoder._language_model.score_partial_token("JIL") == 0.0


def test_reset_params_like_pyctcdecode(lm):
    decoder = build_ctcdecoder(LABELS, lm)
    decoder.reset_params(alpha=0.1, beta=2.0, unk_score_offset=-3.0)
    model = decoder._language_model
    assert (model.alpha, model.beta, model.unk_score_offset) == (0.1, 2.0, -3.0)
    with pytest.raises(ValueError):
        model.reset_params(alpha=1)


def test_final_beams_are_an_nbest_list_that_rerank_reads(lm, tmp_path):
    from wordlm.fusion.nbest import pyctcdecode_record, write_jsonl
    from wordlm.nbest import read_nbest

    decoder = build_ctcdecoder(LABELS, lm, alpha=0.5, beta=0.5)
    xs = utterances(6, sub=0.3)
    records = [pyctcdecode_record(f"u{i}", decoder.decode_beams(x, beam_width=8), ref) for i, (x, ref)
               in enumerate(zip(xs, SENTENCES))]
    path = tmp_path / "fused.jsonl"
    assert write_jsonl(records, path) == 3
    utts = list(read_nbest(str(path), "auto", required={"ctc": 1.0}))
    assert [u.ref for u in utts] == SENTENCES
    for u, r in zip(utts, records):
        assert [h.text for h in u.hyps] == [h["text"] for h in r["hyps"]]
        for h in u.hyps:
            assert h.fields["score"] == pytest.approx(h.fields["ctc"] + h.fields["lm"])
    reranked = lm.rerank(utts, am={"ctc": 1.0}, lm_weight=0.5, word_bonus=0.5)
    assert len(reranked) == 3


def test_simulated_emissions_are_seeded_posteriors():
    a = emissions("jack and jill", LABELS, np.random.default_rng(7))
    b = emissions("jack and jill", LABELS, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.exp(a.astype(np.float64)).sum(axis=1), 1.0, atol=1e-5)
    clean = emissions("jack and jill", LABELS, np.random.default_rng(7), sub=0.0, drop_space=0.0, flat=0.0)
    assert greedy(clean, LABELS) == "jack and jill"
