"""The LanguageModel primitive and its exact equivalents; save/load identity."""

import numpy as np
import pytest

from wordlm import saving
from wordlm.errors import ModelError
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID

from conftest import tiny_model

SENTENCES = ["jack and jill went up the hill", "jill came tumbling", "a pail of zebra water", "jack"]


def all_framings():
    return [tiny_model("sequence"), tiny_model("line"), tiny_model("window", context=2), tiny_model("word"),
            tiny_model("sequence", boundaries=False), tiny_model("char", epochs=5)]


@pytest.mark.parametrize("index", range(6))
def test_next_logprobs_is_a_distribution(index):
    lm = all_framings()[index]
    hist = [lm.history(s) for s in SENTENCES]
    lp = lm.next_logprobs(hist).astype(np.float64)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.isneginf(lp[:, [PAD_ID, BOS_ID]]))
    if not lm.boundaries:
        assert np.all(np.isneginf(lp[:, EOS_ID]))


@pytest.mark.parametrize("index", range(6))
def test_stream_logprobs_equal_next_logprobs_one_by_one(index):
    lm = all_framings()[index]
    streams = [lm.stream(s) for s in SENTENCES]
    fast = lm.stream_logprobs(streams)
    for s, got in zip(streams, fast):
        first = lm.framing.first_target
        ref = [lm.next_logprobs([s[:t]])[0, s[t]] for t in range(first, len(s))]
        np.testing.assert_allclose(got, ref, atol=1e-5)


def test_stream_logprobs_do_not_depend_on_batching():
    lm = tiny_model("sequence")
    rng = np.random.default_rng(0)
    words = lm.vocab.id_to_token[4:]
    ragged = [" ".join(rng.choice(words, size=rng.integers(1, 30))) for _ in range(100)]
    target = lm.stream("jack and jill went up the hill")
    alone = lm.stream_logprobs([target])[0]
    batched = lm.stream_logprobs([lm.stream(s) for s in ragged[:50]] + [target] + [lm.stream(s) for s in ragged[50:]],
                                 batch_size=37)[50]
    np.testing.assert_allclose(alone, batched, atol=1e-5)


@pytest.mark.parametrize("framing", ["sequence", "line"])
def test_incremental_state_equals_rereading(framing):
    lm = tiny_model(framing)
    histories = [lm.history("jack and jill"), lm.history("to"), lm.history("jack fell down and")]
    lp, state = lm.start(histories)
    np.testing.assert_allclose(np.nan_to_num(lp, neginf=0), np.nan_to_num(lm.next_logprobs(histories), neginf=0), atol=1e-5)
    nxt = [lm.vocab.token_to_id[w] for w in ("went", "fetch", "broke")]
    lp2, _ = lm.step(state, nxt)
    longer = [h + [i] for h, i in zip(histories, nxt)]
    np.testing.assert_allclose(np.nan_to_num(lp2, neginf=0), np.nan_to_num(lm.next_logprobs(longer), neginf=0), atol=1e-5)
    # Beam reordering: gathering state rows gives the rows' continuations.
    lp3, _ = lm.step(state[[2, 0]], [nxt[2], nxt[0]])
    np.testing.assert_allclose(lp3, lp2[[2, 0]], atol=1e-6)


@pytest.mark.parametrize("index", range(6))
def test_save_load_gives_identical_logprobs(tmp_path, index):
    lm = all_framings()[index]
    saving.save(lm, tmp_path / "m")
    again = saving.load(tmp_path / "m", runtime=lm.runtime.name)  # the same runtime: identical numbers
    streams = [lm.stream(s) for s in SENTENCES]
    for a, b in zip(lm.stream_logprobs(streams), again.stream_logprobs(streams)):
        np.testing.assert_array_equal(a, b)
    assert again.vocab.id_to_token == lm.vocab.id_to_token
    assert again.framing.to_config() == lm.framing.to_config()
    assert again.tokenizer == lm.tokenizer


def test_save_replaces_atomically_and_cleans_up(tmp_path):
    lm = tiny_model("sequence")
    d = tmp_path / "m"
    saving.save(lm, d)
    (d / "model-epoch05.keras").write_text("a user's own file")  # never a save's to remove
    saving.save(lm, d)
    files = sorted(p.name for p in d.iterdir() if p.name not in (".wordlm.lock", "model-epoch05.keras"))
    graphs = [f for f in files if f.endswith(".onnx")]  # the ONNX graph beside the weights (runtime/files.py)
    assert graphs == [] or graphs == [files[0].replace(".keras", ".onnx")]
    files = [f for f in files if f not in graphs]
    assert files[0].startswith("model-") and files[0].endswith(".keras") and files[1] == "wordlm.json"
    assert len(files) == 2 and (d / "model-epoch05.keras").read_text() == "a user's own file"


def test_parameter_count_formula_matches_keras():
    from wordlm.model import count_parameters

    for lm in (tiny_model("sequence"), tiny_model("sequence", units=8, layers=2)):
        assert count_parameters(lm.vocab_size, lm.size) == lm.num_parameters


def test_load_rejects_non_models(tmp_path):
    with pytest.raises(ModelError, match="no such model directory"):
        saving.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a wordlm model directory"):
        saving.load(tmp_path / "empty")
    lm = tiny_model("sequence")
    d = tmp_path / "m"
    saving.save(lm, d)
    cfg = (d / "wordlm.json").read_text()
    (d / "wordlm.json").write_text(cfg.replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(ModelError, match="newer"):
        saving.load(d)
    (d / "wordlm.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        saving.load(d)


def test_forward_passes_bound_rows_and_padded_positions():
    from wordlm.inference.streams import groups

    lengths = [8, 3, 5, 100, 5, 40]
    batches = list(groups(list(range(6)), lengths, max_rows=3, max_positions=40))
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 40
