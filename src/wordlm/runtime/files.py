"""The ONNX graph's file in a model directory: where it lives, when it is rebuilt, loading with it.

`model-<id>.onnx` sits beside the weights file `model-<id>.keras` that `wordlm.json` names, so a
new save (a new weights file name) never meets an old graph. The graph's metadata holds
`weights_key` (`onnx_graph.weights_key`: the weights file's name and the CRC-32 of the weights in
it), checked on every load with the graph's inputs and outputs: a graph whose key or signature
differs, or that ONNX Runtime cannot read, is rebuilt
from the weights (h5py, no TensorFlow) and written atomically; a folder that cannot be written keeps
the graph in memory. `save` writes it at once when the `onnx` package is installed (`after_save`).
Trust: a graph file whose key and signature match is run as it is (ONNX Runtime runs no Python code,
but the numbers are that file's); delete it to have it rebuilt from the checked weights.

Not here: the graph itself (`onnx_graph.py`), running it (`ort.py`), the rest of a model directory
(`model_dir.py`; loading under a runtime: `saving.py`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np

from wordlm.errors import ModelError


def graph_path(directory, weights_file: str) -> Path:
    """`model-<id>.onnx` beside the weights file `model-<id>.keras`."""
    return Path(directory) / (Path(weights_file).stem + ".onnx")


def _write(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (a temporary in the same folder, fsync, rename)."""
    tmp = path.with_name(f".tmp-{path.stem}-{secrets.token_hex(4)}.onnx")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build(lm, weights: dict, key: str, where=None) -> bytes:
    """The serialized graph of `lm`'s network from its arrays; refuses weights that do not fit `lm`
    (ModelError naming `where`, the weights file, as loading under TensorFlow does)."""
    from wordlm.runtime.onnx_graph import graph_bytes

    where = where if where is not None else key
    vocab = weights["dense_bias"].shape[0]
    if vocab != lm.vocab_size or weights["embedding"].shape[0] != lm.vocab_size:
        raise ModelError(f"{Path(where).parent}: vocabulary has {lm.vocab_size} entries but the network predicts "
                         f"{vocab}: mismatched files")
    if not all(np.isfinite(w).all() for w in weights.values()):
        raise ModelError(f"{where}: refused: the network's weights are not all finite (NaN or infinity: a training "
                         "run that diverged); retrain with a lower --learning-rate")
    return graph_bytes(weights, lm.size.layers, lm.size.units, lm.mask_bias(), key)


def load_runtime(lm, directory, weights_file: str):
    """An `OnnxRuntime` for the model directory's weights: its graph file when current, else a new
    graph built from the weights and written beside them (atomically; kept in memory if the folder
    is read-only)."""
    from wordlm.runtime.onnx_graph import read_keras_weights, weights_key
    from wordlm.runtime.ort import OnnxRuntime

    weights = Path(directory) / weights_file
    key = weights_key(weights)
    path = graph_path(directory, weights_file)
    if path.is_file():
        try:
            runtime = OnnxRuntime(str(path), weights)
            if runtime.session.get_modelmeta().custom_metadata_map.get("weights_key") == key and _fits(runtime, lm):
                return runtime
        except Exception:  # unreadable: rebuilt below  # noqa: BLE001
            pass
    try:
        arrays = read_keras_weights(weights, lm.size.layers)
    except (OSError, KeyError, ValueError) as e:
        raise ModelError(f"{weights}: cannot read the network's weights ({e})") from None
    data = build(lm, arrays, key, weights)
    try:
        _write(path, data)
    except OSError:
        return OnnxRuntime(data, weights)  # a read-only folder: the graph lives in memory
    return OnnxRuntime(str(path), weights)


def use_onnx(lm):
    """Run an in-memory Keras model's inference through ONNX Runtime (its graph built from the
    Keras weights as they are now; the Keras network stays for training and saving). For tests that
    run the suite under ONNX Runtime (`WORDLM_RUNTIME=onnx`) and for benchmarks. Returns `lm`."""
    from wordlm.runtime.onnx_graph import keras_weights
    from wordlm.runtime.ort import OnnxRuntime

    lm.runtime = OnnxRuntime(build(lm, keras_weights(lm.keras_model, lm.size.layers), "in memory"))
    lm.reset_compiled()
    return lm


def _fits(runtime, lm) -> bool:
    """The session's inputs and outputs are the graph `onnx_graph.py` builds for `lm`'s sizes."""
    session = runtime.session
    ins = [(i.name, i.shape[1:]) for i in session.get_inputs()]
    outs = [(o.name, o.shape[1:]) for o in session.get_outputs()]
    return ins == [("ids", ["T"]), ("lengths", []), ("state", [lm.state_size]), ("score_rows", []),
                   ("targets", ["K"]), ("dist_rows", [])] and \
        outs == [("target_logprobs", ["K"]), ("logprobs", [lm.vocab_size]), ("state_out", [lm.state_size])]


def after_save(lm, directory, weights_file: str) -> None:
    """Write `model-<id>.onnx` for a weights file `save` just wrote, when `onnx` is installed
    (otherwise the first load that wants it builds it). Best effort: a failure leaves no file."""
    from wordlm.runtime import onnx_available

    if not lm.has_network or not onnx_available(build=True):
        return
    from wordlm.runtime.onnx_graph import weights_key

    try:
        data = build(lm, lm.runtime.graph_weights(lm), weights_key(Path(directory) / weights_file))
        _write(graph_path(directory, weights_file), data)
    except (OSError, ModelError):
        pass


def export_graph(lm, out) -> Path:
    """Write `lm`'s network as one ONNX file at `out` (`wordlm export --format onnx`); the inputs
    and outputs are documented in `onnx_graph.py`."""
    from wordlm.runtime.onnx_graph import weights_key

    source = getattr(lm.runtime, "weights_path", None)
    key = weights_key(source) if source is not None else ""
    data = build(lm, lm.runtime.graph_weights(lm), key)
    out = Path(out)
    _write(out, data)
    return out
