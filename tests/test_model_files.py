"""A model directory is checked whole before anything is built from it (`model_files.py`, `saving.load`).

wordlm.json: every field's type and range, nesting depth, the parts agreeing with each other and
with the network; the `.keras` archive: read as data, only wordlm's classes, a bounded config, the
layer sizes of wordlm.json; the weights: finite. Each problem is one ModelError naming the file.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from wordlm import saving
from wordlm.cli import cli
from wordlm.errors import ModelError
from wordlm.jsonfile import nesting_depth, parse

from conftest import tiny_model


@pytest.fixture
def model_dir(tmp_path):
    tiny_model("sequence", epochs=1).save(tmp_path / "m")
    return tmp_path / "m"


def config(d):
    return json.loads((d / "wordlm.json").read_text())


def write(d, cfg):
    (d / "wordlm.json").write_text(json.dumps(cfg))


def refused(d, match):
    with pytest.raises(ModelError, match=match) as e:
        saving.load(d)
    assert "\n" not in str(e.value) and str(d) in str(e.value)
    result = CliRunner().invoke(cli, ["score", str(d), "-"], input="jack\n")
    assert result.exit_code == 1 and "Traceback" not in result.output


@pytest.mark.parametrize("edit,match", [
    (lambda c: c.update(size=[64, 128]), '"size" must be an object'),
    (lambda c: c["size"].update(units="12"), '"size.units" must be an integer >= 1'),
    (lambda c: c["size"].update(layers=-1), '"size.layers" must be an integer >= 1'),
    (lambda c: c["size"].update(units=True), '"size.units" must be an integer'),
    (lambda c: c["size"].update(dropout=1.5), '"size.dropout" must be a number in'),
    (lambda c: c.update(tokenizer="keras"), '"tokenizer" must be an object'),
    (lambda c: c["tokenizer"].update(lower="yes"), '"tokenizer.lower" must be true or false'),
    (lambda c: c["framing"].update(name="gru"), '"framing.name" must be one of'),
    (lambda c: c["framing"].update(boundaries=None), '"framing.boundaries" must be true or false'),
    (lambda c: c["vocab"].update(words="jack jill"), '"vocab.words" must be a list'),
    (lambda c: c["vocab"]["words"].append(c["vocab"]["words"][0]), '"vocab.words" must be distinct'),
    (lambda c: c["vocab"]["words"].append("<s>"), '"vocab.words" must be distinct'),
    (lambda c: c.update(vocab_size=-3), '"vocab_size" must be'),
    (lambda c: c.update(weights_file=["model-1.keras"]), '"weights_file" must be a file name'),
    (lambda c: c.update(info=[1, 2]), '"info" must be an object'),
    (lambda c: c.update(framing={"name": "char", "boundaries": True}), '"tokenizer.mode" must be char'),
])
def test_wrong_types_and_ranges_in_wordlm_json_are_named(model_dir, edit, match):
    cfg = config(model_dir)
    edit(cfg)
    write(model_dir, cfg)
    refused(model_dir, match)


@pytest.mark.parametrize("framing", [{"name": "window", "boundaries": True, "context": 2},
                                     {"name": "word", "boundaries": True},
                                     {"name": "line", "boundaries": True, "max_length": 9}])
def test_a_framing_that_does_not_match_the_saved_network_is_refused(model_dir, framing):
    cfg = config(model_dir)
    cfg["framing"] = framing  # the network is a sequence model
    write(model_dir, cfg)
    refused(model_dir, "does not fit the .* framing")


def test_a_network_whose_sizes_disagree_with_wordlm_json_is_refused(tmp_path):
    tiny_model("sequence", layers=2, epochs=1).save(tmp_path / "m")
    cfg = config(tmp_path / "m")
    cfg["size"]["layers"] = 1  # the file says 1 layer, the network has 2
    write(tmp_path / "m", cfg)
    refused(tmp_path / "m", "2 LSTM layers but wordlm.json says 1")
    cfg["size"].update(layers=2, units=17)
    write(tmp_path / "m", cfg)
    refused(tmp_path / "m", "lstm_1 has units 16 but wordlm.json implies 17")
    cfg["size"].update(units=16, dropout=0.3)
    write(tmp_path / "m", cfg)
    refused(tmp_path / "m", "dropout does not match")


def test_deeply_nested_json_is_refused_without_a_recursion_error(model_dir):
    (model_dir / "wordlm.json").write_text('{"format": "wordlm", "info": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(model_dir, "nested deeper than 64")
    assert nesting_depth('{"a": "[[[[", "b": [[1]]}') == 3  # brackets inside strings do not count
    with pytest.raises(ValueError, match="NaN"):
        parse('{"x": NaN}', "f.json", ValueError)


def _rewrite_archive(path, edit):
    """Apply `edit` to the archive's config.json (as parsed JSON) and write the archive back."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    network = json.loads(members["config.json"])
    edit(network)
    members["config.json"] = json.dumps(network).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_an_archive_config_naming_other_classes_is_refused_before_keras_reads_it(model_dir):
    weights = model_dir / config(model_dir)["weights_file"]
    # the shape of the published safe-mode bypasses: a function named by module and class, in any nested field
    def edit(network):
        dense = next(layer for layer in network["config"]["layers"] if layer["class_name"] == "Dense")
        dense["config"]["bias_initializer"] = {"module": "keras.config", "class_name": "function",
                                               "config": "enable_unsafe_deserialization", "registered_name": "function"}

    _rewrite_archive(weights, edit)
    refused(model_dir, "keras.config.function is not part of a wordlm network")


def test_a_registered_custom_object_is_refused(model_dir):
    weights = model_dir / config(model_dir)["weights_file"]
    def edit(network):
        next(layer for layer in network["config"]["layers"] if layer["class_name"] == "Dense")["registered_name"] = "evil>Dense"

    _rewrite_archive(weights, edit)
    refused(model_dir, "keras.layers.Dense is not part of a wordlm network")


def test_an_oversized_archive_config_is_refused(model_dir, monkeypatch):
    import wordlm.model_files as mf

    monkeypatch.setattr(mf, "MAX_ARCHIVE_CONFIG", 100)
    refused(model_dir, "refused: its config.json is")


def test_non_finite_weights_are_refused_at_load(model_dir):
    lm = saving.load(model_dir, runtime="tensorflow")  # its Keras weights are changed below
    weights = lm.keras_model.get_weights()
    weights[-1] = np.full_like(weights[-1], np.nan)
    lm.keras_model.set_weights(weights)
    saving.save(lm, model_dir)
    refused(model_dir, "weights are not all finite")
