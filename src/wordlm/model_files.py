"""What a model directory's files may contain, checked before anything is built from them.

- `check_config(config, path)`: the schema of `wordlm.json` — every field's type and range, and
  that the parts agree (vocabulary size, framing options). One `ModelError` names the file and the
  field: `m/wordlm.json: "size.units" must be an integer >= 1, got "12"`.
- `check_archive(path, config)`: the `.keras` file (a zip) is read as data *before* Keras
  deserializes it: its `config.json` may name only the classes wordlm's networks are made of
  (an allowlist of module and class pairs; no Lambda, no function, no custom or registered
  object, so no published safe-mode bypass can reach Keras), its size is bounded, and its layers
  must match `wordlm.json`'s sizes (embedding, LSTM layers and units, dropout, vocabulary).

Not here: reading and writing the files (`saving.py`).
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from pathlib import Path

from wordlm.errors import ModelError
from wordlm.framings import NAMES as FRAMINGS
from wordlm.jsonfile import parse
from wordlm.text import MODES as TOKENIZERS
from wordlm.vocab import RESERVED

MAX_CONFIG_BYTES = 64 << 20  # bytes of `wordlm.json`: the vocabulary's words (a 1M-word vocabulary is ~15 MB)
MAX_ARCHIVE_CONFIG = 16 << 20  # bytes of a `.keras` file's config.json (a wordlm network's is ~10 KB)
WEIGHTS_NAME = re.compile(r"model-[0-9a-f]+\.keras")
ALLOWED_CLASSES = {
    "keras.src.models.functional": {"Functional"},
    "keras.layers": {"InputLayer", "Embedding", "LSTM", "Dropout", "Dense"},
    "keras.src.ops.numpy": {"NotEqual"},  # the padding mask of the Embedding
    "keras": {"DTypePolicy"},
    "keras.initializers": {"GlorotUniform", "Orthogonal", "RandomUniform", "Zeros", "Ones"},
    "keras.losses": {"SparseCategoricalCrossentropy"},
    "keras.optimizers": {"Adam"},
    None: {"__keras_tensor__"},
}


def not_a_directory(path) -> str:
    """Why `path`, which is not a directory, cannot be a model directory (for a `ModelError`):
    missing, a regular file (and which kind, when it is a mixture or n-gram file's place), or a
    device, FIFO or socket. Never reads the file."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path}: no such model directory"
    except OSError as e:
        return f"{path}: cannot look at it ({e.strerror or e})"
    if stat.S_ISREG(mode):
        return (f"{path}: a file, not a model directory (a model is a directory holding wordlm.json, written by "
                "`wordlm train`; a mixture is a .json file written by `wordlm mix`)")
    kind = ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return f"{path}: not a model directory ({kind})"


def _integer(value, low: int | None = None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)


def check_config(config, path) -> None:
    """Raise ModelError unless `config` (a parsed `wordlm.json`) is well-formed."""

    def fail(field: str, expected: str, value) -> None:
        shown = json.dumps(value)[:60] if not isinstance(value, dict) else "an object"
        raise ModelError(f'{path}: "{field}" must be {expected}, got {shown}')

    if not isinstance(config, dict):
        fail("(top level)", "an object", config)
    if not isinstance(config.get("weights_file"), str) or not WEIGHTS_NAME.fullmatch(config["weights_file"]):
        fail("weights_file", "a file name like model-1a2b3c4d.keras", config.get("weights_file"))
    sections = {name: config.get(name) for name in ("tokenizer", "framing", "size", "vocab")}
    for name, value in sections.items():
        if not isinstance(value, dict):
            fail(name, "an object", value)
    tok, fr, size, vocab = sections.values()
    if tok.get("mode") not in TOKENIZERS:
        fail("tokenizer.mode", f"one of {', '.join(TOKENIZERS)}", tok.get("mode"))
    if not isinstance(tok.get("lower"), bool):
        fail("tokenizer.lower", "true or false", tok.get("lower"))
    if fr.get("name") not in FRAMINGS:
        fail("framing.name", f"one of {', '.join(FRAMINGS)}", fr.get("name"))
    if not isinstance(fr.get("boundaries"), bool):
        fail("framing.boundaries", "true or false", fr.get("boundaries"))
    if fr["name"] == "window" and not _integer(fr.get("context"), 1):
        fail("framing.context", "an integer >= 1", fr.get("context"))
    if fr["name"] == "line" and not _integer(fr.get("max_length"), 2):
        fail("framing.max_length", "an integer >= 2", fr.get("max_length"))
    if fr["name"] == "char" and tok["mode"] != "char":
        fail("tokenizer.mode", "char for the char framing", tok["mode"])
    for key in ("embedding_dim", "units", "layers"):
        if not _integer(size.get(key), 1):
            fail(f"size.{key}", "an integer >= 1", size.get(key))
    dropout = size.get("dropout")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (0 <= dropout < 1):
        fail("size.dropout", "a number in [0, 1)", dropout)
    words = vocab.get("words")
    if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
        fail("vocab.words", "a list of non-empty strings", words)
    if len(set(words)) != len(words) or set(words) & set(RESERVED):
        fail("vocab.words", "distinct words, none of them reserved", "duplicates or reserved tokens")
    if "vocab_size" in config and config["vocab_size"] != len(words) + len(RESERVED):
        fail("vocab_size", f"{len(words) + len(RESERVED)} (the words plus {len(RESERVED)} reserved)", config["vocab_size"])
    if not isinstance(config.get("info", {}), dict):
        fail("info", "an object", config.get("info"))


def check_archive(path: Path, config: dict) -> None:
    """Raise ModelError unless the `.keras` archive at `path` holds only wordlm's layers, of the sizes
    `config` says (read as data: nothing is deserialized)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_ARCHIVE_CONFIG:
                raise ModelError(f"{path}: refused: its config.json is {info.file_size:,} bytes "
                                 f"(a wordlm network's is a few KB; at most {MAX_ARCHIVE_CONFIG:,})")
            text = archive.read(info).decode("utf-8")
            if "model.weights.h5" not in archive.namelist():
                raise ModelError(f"{path}: not a Keras archive (no model.weights.h5)")
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: not a readable Keras archive ({e})") from None
    network = parse(text, f"{path}: config.json", ModelError)
    _check_classes(network, path)
    layers = network.get("config", {}).get("layers") if isinstance(network, dict) else None
    if not isinstance(layers, list):
        raise ModelError(f"{path}: config.json has no layer list: not a wordlm network")
    _check_sizes({layer.get("name"): layer.get("config", {}) for layer in layers if isinstance(layer, dict)},
                 config, path)


def _check_classes(node, path) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item:
                module, name = item.get("module"), item.get("class_name")
                registered = item.get("registered_name")
                if name not in ALLOWED_CLASSES.get(module, ()) or registered not in (None, name):
                    raise ModelError(f"{path}: refused: {module}.{name} is not part of a wordlm network "
                                     "(untrusted model)")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_sizes(layers: dict, config: dict, path) -> None:
    size, vocab_size = config["size"], len(config["vocab"]["words"]) + len(RESERVED)
    want = {"embedding": {"input_dim": vocab_size, "output_dim": size["embedding_dim"]},
            "logits": {"units": vocab_size}}
    for i in range(size["layers"]):
        want[f"lstm_{i + 1}"] = {"units": size["units"]}
    lstms = sum(1 for name in layers if isinstance(name, str) and name.startswith("lstm_"))
    if lstms != size["layers"]:
        raise ModelError(f"{path}: the network has {lstms} LSTM layers but wordlm.json says {size['layers']}: "
                         "mismatched files")
    for name, fields in want.items():
        for key, value in fields.items():
            got = layers.get(name, {}).get(key)
            if got != value:
                raise ModelError(f"{path}: layer {name} has {key} {got} but wordlm.json implies {value}: mismatched files")
    framing = config["framing"]
    recurrent = framing["name"] in ("sequence", "char")
    length = {"word": 1, "window": framing.get("context"), "line": (framing.get("max_length") or 0) - 1}.get(framing["name"])
    shape = layers.get("ids", {}).get("batch_shape")
    sequences = layers.get(f"lstm_{size['layers']}", {}).get("return_sequences")
    if not isinstance(shape, list) or len(shape) != 2 or shape[1] != length or sequences is not recurrent:
        raise ModelError(f"{path}: the network's input {shape} does not fit the {framing['name']} framing of "
                         "wordlm.json: mismatched files")
    rates = [c.get("rate") for n, c in layers.items() if isinstance(n, str) and n.startswith("dropout_")]
    if any(not isinstance(r, (int, float)) or not math.isclose(r, size["dropout"]) for r in rates) or \
            (size["dropout"] > 0) != bool(rates):
        raise ModelError(f"{path}: the network's dropout does not match wordlm.json's {size['dropout']}: mismatched files")
