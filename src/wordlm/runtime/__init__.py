"""Which runtime runs a model's network at inference time: TensorFlow or ONNX Runtime.

Every `LanguageModel` holds a declared runtime object, `lm.runtime` (consumers ask it, never probe
for a Keras model):

- `TensorFlowRuntime`: the Keras network and the compiled `tf.function`s of `inference/`
  (with the whole greedy and beam searches as compiled loops: `search_loops = True`);
- `OnnxRuntime` (`ort.py`): one ONNX Runtime session over the graph `onnx_graph.py` builds from the
  saved weights; the same primitives answered in numpy, and the greedy and beam loops in numpy over
  its step (`numpy_loops.py`). Loading a model this way imports no TensorFlow.

Both offer `compiled(lm)`: the named functions of `inference/compiled.py` (`next_fixed`, `targets`,
`read`, `step`, `level`, …) as callables on numpy arrays whose results `np.asarray` turns into numpy.

`resolve(requested)` picks one: an explicit "tensorflow" or "onnx", else `WORDLM_RUNTIME`, else
"auto" = ONNX Runtime when `onnxruntime` (and `onnx`, to build a missing graph) can be imported.
Not here: the graph (`onnx_graph.py`), its file beside the weights (`files.py`), running it (`ort.py`).
"""

from __future__ import annotations

import importlib.util
import os

RUNTIMES = ("auto", "tensorflow", "onnx")
ENV = "WORDLM_RUNTIME"


class TensorFlowRuntime:
    """The Keras network through TensorFlow (`inference/compiled.py`)."""

    name = "tensorflow"
    search_loops = True  # greedy and beam as compiled `tf.while_loop`s (`inference/search_loops.py`)

    def compiled(self, lm):
        from wordlm.inference.compiled import Compiled

        return Compiled(lm)

    def save_network(self, lm, path) -> None:
        """Write the network as a `.keras` archive at `path`."""
        lm.keras_model.save(path, overwrite=True)

    def graph_weights(self, lm) -> dict:
        """The arrays `onnx_graph.build_graph` takes."""
        from wordlm.runtime.onnx_graph import keras_weights

        return keras_weights(lm.keras_model, lm.size.layers)

    def __repr__(self) -> str:
        return "TensorFlowRuntime()"


def onnx_available(build: bool = True) -> bool:
    """True when ONNX Runtime can be imported (and, with `build`, the `onnx` package that builds graphs)."""
    names = ("onnxruntime", "onnx") if build else ("onnxruntime",)
    return all(importlib.util.find_spec(n) is not None for n in names)


def resolve(requested: str | None = None, graph_exists: bool = False) -> str:
    """"tensorflow" or "onnx": `requested`, else `$WORDLM_RUNTIME`, else "auto" (ONNX Runtime when it
    is installed and the graph exists or `onnx` can build it)."""
    choice = (requested or os.environ.get(ENV) or "auto").strip().lower()
    if choice not in RUNTIMES:
        from wordlm.errors import InputError

        raise InputError(f"unknown runtime {choice!r}: expected one of {', '.join(RUNTIMES)}")
    if choice != "auto":
        return choice
    return "onnx" if onnx_available(build=not graph_exists) else "tensorflow"
