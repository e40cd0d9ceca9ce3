"""ONNX Runtime as the inference runtime: one session per model, the primitives' functions in numpy.

`OnnxRuntime(graph)` holds one `InferenceSession` (2 intra-op threads, sequential execution) over
the graph of `onnx_graph.py`. `OnnxRuntime.compiled(lm)` answers the same named functions as
`inference/compiled.py` (the table there) with the same numbers to float32 rounding, so
`inference/streams.py`, the rerank trie and the decoders run unchanged on it:

- fixed framings' left-padded contexts (`next_fixed`, `targets_fixed`) become post-padded rows
  with lengths (a masked Keras LSTM skips the leading `<pad>`s: the same as reading the suffix);
- `read`'s left-padded time-major prompts likewise; `step`, `level` and `chunk` are passes of
  one or many positions from a given state.

The greedy and beam searches' loops (`greedy`, `beam`) are `numpy_loops.py`'s, over `read` and `step`.
Not here: building the graph (`onnx_graph.py`), finding or writing its file (`files.py`).
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from wordlm.runtime import numpy_loops

THREADS = 2  # intra-op threads (the measurements; `WORDLM_ORT_THREADS` overrides)
_EMPTY_ROWS = np.zeros(0, dtype=np.int64)
_EMPTY_TARGETS = np.zeros((0, 1), dtype=np.int64)


def session(graph):
    """An `InferenceSession` on the CPU for a graph (a path or serialized bytes)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("WORDLM_ORT_THREADS", THREADS))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(graph if isinstance(graph, (bytes, str)) else str(graph), options,
                                providers=["CPUExecutionProvider"])


class OnnxRuntime:
    """The network as one ONNX Runtime session (see the module docstring)."""

    name = "onnx"
    search_loops = True  # the compiled searches' loops, in numpy over this session (`numpy_loops.py`)

    def __init__(self, graph, weights_path=None):
        self.session = session(graph)
        self.graph = graph  # the .onnx path (or bytes) the session was made from
        self.weights_path = weights_path  # the `.keras` archive the graph was built from
        self._functions = None

    def compiled(self, lm):
        if self._functions is None:
            self._functions = OnnxFunctions(self.session, lm.state_size, lm.vocab_size)
        return self._functions

    def save_network(self, lm, path) -> None:
        """A model loaded without Keras saves the archive it was loaded from (the same network)."""
        if lm.keras_model is not None:  # a Keras model run by ONNX Runtime (`files.use_onnx`)
            lm.keras_model.save(path, overwrite=True)
        else:
            shutil.copyfile(self.weights_path, path)

    def graph_weights(self, lm) -> dict:
        from wordlm.runtime.onnx_graph import keras_weights, read_keras_weights

        if lm.keras_model is not None:
            return keras_weights(lm.keras_model, lm.size.layers)
        return read_keras_weights(self.weights_path, lm.size.layers)

    def __repr__(self) -> str:
        return f"OnnxRuntime({self.graph if isinstance(self.graph, str) else '<in memory>'})"


class OnnxFunctions:
    """`inference/compiled.py`'s functions on one session; every result is numpy."""

    keras_model = None  # what `lm.compiled` compares with the model's own: no Keras network here

    def __init__(self, session, state_size: int, vocab_size: int):
        self.session = session
        self.state_size = state_size
        self.vocab_size = vocab_size
        self._table = {
            "next_fixed": self.next_fixed, "next_recurrent": self.next_recurrent,
            "targets_fixed": self.targets_fixed, "targets": self.targets, "targets_pair": self.targets_pair,
            "chunk": self.chunk, "read": self.read, "step": self.step, "level": self.level,
            "greedy": self.greedy, "beam": self.beam,
        }

    def __getitem__(self, name: str):
        return self._table[name]

    # -- one call of the graph -------------------------------------------------------------
    def run(self, ids, lengths, state=None, score_rows=_EMPTY_ROWS, targets=_EMPTY_TARGETS, dist_rows=_EMPTY_ROWS):
        if state is None:
            state = np.zeros((ids.shape[0], self.state_size), dtype=np.float32)
        return self.session.run(None, {
            "ids": np.ascontiguousarray(ids, dtype=np.int32), "lengths": np.asarray(lengths, dtype=np.int32),
            "state": np.ascontiguousarray(state, dtype=np.float32),
            "score_rows": np.asarray(score_rows, dtype=np.int64), "targets": np.asarray(targets, dtype=np.int64),
            "dist_rows": np.asarray(dist_rows, dtype=np.int64)})

    @staticmethod
    def _post_padded(x):
        """Left-padded rows <int32>[B, L] → (post-padded rows, lengths)."""
        x = np.asarray(x, dtype=np.int32)
        order = np.argsort(x == 0, axis=1, kind="stable")  # real ids first, in order
        lengths = (x != 0).sum(axis=1).astype(np.int32)
        return np.take_along_axis(x, order, axis=1)[:, : max(1, int(lengths.max(initial=1)))], lengths

    @staticmethod
    def _last(lengths):
        """Time-major positions of each row's last id."""
        return (lengths.astype(np.int64) - 1) * len(lengths) + np.arange(len(lengths))

    # -- the functions of `inference/compiled.py` -------------------------------------------
    def next_fixed(self, x):
        ids, lengths = self._post_padded(x)
        return self.run(ids, lengths, dist_rows=self._last(lengths))[1]

    def next_recurrent(self, x, lengths):
        lengths = np.asarray(lengths, dtype=np.int32)
        return self.run(x, lengths, dist_rows=self._last(lengths))[1]

    def targets_fixed(self, x, y):
        ids, lengths = self._post_padded(x)
        return self.run(ids, lengths, score_rows=self._last(lengths), targets=np.asarray(y)[:, None])[0][:, 0]

    def _scored(self, x, start):
        """Post-padded rows' scored positions, row by row (the order of `tf.boolean_mask` on [B, T])."""
        x = np.asarray(x)
        keep = (x != 0) & (np.arange(x.shape[1])[None, :] >= np.asarray(start)[:, None])
        b, t = np.nonzero(keep)
        return keep, t * x.shape[0] + b, (x != 0).sum(axis=1)

    def targets(self, x, y, start):
        keep, rows, lengths = self._scored(x, start)
        return self.run(x, lengths, score_rows=rows, targets=np.asarray(y)[keep][:, None])[0][:, 0]

    def targets_pair(self, x, y, y2, start):
        keep, rows, lengths = self._scored(x, start)
        both = np.stack([np.asarray(y)[keep], np.asarray(y2)[keep]], axis=1)
        lp = self.run(x, lengths, score_rows=rows, targets=both)[0]
        return lp[:, 0], lp[:, 1]

    def chunk(self, x, y, state):
        n = len(x)
        lp, _, new_state = self.run(np.asarray(x)[None, :], [n], state, score_rows=np.arange(n),
                                    targets=np.asarray(y)[:, None])
        return lp[:, 0], new_state

    def read(self, ids):
        rows, lengths = self._post_padded(np.asarray(ids).T)
        _, lp, state = self.run(rows, lengths, dist_rows=self._last(lengths))
        return lp, state

    def step(self, ids, state):
        ids = np.asarray(ids, dtype=np.int32)
        n = len(ids)
        _, lp, new_state = self.run(ids[:, None], np.ones(n, np.int32), state, dist_rows=np.arange(n))
        return lp, new_state

    def greedy(self, ids, bias, budgets, min_words):
        return numpy_loops.greedy(self.read, self.step, self.vocab_size, ids, bias, budgets, min_words)

    def beam(self, ids, bias, budgets, min_words, width, num, kind, alpha):
        return numpy_loops.beam(self.read, self.step, self.vocab_size, ids, bias, budgets, min_words, width, num,
                                kind, alpha)

    def level(self, ids, state, rows, targets):
        ids = np.asarray(ids, dtype=np.int32)
        lp, _, new_state = self.run(ids[:, None], np.ones(len(ids), np.int32), state, score_rows=rows,
                                    targets=np.asarray(targets)[:, None])
        return lp[:, 0], new_state
