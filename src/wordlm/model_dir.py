"""A model directory: its files, saved atomically and read safely (the format; not the LanguageModel).

Layout of a model directory:
- `wordlm.json`: format name and version, tokenizer settings, vocabulary, framing, sizes, training
  info, and the name of the weights file;
- `model-<id>.keras`: the Keras model (plain layers only).
- `model-<id>.onnx` (when the `onnx` package is installed): the same network as an ONNX graph, for
  ONNX Runtime; rebuilt from the weights when missing or stale (`runtime/files.py`).

Atomicity: the weights go to a new uniquely named file first; then `wordlm.json` is replaced by
`os.replace` (the single commit point); then the old weights file is removed. A save that dies
at any point leaves the previous model loadable and no half-written file under a final name.
Safety: `wordlm.json` is checked field by field, and the `.keras` archive's config is read as data
and checked against an allowlist of the classes wordlm builds *before* Keras sees it
(`model_files.py`); then Keras's `safe_mode=True` and a check of the loaded layer types. A model
directory can never run code (no Lambda, no custom objects, no pickle), and a network whose sizes
disagree with `wordlm.json`, or whose weights are not finite, is refused.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import numpy as np

from wordlm.errors import InputError, ModelError
from wordlm.files import naming, write_atomic
from wordlm.framings import framing_from_config
from wordlm.jsonfile import parse
from wordlm.model_files import MAX_CONFIG_BYTES, check_archive, check_config, not_a_directory
from wordlm.model import ModelSize
from wordlm.runtime import files as runtime_files
from wordlm.runtime import resolve as resolve_runtime
from wordlm.text import Tokenizer
from wordlm.vocab import Vocabulary

FORMAT = "wordlm"
FORMAT_VERSION = 1
CONFIG_FILE = "wordlm.json"
ALLOWED_LAYERS = {"InputLayer", "Embedding", "LSTM", "Dropout", "Dense"}


def save(lm, directory) -> Path:
    """Save `lm` to `directory` (created if needed), replacing any model there atomically.

    Holds the directory's write lock (`locking.py`: a second writer gets a one-line error). Removes
    only what a save writes: the weights file the previous `wordlm.json` named, and the hidden
    temporaries of interrupted saves; a user's own `model-epoch05.keras` stays."""
    from wordlm.locking import hold

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ModelError(f"{directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    with hold(directory):
        previous = _weights_file_named(directory)
        weights = f"model-{secrets.token_hex(4)}.keras"
        tmp_weights = directory / f".tmp-{weights}"  # Keras insists on the .keras suffix
        try:
            with naming(directory / weights):  # a full disk names the model's file
                lm.runtime.save_network(lm, tmp_weights)  # Keras's save, or a copy of the archive loaded
        except Exception:
            tmp_weights.unlink(missing_ok=True)
            raise
        os.replace(tmp_weights, directory / weights)
        runtime_files.after_save(lm, directory, weights)  # its ONNX graph, model-<id>.onnx (runtime/files.py)
        config = model_config(lm, weights)
        write_atomic(directory / CONFIG_FILE, json.dumps(config, ensure_ascii=False, indent=1).encode("utf-8"))
        # Committed. Remove the previous weights and what an interrupted earlier save left behind.
        stale = [*directory.glob(".tmp-model-*.keras")] + ([directory / previous] if previous not in (None, weights) else [])
        stale += [*directory.glob(".tmp-model-*.onnx")]
        stale += [runtime_files.graph_path(directory, previous)] if previous not in (None, weights) else []
        for path in stale:
            path.unlink(missing_ok=True)
    lm.source = directory
    return directory


def _weights_file_named(directory: Path) -> str | None:
    """The weights file the current `wordlm.json` names, when it is a save's own `model-<hex>.keras`."""
    try:
        name = parse((directory / CONFIG_FILE).read_text("utf-8"), str(directory), ValueError).get("weights_file")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(name, str) and name.startswith("model-") and name.endswith(".keras") and "/" not in name:
        return name
    return None


def model_config(lm, weights_file: str | None = None) -> dict:
    """The contents of `wordlm.json` for `lm` (`weights_file`: the saved network's file name)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "weights_file": weights_file,
        "tokenizer": lm.tokenizer.to_config(),
        "framing": lm.framing.to_config(),
        "size": lm.size.to_config(),
        "vocab_size": len(lm.vocab),
        "info": lm.info,
        "vocab": lm.vocab.to_config(),
    }


def read_config(directory) -> dict:
    """The parsed, validated `wordlm.json` of a model directory (no TensorFlow needed)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(not_a_directory(directory))
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise ModelError(f"{directory}: not a wordlm model directory (no {CONFIG_FILE}); train one with `wordlm train`")
    try:
        with open(path, "rb") as f:  # bounded: a huge file is refused before it is held in memory
            data = f.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ModelError(f"{path}: refused: larger than {MAX_CONFIG_BYTES >> 20} MiB (a wordlm.json holds the "
                             "vocabulary and training notes: a few MB even for a million words)")
        text = data.decode("utf-8")
    except (UnicodeDecodeError, OSError) as e:
        raise ModelError(f"{path}: cannot read the model file ({e})") from None
    config = parse(text, f"{path}: corrupt model file", ModelError)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: not a wordlm model file")
    version = config.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelError(f"{path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: format version {version} is newer than this wordlm supports ({FORMAT_VERSION}); upgrade wordlm"
        )
    for key in ("weights_file", "tokenizer", "framing", "size", "vocab"):
        if key not in config:
            raise ModelError(f"{path}: corrupt model file (missing {key!r})")
    check_config(config, path)
    return config


def read_parts(directory, runtime: str | None = None) -> dict:
    """The parts of a model directory, read and checked (see the module docstring): tokenizer, vocab,
    framing, size, network (the Keras model), info, weights_file, and runtime: the one that runs the
    network (`wordlm.runtime.resolve(runtime)`). Under "onnx" the network is None and no TensorFlow
    is imported: `saving.load` builds the LanguageModel of the parts and its ONNX Runtime session
    (`runtime/files.py`, which checks the weights as the Keras path does)."""
    directory = Path(directory)
    config = read_config(directory)
    path = directory / CONFIG_FILE
    try:
        tokenizer = Tokenizer.from_config(config["tokenizer"])
        vocab = Vocabulary.from_config(config["vocab"])
        framing = framing_from_config(config["framing"])
        size = ModelSize.from_config(config["size"])
    except (KeyError, TypeError, ValueError, InputError) as e:
        raise ModelError(f"{path}: corrupt model file ({e})") from None
    weights = directory / config["weights_file"]
    if weights.exists() and not weights.is_file():  # a folder, or a FIFO that would block the open
        raise ModelError(f"{weights}: the weights file is not a regular file")
    if not weights.is_file():
        raise ModelError(f"{directory}: the weights file {config['weights_file']!r} is missing")
    check_archive(weights, config)  # as data, before Keras deserializes anything
    parts = {"tokenizer": tokenizer, "vocab": vocab, "framing": framing, "size": size, "network": None,
             "info": config.get("info") or {}, "weights_file": config["weights_file"]}
    # -- the runtime hook (wordlm/runtime/): the ONNX graph beside the weights, no TensorFlow --
    graph_exists = runtime_files.graph_path(directory, config["weights_file"]).is_file()
    if resolve_runtime(runtime, graph_exists) == "onnx":
        return {**parts, "runtime": "onnx"}
    from wordlm.tf_quiet import import_tensorflow

    import_tensorflow()
    import keras

    try:
        network = keras.saving.load_model(weights, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for bad or unsafe files
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{weights}: cannot load the Keras model safely ({message})") from None
    bad = sorted({type(layer).__name__ for layer in network.layers} - ALLOWED_LAYERS)
    if bad:
        raise ModelError(f"{weights}: refused: layers {', '.join(bad)} are not wordlm layers (untrusted model)")
    out_dim = network.output_shape[-1]
    if out_dim != len(vocab) or config.get("vocab_size", len(vocab)) != len(vocab):
        raise ModelError(
            f"{directory}: vocabulary has {len(vocab)} entries but the network predicts {out_dim}: mismatched files"
        )
    if not all(np.isfinite(w).all() for w in network.get_weights()):
        raise ModelError(f"{weights}: refused: the network's weights are not all finite (NaN or infinity: "
                         "a training run that diverged); retrain with a lower --learning-rate")
    return {**parts, "network": network, "runtime": "tensorflow"}
