"""The network as one ONNX graph, built from the saved weights with the `onnx` package (no TensorFlow).

One graph serves every framing and every use (whole passes, single steps, the trie's levels): the
framing's contexts become post-padded rows plus lengths before the call (`ort.py`), and the carried
LSTM state is an input and an output.

Inputs                                    | Outputs
------------------------------------------|-------------------------------------------------------
`ids`        <int32>[B, T] post-padded    | `target_logprobs` <float32>[P, K]: ln p(targets[p, k] | position score_rows[p])
`lengths`    <int32>[B] real ids per row  | `logprobs`        <float32>[R, V]: ln p(· | position dist_rows[r])
`state`      <float32>[B, S] start state  | `state_out`       <float32>[B, S]: the state after each row's `lengths` ids
`score_rows` <int64>[P] positions         |
`targets`    <int64>[P, K]                |
`dist_rows`  <int64>[R] positions         |

A position is time-major: `t * B + b` is row b after reading its ids 0 … t. The state is laid out
`[h1, c1, h2, c2, …]` (`inference/network.py`). Every log-probability is
`logits − logsumexp(logits)` with `logits = h · kernel + (bias + mask)`, `mask` −inf on the tokens
never predicted (`lm.mask_bias()`), the formula of `Network.target_logprobs`/`log_softmax`
(as ONNX's `LogSoftmax`, then the targets gathered).
The LSTM stack is ONNX's `LSTM` op (gates reordered from Keras's i, f, c, o to ONNX's i, o, f, c;
`sequence_lens` stops each row at its length). Measured (`bench_runtime.py`'s `lstm_op_vs_gates`,
benchmarks/runtime.md): for ONE step the gates written out (Gemm, Sigmoid, Tanh) took 0.74-0.93x
the op's time for one row and 0.8-1.5x for 8 rows (three runs); for whole passes they would
need a `Scan` running a dozen ops per time step against the op's own C++ loop (not built). A step
graph with written-out gates beside this one is the open lever for decoding steps.

Not here: running it (`ort.py`), where the file lives and when it is rebuilt (`files.py`).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

OPSET = 17
GRAPH_VERSION = 1  # part of every graph's `weights_key`: a graph built by another version is rebuilt
WEIGHTS_MEMBER = "model.weights.h5"  # inside a `.keras` archive


def read_keras_weights(path, layers: int) -> dict[str, np.ndarray]:
    """The network's arrays from a `.keras` archive, read with h5py (no Keras, no TensorFlow):
    `embedding` [V, E], `kernel_i` [in, 4U], `recurrent_i` [U, 4U], `bias_i` [4U] per LSTM layer i,
    `dense_kernel` [U, V], `dense_bias` [V]. Keras names the groups by class and order
    (`lstm`, `lstm_1`, …), whatever the layers' own names."""
    import h5py

    with zipfile.ZipFile(path) as archive, archive.open(WEIGHTS_MEMBER) as member:
        data = io.BytesIO(member.read())
    with h5py.File(data, "r") as f:
        group = f["layers"]
        lstm_names = sorted((k for k in group if k == "lstm" or k.startswith("lstm_")),
                            key=lambda k: 0 if k == "lstm" else int(k.split("_")[1]))
        if len(lstm_names) != layers:
            raise ValueError(f"{path}: {len(lstm_names)} LSTM layers stored, {layers} expected")
        out = {"embedding": group["embedding/vars/0"][()], "dense_kernel": group["dense/vars/0"][()],
               "dense_bias": group["dense/vars/1"][()]}
        for i, name in enumerate(lstm_names):
            cell = group[f"{name}/cell/vars"]
            out[f"kernel_{i}"], out[f"recurrent_{i}"], out[f"bias_{i}"] = (cell[k][()] for k in ("0", "1", "2"))
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def keras_weights(keras_model, layers: int) -> dict[str, np.ndarray]:
    """The same arrays from a live Keras model (what `save` writes)."""
    out = {"embedding": keras_model.get_layer("embedding").get_weights()[0]}
    dense = keras_model.get_layer("logits").get_weights()
    out["dense_kernel"], out["dense_bias"] = dense
    for i in range(layers):
        out[f"kernel_{i}"], out[f"recurrent_{i}"], out[f"bias_{i}"] = keras_model.get_layer(f"lstm_{i + 1}").get_weights()
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def _onnx_gates(w: np.ndarray, units: int) -> np.ndarray:
    """Keras's gate blocks i, f, c, o (last axis) reordered to ONNX's i, o, f, c."""
    i, f, c, o = (w[..., k * units : (k + 1) * units] for k in range(4))
    return np.concatenate([i, o, f, c], axis=-1)


def build_graph(weights: dict[str, np.ndarray], layers: int, units: int, mask_bias: np.ndarray,
                key: str = ""):
    """The `onnx.ModelProto` of the network (see the module docstring); `key` is stored in the
    model's metadata (`weights_key`) so a stale file is recognised."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    vocab = int(weights["dense_bias"].shape[0])
    state_size = 2 * layers * units
    inits = [
        numpy_helper.from_array(weights["embedding"], "embedding"),
        numpy_helper.from_array(weights["dense_kernel"], "dense_kernel"),
        numpy_helper.from_array((weights["dense_bias"] + mask_bias).astype(np.float32), "dense_bias_masked"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([-1, units], dtype=np.int64), "flat_shape"),
    ]
    nodes = [
        helper.make_node("Transpose", ["ids"], ["ids_tm"], perm=[1, 0]),
        helper.make_node("Gather", ["embedding", "ids_tm"], ["x0"]),  # [T, B, E]
    ]
    x, finals = "x0", []
    for i in range(layers):
        w = _onnx_gates(weights[f"kernel_{i}"], units).T[None]  # [1, 4U, in]
        r = _onnx_gates(weights[f"recurrent_{i}"], units).T[None]  # [1, 4U, U]
        b = np.concatenate([_onnx_gates(weights[f"bias_{i}"], units), np.zeros(4 * units, np.float32)])[None]
        inits += [numpy_helper.from_array(np.ascontiguousarray(w, dtype=np.float32), f"W{i}"),
                  numpy_helper.from_array(np.ascontiguousarray(r, dtype=np.float32), f"R{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"B{i}"),
                  numpy_helper.from_array(np.array([2 * i * units], np.int64), f"h{i}_lo"),
                  numpy_helper.from_array(np.array([(2 * i + 1) * units], np.int64), f"c{i}_lo"),
                  numpy_helper.from_array(np.array([(2 * i + 2) * units], np.int64), f"c{i}_hi")]
        nodes += [
            helper.make_node("Slice", ["state", f"h{i}_lo", f"c{i}_lo", "axis1"], [f"h{i}_in2"]),
            helper.make_node("Slice", ["state", f"c{i}_lo", f"c{i}_hi", "axis1"], [f"c{i}_in2"]),
            helper.make_node("Unsqueeze", [f"h{i}_in2", "axis0"], [f"h{i}_in"]),
            helper.make_node("Unsqueeze", [f"c{i}_in2", "axis0"], [f"c{i}_in"]),
            helper.make_node("LSTM", [x, f"W{i}", f"R{i}", f"B{i}", "lengths", f"h{i}_in", f"c{i}_in"],
                             [f"y{i}4", f"h{i}_out3", f"c{i}_out3"], hidden_size=units),
            helper.make_node("Squeeze", [f"y{i}4", "axis1"], [f"y{i}"]),  # [T, B, U]
            helper.make_node("Squeeze", [f"h{i}_out3", "axis0"], [f"h{i}_out"]),
            helper.make_node("Squeeze", [f"c{i}_out3", "axis0"], [f"c{i}_out"]),
        ]
        x = f"y{i}"
        finals += [f"h{i}_out", f"c{i}_out"]
    nodes += [
        helper.make_node("Concat", finals, ["state_out"], axis=1),
        helper.make_node("Reshape", [x, "flat_shape"], ["h_flat"]),  # [T*B, U], time-major positions
        # scored targets: the log-softmax of the scored positions only, the targets picked (ONNX
        # Runtime's LogSoftmax is vectorised; its ReduceLogSumExp took as long as the Gemm)
        helper.make_node("Gather", ["h_flat", "score_rows"], ["h_score"]),
        helper.make_node("Gemm", ["h_score", "dense_kernel", "dense_bias_masked"], ["logits_score"]),
        helper.make_node("LogSoftmax", ["logits_score"], ["logprobs_score"], axis=1),
        helper.make_node("GatherElements", ["logprobs_score", "targets"], ["target_logprobs"], axis=1),
        # whole distributions
        helper.make_node("Gather", ["h_flat", "dist_rows"], ["h_dist"]),
        helper.make_node("Gemm", ["h_dist", "dense_kernel", "dense_bias_masked"], ["logits_dist"]),
        helper.make_node("LogSoftmax", ["logits_dist"], ["logprobs"], axis=1),
    ]
    f32, i32, i64 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64
    inputs = [helper.make_tensor_value_info("ids", i32, ["B", "T"]),
              helper.make_tensor_value_info("lengths", i32, ["B"]),
              helper.make_tensor_value_info("state", f32, ["B", state_size]),
              helper.make_tensor_value_info("score_rows", i64, ["P"]),
              helper.make_tensor_value_info("targets", i64, ["P", "K"]),
              helper.make_tensor_value_info("dist_rows", i64, ["R"])]
    outputs = [helper.make_tensor_value_info("target_logprobs", f32, ["P", "K"]),
               helper.make_tensor_value_info("logprobs", f32, ["R", vocab]),
               helper.make_tensor_value_info("state_out", f32, ["B", state_size])]
    graph = helper.make_graph(nodes, "wordlm", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="wordlm")
    model.ir_version = 8  # readable by ONNX Runtime 1.10 and later
    helper.set_model_props(model, {"weights_key": key, "layers": str(layers), "units": str(units)})
    onnx.checker.check_model(model)
    return model


def graph_bytes(weights, layers: int, units: int, mask_bias: np.ndarray, key: str = "") -> bytes:
    """The serialized graph (what `model-<id>.onnx` holds)."""
    return build_graph(weights, layers, units, mask_bias, key).SerializeToString()


def weights_key(keras_path) -> str:
    """What identifies a graph's source, cheaply: the graph format's version, the weights file's name
    and the CRC-32 of the weights inside the archive (from the zip's directory; nothing is
    decompressed)."""
    path = Path(keras_path)
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo(WEIGHTS_MEMBER).CRC
    return f"v{GRAPH_VERSION}:{path.name}:{crc:08x}"
