"""flashlight-text's lexicon decoder with a wordlm LM (torchaudio's CTCDecoderLM), torch-free: exact
LM scores for every final hypothesis, α = 0 = the lexicon search alone, one model call per frame."""

import numpy as np
import pytest

pytest.importorskip("flashlight.lib.text.decoder")

from conftest import tiny_model  # noqa: E402
from wordlm.fusion.flashlight import WordlmFlashlightLM, build_lexicon_decoder, write_lexicon  # noqa: E402
from wordlm.fusion.simulate import emissions  # noqa: E402

LABELS = ["", " ", *"abcdefghijklmnopqrstuvwxyz'"]
TOKENS = ["-", "|", *"abcdefghijklmnopqrstuvwxyz'"]
SENTENCES = ["jack and jill went up the hill", "to fetch a pail of water", "and jill came tumbling after"]


@pytest.fixture(scope="module")
def lm():
    return tiny_model("sequence")


def utterances(seed=0, **noise):
    """Simulated emissions closed by a word separator frame (flashlight's lexicon spells "w o r d |")."""
    rng = np.random.default_rng(seed)
    out = []
    for s in SENTENCES:
        x = emissions(s, LABELS, rng, **noise)
        end = np.full((1, len(LABELS)), np.log(0.01 / (len(LABELS) - 1)), dtype=np.float32)
        end[0, 1] = np.log(0.99)
        out.append(np.concatenate([x, end]))
    return out


def test_every_final_hypothesis_scores_exactly_full_scores(lm):
    alpha, beta = 0.8, 0.5
    fused = build_lexicon_decoder(lm, TOKENS, beam_size=16, lm_weight=alpha, word_score=beta)
    checked = 0
    for x in utterances(sub=0.3, flat=0.4):
        for r in fused.decode(x):
            text = fused.text(r)
            assert r.lmScore == pytest.approx(lm.score(text), abs=1e-5)
            assert r.score == pytest.approx(r.emittingModelScore + alpha * r.lmScore + beta * len(text.split()),
                                            abs=1e-4)
            checked += 1
    assert checked > 10


def test_alpha_zero_is_the_lexicon_search_alone(lm):
    fused = build_lexicon_decoder(lm, TOKENS, beam_size=8, lm_weight=0.0)
    for x, ref in zip(utterances(2, sub=0.0, flat=0.0, drop_space=0.0), SENTENCES):
        assert fused.text(fused.decode(x)[0]) == ref


def test_one_model_call_per_frame(lm):
    fused = build_lexicon_decoder(lm, TOKENS, beam_size=32, lm_weight=0.5, word_score=1.0)
    fusion = fused.fusion
    for x in utterances(3, sub=0.3, flat=0.5):
        fusion.clear()
        fused.decode(x)
        assert 1 <= fusion.calls <= len(x) + 1


def test_decoder_word_list_of_another_order(lm, tmp_path):
    """torchaudio numbers words by its lexicon file: the LM maps those indices to the model's ids."""
    words = write_lexicon(lm, tmp_path / "lexicon.txt", TOKENS)
    lines = (tmp_path / "lexicon.txt").read_text().splitlines()
    assert lines[0].split()[0] == words[0] and lines[0].endswith(" |")
    flm = WordlmFlashlightLM(lm, list(reversed(words)) + ["zebra"])
    state = flm.start(False)
    i = len(words) - 1 - words.index("jack")
    s1, lp = flm.score(state, i)
    assert lp == pytest.approx(lm.full_scores("jack")[0].logprob, abs=1e-5)
    s2, lp_unk = flm.score(s1, len(words))  # "zebra": not the model's, read as <unk>
    _, end = flm.finish(s2)
    assert lp + lp_unk + end == pytest.approx(lm.score("jack zebra"), abs=1e-5)
    assert flm.score(state, i)[0] is s1  # the same word from the same state is the same state
