"""Mixtures (`wordlm.mixture`, `wordlm mix`): the interpolation against hand-computed values, the
OOV rule, next-word distributions, EM, the file, bad mixtures, and every MODEL command taking MIX.json.

The n-gram fixture is a bigram ARPA written here whose probabilities are round numbers:
p(jack) .2, p(jill) .4, p(</s>) .3, p(<unk>) .1 (unigrams); p(jack | <s>) .5, p(jill | jack) .8,
p(</s> | jill) .6 (bigrams); back-off weights chosen so every history's distribution sums to 1
(<s>: .5/.8, jack: .2/.6, jill: .4/.7).
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from stubs import TableLM

pytest.importorskip("kenlm", reason="the kenlm module (pip install 'wordlm[ngram]') is needed for n-gram components")

import helpers  # noqa: E402
from wordlm.errors import ModelError  # noqa: E402
from wordlm.mixture import MixtureSpec, ComponentSpec, read, write  # noqa: E402
from wordlm.mixture.components import CharModel, NgramModel, WordModel  # noqa: E402
from wordlm.mixture.em import em_weights, heldout_logprobs  # noqa: E402
from wordlm.mixture.model import Mixture  # noqa: E402

ARPA = """\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-1.0\t<unk>
-99\t<s>\t{bo_s}
{eos}\t</s>
{jack}\tjack\t{bo_jack}
{jill}\tjill\t{bo_jill}

\\2-grams:
{s_jack}\t<s> jack
{jack_jill}\tjack jill
{jill_eos}\tjill </s>

\\end\\
""".format(bo_s=math.log10(0.5 / 0.8), eos=math.log10(0.3), jack=math.log10(0.2), bo_jack=math.log10(0.2 / 0.6),
           jill=math.log10(0.4), bo_jill=math.log10(0.4 / 0.7), s_jack=math.log10(0.5),
           jack_jill=math.log10(0.8), jill_eos=math.log10(0.6))

# p_ngram(word | previous word), by hand
P_NGRAM = {
    ("<s>", "jack"): 0.5, ("<s>", "jill"): 0.5 / 0.8 * 0.4, ("<s>", "</s>"): 0.5 / 0.8 * 0.3, ("<s>", "<unk>"): 0.5 / 0.8 * 0.1,
    ("jack", "jill"): 0.8, ("jack", "jack"): 0.2 / 0.6 * 0.2, ("jack", "</s>"): 0.2 / 0.6 * 0.3,
    ("jack", "<unk>"): 0.2 / 0.6 * 0.1,
    ("jill", "</s>"): 0.6, ("jill", "jack"): 0.4 / 0.7 * 0.2, ("jill", "jill"): 0.4 / 0.7 * 0.4,
    ("jill", "<unk>"): 0.4 / 0.7 * 0.1,
}


@pytest.fixture(scope="module")
def arpa(tmp_path_factory):
    path = tmp_path_factory.mktemp("ngram") / "tiny.arpa"
    path.write_text(ARPA)
    return path


@pytest.fixture(scope="module")
def ngram(arpa):
    return NgramModel(str(arpa))


def uniform(words):
    """A word model that gives each of its predictable tokens (<unk>, </s>, the words) 1 / count."""
    return WordModel(TableLM(words), "uniform")


def test_ngram_component_matches_the_arpa_by_hand(ngram):
    assert ngram.words() == ["jack", "jill"] and ngram.order == 2
    got = ngram.token_logprobs([["jack", "jill"], ["jill", "jack"]])
    want = [[P_NGRAM[("<s>", "jack")], P_NGRAM[("jack", "jill")], P_NGRAM[("jill", "</s>")]],
            [P_NGRAM[("<s>", "jill")], P_NGRAM[("jill", "jack")], P_NGRAM[("jack", "</s>")]]]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.log(w), atol=1e-5)
    # the distribution after each history sums to 1 over jack, jill, </s>, <unk>
    rows = ngram.next_logprobs([[], ["jack"], ["jill"]], ["jack", "jill", "</s>", "<unk>"])
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-5)


def test_interpolation_against_hand_computed_values(ngram):
    m = Mixture([uniform(["jack", "jill"]), ngram], [0.3, 0.7])
    # uniform: 1/4 over <unk>, </s>, jack, jill
    want = [0.3 / 4 + 0.7 * P_NGRAM[("<s>", "jack")], 0.3 / 4 + 0.7 * P_NGRAM[("jack", "jill")],
            0.3 / 4 + 0.7 * P_NGRAM[("jill", "</s>")]]
    got = [t.logprob for t in m.full_scores("jack jill")]
    np.testing.assert_allclose(got, np.log(want), atol=1e-5)
    assert m.score("jack jill") == pytest.approx(float(np.sum(np.log(want))), abs=1e-5)


def test_a_word_one_component_does_not_know_gets_zero_from_it(ngram):
    # "hill" is in the uniform model's vocabulary only: the n-gram gives it 0 (SRILM), not p(<unk>)
    m = Mixture([uniform(["jack", "jill", "hill"]), ngram], [0.5, 0.5])
    assert "hill" in m.vocab
    scores = m.full_scores("jack hill")
    assert scores[1].logprob == pytest.approx(math.log(0.5 / 5), abs=1e-6) and not scores[1].oov
    # after "hill" the n-gram backs off to its unigrams (hill is <unk> in its history)
    assert scores[2].logprob == pytest.approx(math.log(0.5 / 5 + 0.5 * 0.3), abs=1e-5)


def test_oov_is_unk_for_every_component_and_skip_leaves_it_out(ngram):
    m = Mixture([uniform(["jack", "jill"]), ngram], [0.5, 0.5])
    s = m.score_lines(["jack zebra"])[0]
    assert s.oov == [False, True, False] and s.oovs == 1
    assert s.logprobs[1] == pytest.approx(math.log(0.5 / 4 + 0.5 * P_NGRAM[("jack", "<unk>")]), abs=1e-5)
    skipped = m.score_lines(["jack zebra"], oov="skip")[0]
    assert np.isnan(skipped.logprobs[1]) and skipped.scored == 2
    summary = m.perplexity(["jack zebra"], oov="skip")
    assert (summary.words, summary.oovs, summary.scored) == (2, 1, 2)
    # a literal <unk> is an OOV too, as for a single model
    assert m.score_lines(["<unk>"])[0].oov == [True, False]


def test_next_word_distribution_sums_to_one(ngram, seq_lm):
    for m in (Mixture([uniform(["jack", "jill", "hill"]), ngram], [0.4, 0.6]),
              Mixture([WordModel(seq_lm, "seq"), ngram], [0.5, 0.5])):
        for prompt in ("", "jack", "jack and jill"):
            words = m.next_words(prompt, top=None)
            assert {w.word for w in words} == set(m.vocab.id_to_token) - {"<pad>", "<s>"}
            assert sum(w.prob for w in words) == pytest.approx(1.0, abs=1e-5)


def test_one_component_mixture_equals_the_component_exactly(seq_lm, ngram):
    lines = ["jack and jill went up the hill", "", "jack fell down and broke his zebra", "to fetch a pail of water"]
    m = Mixture([WordModel(seq_lm, "seq")], [1.0])
    for a, b in zip(m.score_lines(lines), seq_lm.score_lines(lines)):
        assert a.tokens == b.tokens and a.oov == b.oov and a.logprob == b.logprob
        np.testing.assert_array_equal(a.logprobs, b.logprobs)
    assert m.perplexity(lines, oov="skip").to_json() == seq_lm.perplexity(lines, oov="skip").to_json()
    assert m.next_words("jack and", top=None) == seq_lm.next_words("jack and", top=None)
    # rerank's LM score (through the reranking trie) is the model's own
    np.testing.assert_allclose(m.text_logprobs(lines), [s.logprob for s in seq_lm.score_lines(lines)], atol=1e-4)
    one = Mixture([ngram], [1.0])
    import kenlm

    raw = kenlm.Model(str(ngram.path))
    per_word = [s[0] * math.log(10) for s in raw.full_scores("jack jill zebra")]  # log10 → ln, float64
    assert [t.logprob for t in one.full_scores("jack jill zebra")] == per_word
    assert one.score("jack jill") == pytest.approx(raw.score("jack jill") * math.log(10), abs=1e-6)  # its float32 sum


@pytest.fixture(scope="module")
def char_lm():
    from conftest import tiny_model

    return tiny_model("char", epochs=5)


def test_char_component_words_multiply_to_the_sentence(char_lm):
    c = CharModel(char_lm, "char")
    lines = ["jack and jill", "jill", "", "went up the hill"]
    for words, row, want in zip([t.split() for t in lines], c.token_logprobs([t.split() for t in lines]),
                                char_lm.score(lines)):
        assert len(row) == len(words) + 1
        assert float(np.sum(row)) == pytest.approx(want, abs=1e-4)
    # the char component's next-word distribution over a word list sums to 1 (<unk>: the rest)
    words = ["jack", "jill", "and", "</s>", "<unk>"]
    rows = c.next_logprobs([[], ["jack"]], words)
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-5)
    # and the word probabilities agree with the sentence scoring
    np.testing.assert_allclose(rows[1, 1], c.token_logprobs([["jack", "jill"]])[0][1], atol=1e-4)


def test_em_optimum_beats_every_grid_point(ngram):
    m = Mixture([uniform(["jack", "jill"]), ngram], [0.5, 0.5])
    held_out = ["jack jill", "jill jack", "jack", "jill jill jack", "jack zebra jill"]
    lp = heldout_logprobs(m, held_out)
    result = em_weights(lp, tolerance=1e-12, max_iterations=1000)
    assert all(b <= a + 1e-12 for a, b in zip(result.perplexities, result.perplexities[1:]))  # EM never goes up

    def ppl(w):
        return math.exp(-np.logaddexp.reduce(lp + np.log([w, 1 - w]), axis=1).mean())

    best = result.perplexities[-1]
    assert best == pytest.approx(ppl(result.weights[0]), rel=1e-9)
    assert all(ppl(w) >= best * (1 - 1e-9) for w in np.linspace(0.001, 0.999, 999))
    assert 0 < result.weights[0] < 1


def test_two_identical_components_give_the_same_perplexity_for_every_weight(ngram, arpa):
    held_out = ["jack jill", "jill jack", "jack zebra"]
    ppls = {round(Mixture([ngram, NgramModel(str(arpa))], [w, 1 - w]).perplexity(held_out).ppl, 9)
            for w in (0.0, 0.1, 0.5, 0.9, 1.0)}
    assert len(ppls) == 1


def test_mixture_file_round_trips(tmp_path, arpa):
    spec = MixtureSpec([ComponentSpec("tiny.arpa", "kenlm", 0.25), ComponentSpec(str(arpa), "kenlm", 0.75)],
                       tokenizer={"mode": "whitespace", "lower": False}, tuned={"on": "v.txt", "ppl": 3.5})
    (tmp_path / "tiny.arpa").write_text(ARPA)
    write(spec, tmp_path / "mix.json")
    again = read(tmp_path / "mix.json", allow_outside=True)  # the absolute path lies outside the folder
    assert again == spec and again.resolve(again.components[0]) == tmp_path / "tiny.arpa"
    write(again, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == (tmp_path / "mix.json").read_text()


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rhyme_dir(tmp_path_factory, seq_lm):
    d = tmp_path_factory.mktemp("mixcli")
    seq_lm.save(d / "rhyme")
    (d / "tiny.arpa").write_text(ARPA)
    (d / "valid.txt").write_text("jack and jill went up the hill\njack jill\njill came tumbling after\n")
    return d


def run(*args, input_text=None):
    return helpers.cli_run(*args, input=input_text)


def test_mix_command_tunes_by_em_and_every_model_command_takes_the_file(rhyme_dir, seq_lm):
    d = rhyme_dir
    r = run("mix", d / "rhyme", d / "tiny.arpa", "-o", d / "mix.json", "--tune-on", d / "valid.txt")
    assert r.exit_code == 0, r.output
    assert "iteration 0: held-out ppl" in r.stderr and "iteration 1: held-out ppl" in r.stderr
    spec = json.loads((d / "mix.json").read_text())
    assert [c["path"] for c in spec["components"]] == ["rhyme", "tiny.arpa"]  # relative to the file
    assert sum(c["weight"] for c in spec["components"]) == pytest.approx(1.0)
    assert spec["tuned"]["ppl"] <= spec["tuned"]["ppl_start"]
    mix = str(d / "mix.json")
    assert run("score", mix, d / "valid.txt").exit_code == 0
    p = run("perplexity", mix, d / "valid.txt", "--json")
    assert p.exit_code == 0 and json.loads(p.stdout)["ppl"] == pytest.approx(spec["tuned"]["ppl"], rel=1e-4)
    nxt = run("next", mix, "--prompt", "jack and", "--top", "3")
    assert nxt.exit_code == 0 and len(nxt.stdout.splitlines()) == 3
    assert run("next", mix, "--prompt", "jack", "--candidates", "and,jill").exit_code == 0
    assert run("fill", mix, "jack and ___ went up").exit_code == 0
    gen = run("generate", mix, "--prompt", "jack", "--max-words", "4", "--strategy", "beam", "--beam-size", "2")
    assert gen.exit_code == 0 and gen.stdout.startswith("jack")
    (d / "nb.jsonl").write_text(json.dumps({"utt_id": "u1", "ref": "jack and jill", "hyps": [
        {"text": "jack an jill", "score": -1.0}, {"text": "jack and jill", "score": -1.2}]}) + "\n")
    assert run("rerank", mix, d / "nb.jsonl").exit_code == 0
    t = run("tune", mix, d / "nb.jsonl", "--lm-weights", "0:1:0.5", "--word-bonuses", "0")
    assert t.exit_code == 0, t.output
    # the Python API's front door
    import wordlm

    (d / "one.txt").write_text("jack and jill\n")
    scored = json.loads(run("score", mix, d / "one.txt", "--json").stdout.splitlines()[0])
    assert wordlm.load(mix).score("jack and jill") == pytest.approx(scored["logprob"], abs=1e-9)


@pytest.mark.parametrize("case", ["missing", "sum", "negative", "bad_arpa", "no_kenlm", "not_json"])
def test_bad_mixtures_are_one_line_errors_naming_the_file(rhyme_dir, tmp_path, monkeypatch, case):
    (tmp_path / "tiny.arpa").write_text(ARPA)
    (tmp_path / "broken.arpa").write_text("this is not an arpa file\n")
    comps = [{"path": "tiny.arpa", "kind": "kenlm", "weight": 0.5}, {"path": "tiny.arpa", "kind": "kenlm", "weight": 0.5}]
    if case == "missing":
        comps[1]["path"] = "gone.arpa"
    elif case == "sum":
        comps[1]["weight"] = 0.6
    elif case == "negative":
        comps[0]["weight"], comps[1]["weight"] = -0.5, 1.5
    elif case == "bad_arpa":
        comps[1]["path"] = "broken.arpa"
    elif case == "no_kenlm":
        monkeypatch.setitem(sys.modules, "kenlm", None)  # `import kenlm` raises ImportError
    path = tmp_path / "mix.json"
    path.write_text("{not json" if case == "not_json" else json.dumps({"format": "wordlm-mixture", "format_version": 1,
                                                                       "components": comps}))
    r = run("score", path, rhyme_dir / "valid.txt")
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], lines
    expect = {"missing": "gone.arpa", "sum": "sum to 1.1", "negative": "must not be negative",
              "bad_arpa": "broken.arpa: not an ARPA", "no_kenlm": "pip install 'wordlm[ngram]'", "not_json": "invalid JSON"}
    assert expect[case] in lines[0]
    # wordlm mix refuses the same things before writing anything
    if case in ("sum", "negative"):
        w = "0.5,0.6" if case == "sum" else "-0.5,1.5"
        r = run("mix", tmp_path / "tiny.arpa", tmp_path / "tiny.arpa", "-o", tmp_path / "new.json", "--weights", w)
        assert r.exit_code == 1 and not (tmp_path / "new.json").exists() and len(r.stderr.strip().splitlines()) == 1
    if case == "bad_arpa":
        r = run("mix", tmp_path / "broken.arpa", "-o", tmp_path / "new.json")
        assert r.exit_code == 1 and "broken.arpa" in r.stderr and not (tmp_path / "new.json").exists()


def test_reverse_models_are_refused_in_a_mixture(tmp_path):
    from conftest import tiny_model

    back = tiny_model("sequence", epochs=2, reverse=True)
    back.save(tmp_path / "back")
    r = run("mix", tmp_path / "back", "-o", tmp_path / "m.json")
    assert r.exit_code == 1 and "--reverse" in r.stderr
    with pytest.raises(ModelError):
        from wordlm.loading import build_mixture as build

        build([tmp_path / "back"])


def test_info_describes_a_mixture_and_export_refuses_it(rhyme_dir, tmp_path):
    d = rhyme_dir
    assert run("mix", d / "rhyme", d / "tiny.arpa", "-o", d / "m.json", "--weights", "0.25,0.75").exit_code == 0
    info = run("info", d / "m.json")
    assert info.exit_code == 0 and "2 components" in info.stdout and "0.75" in info.stdout
    exp = run("export", d / "m.json", tmp_path / "out")
    assert exp.exit_code == 1 and "cannot be exported" in exp.stderr and not (tmp_path / "out").exists()


def test_serve_takes_a_mixture_and_answers_as_the_cli(rhyme_dir):
    """`wordlm serve MIX.json`: the service's app on a mixture of a wordlm model and an ARPA model,
    loaded as the command loads it (`cli.common.load_model`); its scores and next words equal the
    CLI's on the same file. In-process: the real server process is tested once, in test_serve.py."""
    pytest.importorskip("fastapi", reason="the serve extra is needed")
    from fastapi.testclient import TestClient

    import wordlm.serve
    from wordlm.cli.common import load_model

    d = rhyme_dir
    mix = d / "serve-mix.json"
    assert run("mix", d / "rhyme", d / "tiny.arpa", "-o", mix, "--weights", "0.7,0.3").exit_code == 0
    with TestClient(wordlm.serve.app(load_model(str(mix)))) as client:
        r = client.post("/v1/score", json={"text": "jack and jill"})
        assert r.status_code == 200, r.text
        served = r.json()
        r = client.post("/v1/next", json={"prompt": "jack and", "top": 3})
        assert r.status_code == 200, r.text
        words = r.json()["words"]
    cli_score = json.loads(run("score", mix, "-", "--json", input_text="jack and jill").stdout.splitlines()[0])
    assert served["logprob"] == pytest.approx(cli_score["logprob"], abs=1e-5)
    cli_next = run("next", mix, "--prompt", "jack and", "--top", "3", "--json")
    assert [w["word"] for w in words] == [w["word"] for w in map(json.loads, cli_next.stdout.splitlines())]
