"""SavedModel export: the served graph equals the library, loaded in a process without wordlm.

Tiny models of every framing are exported once (one of them through the CLI), then ONE fresh
Python subprocess that never imports wordlm loads them all with `tf.saved_model.load` and runs
both signatures; the tests compare what it returns with `lm.stream_logprobs` (the scorer's
convention) and `lm.next_logprobs` to 1e-5. The in-graph tokenizer is checked against
`text.Tokenizer` on random text (hypothesis) and on every cased Unicode code point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from wordlm import saving
from wordlm.errors import ModelError

from conftest import tiny_model

SENTENCES = [
    "Jack and Jill went up the hill",
    "JACK FELL DOWN, and broke his crown!",
    "",
    "   ",
    # longer than the line framing's input length (its contexts are truncated on the left)
    "jack and jill went up the hill to fetch a pail of water and jack fell down and broke his crown",
    "the zebra\u3000ate\ttwelve pails of Water",  # OOVs, Unicode and tab whitespace
    "<s> jack </s> <unk> <pad> jill",  # markers typed in text are <unk>
    "after",
    "jill-came-tumbling...after?",
]
PROMPTS = ["jack and", "JILL", "", "up the hill to fetch a pail of water and jack fell down and", "zebra!"]


def variant(lm, framing, reverse=False):
    """The same network read under another framing or direction: what the export reads from a model
    (framing, boundaries, reverse) changes, the weights do not; exactness is all these tests check."""
    from wordlm.lm import LanguageModel

    return LanguageModel(lm.tokenizer, lm.vocab, framing, lm.size, lm.keras_model, {**lm.info, "reverse": reverse})


def window_no_boundaries():
    from wordlm.framings import WindowFraming

    return variant(tiny_model("window", context=2), WindowFraming(boundaries=False, context=2))


def reverse_two_layers_no_boundaries():
    from wordlm.framings import SequenceFraming

    return variant(tiny_model("sequence", units=8, layers=2), SequenceFraming(boundaries=False), reverse=True)


# name -> (the model, export top-k); "seq" goes through the CLI with --top 30 (> its 23 predictable tokens).
# The tiny models are the ones test_lm.py trains too (cached per process).
MODELS = {
    "seq": (lambda: tiny_model("sequence"), 30),
    "line": (lambda: tiny_model("line"), 5),
    "window-nb": (window_no_boundaries, 5),
    "char": (lambda: tiny_model("char", epochs=5), 5),
    "reverse-2layer-nb": (reverse_two_layers_no_boundaries, 5),
}

# Runs in a fresh interpreter: TensorFlow only, never wordlm.
LOADER = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
spec = json.load(open(sys.argv[1]))
out = {}
for name, path in spec["models"].items():
    m = tf.saved_model.load(path)
    score, default, nxt = m.signatures["score"], m.signatures["serving_default"], m.signatures["next_words"]
    batch = {k: v.numpy().tolist() for k, v in score(sentences=tf.constant(spec["sentences"])).items()}
    alone = [float(score(sentences=tf.constant([s]))["logprob"].numpy()[0]) for s in spec["sentences"]]
    dflt = default(sentences=tf.constant(spec["sentences"]))["logprob"].numpy().tolist()
    prompts = spec["prompts"][name]
    n = nxt(prompt=tf.constant(prompts))
    words = [[w.decode("utf-8") for w in row] for row in n["words"].numpy()]
    try:
        nxt(prompt=tf.constant([""]))
        empty = "ok"
    except tf.errors.InvalidArgumentError as e:
        empty = "InvalidArgumentError: " + e.message
    out[name] = {"score": batch, "alone": alone, "default": dflt, "next_words": words,
                 "next_logprobs": n["logprobs"].numpy().tolist(), "empty_prompt": empty}
out["modules"] = {"wordlm": any(k == "wordlm" or k.startswith("wordlm.") for k in sys.modules),
                  "keras": "keras" in sys.modules}
print(json.dumps(out))
"""


def prompts_for(lm):
    return [p for p in PROMPTS if lm.history(p)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Export every model, then load them all in one fresh subprocess; returns its results."""
    from wordlm import saving
    from wordlm.cli import cli
    from wordlm.export import export

    root = tmp_path_factory.mktemp("export")
    dirs, lms = {}, {}
    for name, (make, top) in MODELS.items():
        lms[name] = make()
        dirs[name] = root / "served" / name / "1"
        if name == "seq":  # through the CLI, replacing a previous export
            saving.save(lms[name], root / "model")
            export(lms[name], dirs[name], top=3)
            (dirs[name] / "junk.txt").write_text("old")
            cli_result = CliRunner().invoke(cli, ["export", str(root / "model"), str(dirs[name]), "--top", str(top),
                                                  "--overwrite"])
        else:
            export(lms[name], dirs[name], top=top)
    spec = {"models": {n: str(d) for n, d in dirs.items()}, "sentences": SENTENCES,
            "prompts": {n: prompts_for(lm) for n, lm in lms.items()}}
    (root / "spec.json").write_text(json.dumps(spec))
    (root / "loader.py").write_text(LOADER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(root / "loader.py"), str(root / "spec.json")], cwd=root,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"results": json.loads(proc.stdout.strip().splitlines()[-1]), "lms": lms, "dirs": dirs, "cli": cli_result,
            "model_dir": root / "model"}


def test_cli_export_writes_a_savedmodel_atomically(served):
    result, out = served["cli"], served["dirs"]["seq"]
    assert result.exit_code == 0, result.output
    assert "next_words: prompt <string>[B] -> words <string>[B, 23]" in result.output  # top 30 clipped to 23 words
    assert "max |logprob difference|" in result.output
    assert (out / "saved_model.pb").is_file() and (out / "variables").is_dir()
    assert not (out / "junk.txt").exists()  # --overwrite replaced the previous export
    assert json.loads((out / "assets.extra" / "wordlm.json").read_text())["framing"]["name"] == "sequence"
    assert [p.name for p in out.parent.iterdir() if not p.name.endswith(".lock")] == ["1"]  # no temporaries left


def test_fresh_process_never_imported_wordlm(served):
    assert served["results"]["modules"]["wordlm"] is False


@pytest.mark.parametrize("name", list(MODELS))
def test_score_equals_the_library(served, name):
    lm, got = served["lms"][name], served["results"][name]
    expected = [float(np.sum(s)) for s in lm.stream_logprobs([lm.stream(t) for t in SENTENCES])]
    np.testing.assert_allclose(got["score"]["logprob"], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got["alone"], got["score"]["logprob"], atol=1e-5, rtol=0)  # batched == alone
    assert got["default"] == got["score"]["logprob"]  # serving_default is score
    assert got["score"]["tokens"] == [len(lm.tokens(t)) for t in SENTENCES]
    assert got["score"]["oovs"] == [sum(lm.vocab.is_oov(w) for w in lm.tokens(t)) for t in SENTENCES]
    words = [len(t.split()) for t in SENTENCES] if name == "char" else got["score"]["tokens"]
    assert got["score"]["words"] == words
    assert any(got["score"]["oovs"]) and all(np.isfinite(got["score"]["logprob"]))


def test_score_equals_wordlm_score(served, tmp_path):
    """The served numbers are what `wordlm score --json` prints (logprob, words, oovs)."""
    from wordlm.cli import cli

    corpus = tmp_path / "sentences.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(served["model_dir"]), str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    got = served["results"]["seq"]["score"]
    assert [x["text"] for x in lines] == SENTENCES
    np.testing.assert_allclose(got["logprob"], [x["logprob"] for x in lines], atol=1e-5, rtol=0)
    assert got["words"] == [x["words"] for x in lines] and got["oovs"] == [x["oovs"] for x in lines]


@pytest.mark.parametrize("name", ["line", "window-nb", "char", "reverse-2layer-nb"])
def test_score_equals_the_scoring_module(served, name):
    from wordlm.scoring import score_sentences

    expected = score_sentences(served["lms"][name], SENTENCES)
    got = served["results"][name]["score"]
    np.testing.assert_allclose(got["logprob"], [s.logprob for s in expected], atol=1e-5, rtol=0)
    assert got["words"] == [s.words for s in expected] and got["oovs"] == [s.oovs for s in expected]


def test_score_counts_end_of_sentence_and_not_start(served):
    """With boundaries, '' scores ln p(</s> | <s>); without, '' and a one-word line score 0."""
    lm = served["lms"]["seq"]
    eos = float(lm.next_logprobs([lm.history("")])[0, 3])
    assert served["results"]["seq"]["score"]["logprob"][2] == pytest.approx(eos, abs=1e-5)
    nb = served["results"]["reverse-2layer-nb"]["score"]["logprob"]
    assert nb[2] == 0.0 and nb[3] == 0.0 and nb[SENTENCES.index("after")] == 0.0


@pytest.mark.parametrize("name", list(MODELS))
def test_next_words_is_the_library_top_k(served, name):
    lm, got = served["lms"][name], served["results"][name]
    prompts = prompts_for(lm)
    lib = lm.next_logprobs([lm.history(p) for p in prompts]).astype(np.float64)
    k = len(got["next_words"][0])
    assert k == min(MODELS[name][1], lm.vocab_size - len(lm.never_predicted()))
    graph_lp = np.array(got["next_logprobs"])
    np.testing.assert_allclose(graph_lp, -np.sort(-lib, axis=1)[:, :k], atol=1e-5, rtol=0)  # the k best values
    ids = np.array([[lm.vocab.token_to_id[w] for w in row] for row in got["next_words"]])
    np.testing.assert_allclose(np.take_along_axis(lib, ids, axis=1), graph_lp, atol=1e-5, rtol=0)  # of these words
    assert all(len(set(row)) == k for row in got["next_words"])


def test_next_words_over_the_whole_vocabulary_sums_to_one(served):
    probs = np.exp(np.array(served["results"]["seq"]["next_logprobs"], dtype=np.float64))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert all("<s>" not in row and "<pad>" not in row and "</s>" in row for row in served["results"]["seq"]["next_words"])


def test_empty_prompt_is_rejected_only_without_boundaries(served):
    assert served["results"]["seq"]["empty_prompt"] == "ok"
    message = served["results"]["reverse-2layer-nb"]["empty_prompt"]
    assert message.startswith("InvalidArgumentError") and "empty prompt" in message


# -- the in-graph tokenizer -------------------------------------------------------------------------
def test_whitespace_is_pythons():
    from wordlm.export import WHITESPACE

    assert WHITESPACE == "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def test_lower_matches_python_on_every_cased_code_point():
    import tensorflow as tf

    from wordlm.export import _lower

    cased = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and chr(c).lower() != chr(c)]
    texts = [f"A{chr(c)}b" for c in cased] + ["ΟΔΟΣ Σ.", "a\x00B\x00", "\x00", ""]
    got = [g.decode("utf-8") for g in _lower(tf.constant(texts)).numpy()]
    differ = [hex(ord(t[1])) for t, g in zip(texts, got) if t.lower() != g]
    # Letters added in Unicode 14 (Python 3.11) that TensorFlow's ICU does not know yet.
    unicode14 = {0x2C2F, 0xA7C0, 0xA7D0, 0xA7D6, 0xA7D8} | set(range(0x10570, 0x10596))
    assert len(cased) > 1000 and {int(d, 16) for d in differ} <= unicode14, differ


_ALPHABET = "aAbBzZéÉİΣσßñ0 9" + "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~" + "\t\n\r\x0b\x1c\u3000\u2028\xa0\x85" + "\x00"
_PIECES = st.one_of(st.text(_ALPHABET, max_size=12), st.sampled_from(["<s>", "</s>", "<unk>", "<S>", "<pad>", "<s>,"]))
_LINES = st.lists(st.lists(_PIECES, max_size=6).map(" ".join), min_size=1, max_size=4)


@pytest.mark.parametrize("mode,lower", [("keras", True), ("keras", False), ("whitespace", False), ("whitespace", True),
                                        ("char", True), ("char", False)])
@settings(max_examples=30, deadline=None)
@given(lines=_LINES)
def test_graph_tokenizer_equals_the_library(mode, lower, lines):
    import tensorflow as tf

    from wordlm.export import graph_tokenizer
    from wordlm.text import Tokenizer

    tokenizer = Tokenizer(mode, lower)
    got = graph_tokenizer(tokenizer)(tf.constant(lines)).to_list()
    assert [[t.decode("utf-8") for t in row] for row in got] == [tokenizer.tokenize(line) for line in lines]


# -- errors and atomicity -----------------------------------------------------------------------------
def test_cli_refuses_an_existing_folder_and_a_bad_model(tmp_path):
    from wordlm.cli import cli

    out = tmp_path / "1"
    out.mkdir()
    (out / "saved_model.pb").write_text("keep me")
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "no-model"), str(out)])
    assert result.exit_code == 1 and "already exists; pass --overwrite" in result.output
    assert (out / "saved_model.pb").read_text() == "keep me"
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "no-model"), str(tmp_path / "2")])
    assert result.exit_code == 1 and "no such model directory" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["1"]


def test_a_failed_export_leaves_the_old_folder_and_no_temporaries(tmp_path, monkeypatch):
    """Writing dies half-way: the previous version stays, no temporary folder is left behind."""
    from wordlm.export import savedmodel as export_module

    def dies_half_way(module, path, signatures=None):
        os.makedirs(os.path.join(path, "variables"))
        open(os.path.join(path, "saved_model.pb"), "w").write("half")
        raise ModelError("simulated: disk full")

    monkeypatch.setattr(export_module.tf.saved_model, "save", dies_half_way)
    out = tmp_path / "1"
    (out / "assets.extra").mkdir(parents=True)
    (out / "saved_model.pb").write_text("previous version")
    (out / "assets.extra" / "wordlm.json").write_text('{"format": "wordlm-savedmodel"}')
    with pytest.raises(ModelError, match="disk full"):
        export_module.export(tiny_model("sequence"), out, overwrite=True)
    assert (out / "saved_model.pb").read_text() == "previous version"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["1"]


def test_the_export_check_can_fail():
    """`check_export` compares with the library: a graph that is off by 1e-3 is refused."""
    import tensorflow as tf

    from wordlm.export import check_export, probe_sentences

    lm = tiny_model("sequence")
    texts = probe_sentences(lm)
    right = [float(np.sum(s)) for s in lm.stream_logprobs([lm.stream(t) for t in texts])]

    class Fake:
        def __init__(self, shift):
            tokens = tf.constant([len(lm.tokens(t)) for t in texts], tf.int64)
            top = -np.sort(-lm.next_logprobs([lm.history(t) for t in texts]), axis=1)[:, :3]
            self.signatures = {
                "score": lambda sentences: {"logprob": tf.constant(right) + shift, "tokens": tokens},
                "next_words": lambda prompt: {"logprobs": tf.constant(top)},
            }

    assert check_export(lm, Fake(0.0), texts) < 1e-6
    with pytest.raises(ModelError, match="differ from the library"):
        check_export(lm, Fake(1e-3), texts)


def test_overwrite_replaces_only_a_previous_export_never_the_model_or_other_folders(tmp_path):
    """`export m m --overwrite` once replaced the model itself; a folder of a user's files went too."""
    from wordlm.cli import cli

    model = tmp_path / "m"
    saving.save(tiny_model("sequence"), model)
    before = sorted(p.name for p in model.iterdir())
    for target in (model, model / "sub", tmp_path):
        result = CliRunner().invoke(cli, ["export", str(model), str(target), "--overwrite"])
        assert result.exit_code == 1 and "is the model being exported" in result.stderr, result.output
    assert sorted(p.name for p in model.iterdir()) == before
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_text("precious")
    result = CliRunner().invoke(cli, ["export", str(model), str(photos), "--overwrite"])
    assert result.exit_code == 1 and "is not a wordlm export" in result.stderr
    assert (photos / "cat.jpg").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(cli, ["export", str(model), str(empty)]).exit_code == 0  # an empty folder is fine
    assert CliRunner().invoke(cli, ["export", str(model), str(empty), "--overwrite"]).exit_code == 0  # now an export


def test_export_destination_errors_come_before_tensorflow(tmp_path):
    """A destination under a file is refused in a fresh process without importing TensorFlow."""
    import subprocess as sp

    plain = tmp_path / "plain"
    plain.write_text("x")
    code = ("import sys; from wordlm.cli import main; sys.argv = ['wordlm', 'export', sys.argv[1], sys.argv[2]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'tensorflow' in sys.modules)")
    model = tmp_path / "m"
    model.mkdir()
    (model / "wordlm.json").write_text("{}")
    out = sp.run([sys.executable, "-c", code, str(model), str(plain / "1")], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["1", "False"], out.stderr
    assert "is not a directory" in out.stderr
