"""ONNX Runtime as the inference runtime: the same numbers as TensorFlow, and no TensorFlow to load.

Every framing's tiny model is saved once and loaded under both runtimes; the primitives must agree
to 1e-5 per sentence (the tolerance between runtimes), scores must not depend on batching, a save
of an ONNX-loaded model must load to identical scores, and a wide beam must equal exhaustive search.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from conftest import RHYME_LINES, tiny_model  # noqa: E402

import wordlm  # noqa: E402

LINES = [*RHYME_LINES, "jill", "up the hill went jack and jill and jack", "a b c unknown words", "water water water"]
CASES = {  # name -> tiny_model arguments (the ones other test files use: trained once per session)
    "sequence": dict(framing="sequence"),
    "sequence-2x": dict(framing="sequence", units=8, layers=2),
    "char": dict(framing="char", epochs=5),
    "line": dict(framing="line"),
    "window": dict(framing="window", context=2),
    "word": dict(framing="word"),
    "line-nb": dict(framing="line", boundaries=False, epochs=5),
    "sequence-nb": dict(framing="sequence", boundaries=False),
}
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> a saved model directory of that framing (trained once per session)."""
    root = tmp_path_factory.mktemp("onnx")
    out = {}
    for name, kw in CASES.items():
        kw = dict(kw)
        lm = tiny_model(kw.pop("framing"), **kw)
        out[name] = lm.save(root / name)
    return out


def both(path):
    return wordlm.load(path, runtime="tensorflow"), wordlm.load(path, runtime="onnx")


@pytest.mark.parametrize("name", list(CASES))
def test_runtimes_agree_per_sentence_and_per_token(saved, name):
    tf_lm, onnx_lm = both(saved[name])
    assert tf_lm.runtime.name == "tensorflow" and onnx_lm.runtime.name == "onnx"
    assert onnx_lm.keras_model is None
    np.testing.assert_allclose(onnx_lm.score(LINES), tf_lm.score(LINES), atol=1e-5, rtol=0)
    histories = [tf_lm.history(p) for p in ["", "jack", "jack and jill went up the hill to"]]
    histories = [h for h in histories if h]
    a, b = tf_lm.next_logprobs(histories), onnx_lm.next_logprobs(histories)
    assert np.array_equal(np.isinf(a), np.isinf(b))
    np.testing.assert_allclose(b[np.isfinite(b)], a[np.isfinite(a)], atol=1e-5)
    np.testing.assert_allclose(np.exp(b).sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", ["sequence", "sequence-2x", "char", "line"])
def test_carried_state_agrees(saved, name):
    tf_lm, onnx_lm = both(saved[name])
    histories = [[1, 2, 3], [1], [1, 4, 5, 6, 2]]
    (lp_a, st_a), (lp_b, st_b) = tf_lm.start(histories), onnx_lm.start(histories)
    np.testing.assert_allclose(st_b, st_a, atol=1e-5)
    np.testing.assert_allclose(np.nan_to_num(lp_b, neginf=0), np.nan_to_num(lp_a, neginf=0), atol=1e-5)
    (lp_a, st_a), (lp_b, st_b) = tf_lm.step(st_a, [3, 4, 5]), onnx_lm.step(st_b, [3, 4, 5])
    np.testing.assert_allclose(st_b, st_a, atol=1e-5)
    np.testing.assert_allclose(np.nan_to_num(lp_b, neginf=0), np.nan_to_num(lp_a, neginf=0), atol=1e-5)
    if name == "char":
        return
    # incremental rows (the model interface) equal whole-sentence scores under ONNX Runtime
    rows = onnx_lm.begin(2)
    lp1, rows, _ = onnx_lm.advance(rows, ["jack", "to"])
    lp2, rows, _ = onnx_lm.advance(rows, ["and", "fetch"])
    whole = [onnx_lm.full_scores(t, eos=False) for t in ["jack and", "to fetch"]]
    for r, scores in enumerate(whole):
        np.testing.assert_allclose([lp1[r], lp2[r]], [s.logprob for s in scores], atol=1e-5)


@pytest.mark.parametrize("name", ["sequence", "window", "char"])
def test_scores_do_not_depend_on_batching(saved, name):
    lm = wordlm.load(saved[name], runtime="onnx")
    together = lm.score(LINES * 3)
    alone = [lm.score([line])[0] for line in LINES]
    np.testing.assert_allclose(together, alone * 3, atol=1e-5, rtol=0)


def test_save_load_score_identical(saved, tmp_path):
    lm = wordlm.load(saved["sequence-2x"], runtime="onnx")
    again = wordlm.load(lm.save(tmp_path / "copy"), runtime="onnx")
    assert again.score(LINES) == lm.score(LINES)
    files = sorted(p.name for p in (tmp_path / "copy").glob("model-*"))
    assert [Path(f).suffix for f in files] == [".keras", ".onnx"] and Path(files[0]).stem == Path(files[1]).stem


def test_graph_is_rebuilt_when_stale_and_made_lazily(saved, tmp_path):
    import shutil

    d = tmp_path / "m"
    shutil.copytree(saved["sequence"], d)
    graph = next(d.glob("*.onnx"))
    expected = wordlm.load(d, runtime="onnx").score(LINES)
    graph.unlink()  # a directory without the graph: built on first load, atomically
    assert wordlm.load(d, runtime="onnx").score(LINES) == expected and graph.is_file()
    other = next(Path(saved["window"]).glob("*.onnx"))
    shutil.copyfile(other, graph)  # a graph of other weights: its key differs, so it is rebuilt
    assert wordlm.load(d, runtime="onnx").score(LINES) == expected
    assert not list(d.glob(".tmp-*"))


def test_beam_equals_exhaustive_search_under_onnx(saved):
    from test_decoding import exhaustive

    lm = wordlm.load(saved["sequence"], runtime="onnx")
    every = exhaustive(lm, "jill", 2)
    hyps = lm.generate("jill", strategy="beam", beam_size=len(every), num=len(every), max_words=2)
    assert len(hyps) == len(every)
    np.testing.assert_allclose([h.score for h in hyps], [f[0] for f in every], atol=1e-5)


def test_decoding_and_rerank_agree_across_runtimes(saved):
    tf_lm, onnx_lm = both(saved["sequence"])
    for kw in (dict(strategy="greedy", max_words=6), dict(strategy="beam", beam_size=4, num=3, max_words=5),
               dict(strategy="sample", seed=3, num=2, max_words=5)):
        a, b = tf_lm.generate("jack and", **kw), onnx_lm.generate("jack and", **kw)
        assert [h.text for h in a] == [h.text for h in b]
        np.testing.assert_allclose([h.logprob for h in b], [h.logprob for h in a], atol=1e-5)
    from wordlm.rerank.trie import trie_logprobs

    streams = [tf_lm.stream(t) for t in LINES]
    np.testing.assert_allclose(trie_logprobs(onnx_lm, streams), trie_logprobs(tf_lm, streams), atol=1e-5)


def _run(args, **kw):
    env = {**os.environ, "PYTHONPATH": SRC, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, **kw)


def test_wordlm_score_imports_no_tensorflow(saved):
    code = ("import atexit, runpy, sys; "
            "atexit.register(lambda: sys.stderr.write('\\nTF=%s\\n' % ('tensorflow' in sys.modules))); "
            "sys.argv = ['wordlm', 'score', sys.argv[1], '-', '--json', '--runtime', 'onnx']; "
            "runpy.run_module('wordlm', run_name='__main__')")
    out = _run(["-c", code, str(saved["sequence"])], input="jack and jill\n")
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().endswith("TF=False"), out.stderr
    expected = wordlm.load(saved["sequence"], runtime="tensorflow").score("jack and jill")
    assert abs(json.loads(out.stdout)["logprob"] - expected) < 1e-5


def test_export_onnx_writes_the_graph(saved, tmp_path):
    import onnxruntime as ort

    out = _run(["-m", "wordlm", "export", str(saved["sequence"]), str(tmp_path / "lm.onnx"), "--format", "onnx"])
    assert out.returncode == 0, out.stderr
    session = ort.InferenceSession(str(tmp_path / "lm.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["ids", "lengths", "state", "score_rows", "targets", "dist_rows"]
    again = _run(["-m", "wordlm", "export", str(saved["sequence"]), str(tmp_path / "lm.onnx"), "--format", "onnx"])
    assert again.returncode == 1 and "--overwrite" in again.stderr


def test_unknown_runtime_is_one_line_error(saved):
    out = _run(["-m", "wordlm", "score", str(saved["sequence"]), "-", "--runtime", "jax"], input="jack\n")
    assert out.returncode == 2


@pytest.mark.parametrize("kw", [dict(strategy="greedy", max_words=7, min_words=2),
                                dict(strategy="beam", beam_size=3, num=3, max_words=6),
                                dict(strategy="beam", beam_size=5, num=2, max_words=4, length_norm="gnmt", min_words=1),
                                dict(strategy="beam", beam_size=2, num=1, max_words=5, length_norm="avg",
                                     forbid=["jill"])])
def test_numpy_loops_equal_the_stepwise_searches(saved, kw):
    from wordlm.decoding import DecodeOptions
    from wordlm.decoding.beam import beam_search
    from wordlm.decoding.compiled import beam_batch, greedy_batch, state_applies
    from wordlm.decoding.hypothesis import prepare_prompts
    from wordlm.decoding.search import decode_rows

    lm = wordlm.load(saved["sequence"], runtime="onnx")
    options = DecodeOptions(**kw)
    prompts = prepare_prompts(lm, ["jack and", "", "to fetch a pail of"], options.max_words)
    assert state_applies(lm, prompts, options)
    if options.strategy == "greedy":
        fast, slow = greedy_batch(lm, prompts, options), decode_rows(lm, prompts, options, compiled=False)
    else:
        fast, slow = beam_batch(lm, prompts, options), beam_search(lm, prompts, options, source="numpy")
    for a, b in zip(fast, slow):
        assert [h.text for h in a] == [h.text for h in b]
        np.testing.assert_allclose([h.logprob for h in a], [h.logprob for h in b], atol=1e-5)


def test_numpy_top_k_is_exact_with_ties_to_the_lower_index():
    from wordlm.runtime.numpy_loops import top_k

    rng = np.random.default_rng(1)
    for _ in range(50):
        n, k = int(rng.integers(1025, 4000)), int(rng.integers(1, 40))
        x = rng.integers(0, 50, (3, n)).astype(np.float32)  # many ties
        x[:, rng.integers(0, n, 5)] = -np.inf
        values, index = top_k(x, k)
        order = np.argsort(-x, axis=1, kind="stable")[:, :k]
        assert (index == order).all() and (values == np.take_along_axis(x, order, axis=1)).all()
