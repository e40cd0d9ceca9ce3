"""Pre-trained embeddings: exactly the covered rows are initialised; formats, coverage, freezing, errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

from wordlm.cli import cli
from wordlm.training.embeddings import initialise, read_vectors
from wordlm.errors import InputError
from wordlm.model import ModelSize, build_model
from wordlm.vocab import Vocabulary

VOCAB = Vocabulary(["jack", "jill", "went", "up", "hill", "water"])


def vectors_file(path, rows, header=False):
    lines = [f"{len(rows)} {len(next(iter(rows.values())))}"] if header else []
    lines += [" ".join([word, *(f"{x:.6f}" for x in vec)]) for word, vec in rows.items()]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if str(path).endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return str(path)


ROWS = {
    "jack": [0.1, 0.2, 0.3, 0.4],
    "Hill": [1.0, 1.0, 1.0, 1.0],  # only the lower-cased form is in the vocabulary
    "hill": [0.5, -0.5, 0.25, -0.25],  # the exact form wins over "Hill", whatever the order
    "zebra": [9.0, 9.0, 9.0, 9.0],  # not in the vocabulary
    "<unk>": [7.0, 7.0, 7.0, 7.0],  # reserved rows are never overwritten
    "water": [-1.0, 0.0, 1.0, 2.0],
}


def test_initialise_overwrites_exactly_the_covered_rows(tmp_path):
    path = vectors_file(tmp_path / "glove.txt", ROWS)
    model = build_model(len(VOCAB), None, True, ModelSize(4, 4, 1, 0.0))
    before = model.get_layer("embedding").embeddings.numpy().copy()
    counts = np.zeros(len(VOCAB), dtype=np.int64)
    counts[VOCAB.encode(["jack", "jill", "hill", "water"])] = [5, 3, 1, 1]
    coverage = initialise(model, VOCAB, True, path, counts)
    after = model.get_layer("embedding").embeddings.numpy()
    covered = {VOCAB.token_to_id[w]: ROWS[w] for w in ("jack", "hill", "water")}
    for i in range(len(VOCAB)):
        if i in covered:
            np.testing.assert_array_equal(after[i], np.float32(covered[i]))
        else:
            np.testing.assert_array_equal(after[i], before[i])
    assert (coverage.words_covered, coverage.vocab_words, coverage.vectors_read) == (3, 6, 6)
    assert coverage.tokens_covered == 7 and coverage.tokens == 10
    assert "3 of 6 vocabulary words covered (50.0%)" in coverage.describe()


def test_word2vec_header_gzip_and_lower_case_fallback(tmp_path):
    rows = {"Jack": [1.0, 2.0], "UP": [3.0, 4.0]}
    path = vectors_file(tmp_path / "w2v.txt.gz", rows, header=True)
    found, dim, count = read_vectors(path, VOCAB, lower=True)
    assert dim == 2 and count == 2
    assert {VOCAB.id_to_token[i]: v.tolist() for i, v in found.items()} == {"jack": [1.0, 2.0], "up": [3.0, 4.0]}
    found, _, _ = read_vectors(path, VOCAB, lower=False)
    assert found == {}  # a cased model matches exactly only


def test_dimension_mismatch_and_bad_lines_are_clear_errors(tmp_path):
    path = vectors_file(tmp_path / "v.txt", {"jack": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match=r"v.txt:1: the vectors have 3 dimensions but the model's embedding has 4; "
                                         r"train with --embedding-dim 3"):
        read_vectors(path, VOCAB, True, dimension=4)
    bad = tmp_path / "bad.txt"
    bad.write_text("jack 1 2\njill 1 x\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.txt:2: the vector of 'jill' has a field that is not a number"):
        read_vectors(str(bad), VOCAB, True)
    short = tmp_path / "short.txt"
    short.write_text("jack 1 2 3\njill 1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"short.txt:2: expected a word and 3 numbers"):
        read_vectors(str(short), VOCAB, True)


def test_train_with_frozen_embeddings_keeps_the_vectors(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("jack and jill went up the hill\nto fetch a pail of water\n" * 5, encoding="utf-8")
    vectors = vectors_file(tmp_path / "v.txt", ROWS)
    for freeze in (True, False):
        out = tmp_path / f"m{freeze}"
        args = ["train", str(text), "-o", str(out), "--embeddings", vectors, "--embedding-dim", "4", "--units", "8",
                "--epochs", "3", "--learning-rate", "0.05"] + (["--freeze-embeddings"] if freeze else [])
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "3 of 13 vocabulary words covered (23.1%)" in result.output  # progress on stderr
        from wordlm.saving import load

        lm = load(out, runtime="tensorflow")  # its Keras embedding table
        table = lm.keras_model.get_layer("embedding").embeddings.numpy()
        same = np.array_equal(table[lm.vocab.token_to_id["jack"]], np.float32(ROWS["jack"]))
        assert same == freeze
        info = json.loads((out / "wordlm.json").read_text())["info"]["embeddings"]
        assert info["words_covered"] == 3 and info["frozen"] == freeze and info["token_rate"] == pytest.approx(15 / 65, abs=1e-6)


def test_train_command_dimension_mismatch_exits_1(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("jack went up the hill\n", encoding="utf-8")
    vectors = vectors_file(tmp_path / "v.txt", ROWS)
    result = CliRunner().invoke(cli, ["train", str(text), "-o", str(tmp_path / "m"), "--embeddings", vectors, "-q"])
    assert result.exit_code == 1
    assert "the vectors have 4 dimensions but the model's embedding has 64" in result.output
    assert not (tmp_path / "m" / "wordlm.json").exists()  # nothing half-written
