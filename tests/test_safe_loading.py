"""Model directories from other people: corrupt, mismatched, newer, or carrying code — refused clearly."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from wordlm import saving
from wordlm.cli import cli
from wordlm.errors import ModelError



@pytest.fixture()
def model_dir(model_dir_copy):
    return model_dir_copy


def _config(d):
    return json.loads((d / "wordlm.json").read_text())


def _replace_network(d, network):
    network.save(d / _config(d)["weights_file"])


def test_lambda_layer_is_refused(model_dir):
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(25, 4)(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)  # arbitrary code
    _replace_network(model_dir, keras.Model(inputs, keras.layers.Dense(25)(x)))
    with pytest.raises(ModelError, match="Lambda is not part of a wordlm network"):
        saving.load(model_dir)
    result = CliRunner().invoke(cli, ["info", str(model_dir)])  # info reads JSON only: still fine
    assert result.exit_code == 0


def test_foreign_layer_types_are_refused(model_dir):
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(25, 4)(inputs)
    x = keras.layers.GRU(4, return_sequences=True)(x)
    _replace_network(model_dir, keras.Model(inputs, keras.layers.Dense(25)(x)))
    with pytest.raises(ModelError, match="GRU is not part of a wordlm network"):
        saving.load(model_dir)


def test_mismatched_vocabulary_is_refused(model_dir):
    cfg = _config(model_dir)
    cfg["vocab"]["words"] = cfg["vocab"]["words"][:-3]
    (model_dir / "wordlm.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="mismatched"):
        saving.load(model_dir)


def test_missing_weights_file(model_dir):
    (model_dir / _config(model_dir)["weights_file"]).unlink()
    with pytest.raises(ModelError, match="is missing"):
        saving.load(model_dir)


def test_weights_path_cannot_escape_the_directory(model_dir, tmp_path):
    cfg = _config(model_dir)
    cfg["weights_file"] = "../elsewhere.keras"
    (model_dir / "wordlm.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError):
        saving.load(model_dir)


@pytest.mark.parametrize("edit", [
    lambda c: c.pop("vocab"),
    lambda c: c.update(tokenizer={"mode": "bpe", "lower": True}),
    lambda c: c.update(framing={"name": "window", "boundaries": True, "context": 0}),
    lambda c: c.update(format="something-else"),
    lambda c: c.update(format_version="1"),
])
def test_corrupt_configs_are_one_line_errors(model_dir, edit):
    cfg = _config(model_dir)
    edit(cfg)
    (model_dir / "wordlm.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError) as e:
        saving.load(model_dir)
    assert "\n" not in str(e.value) and str(model_dir) in str(e.value)


def test_corrupt_keras_file(model_dir):
    (model_dir / _config(model_dir)["weights_file"]).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelError, match="not a readable Keras archive"):
        saving.load(model_dir)


def test_no_pickle_or_eval_in_the_package():
    src = Path(__file__).resolve().parents[1] / "src" / "wordlm"
    pattern = re.compile(r"\bimport pickle\b|\bpickle\.|\beval\(|\bexec\(|allow_pickle=True|safe_mode=False")
    offenders = [str(p) for p in src.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
