"""TensorFlow against ONNX Runtime on the same weights, side by side in one run (medians).

Model: a 2-layer 200-unit `sequence` model (embedding 200) over the PTB vocabulary (10,000 words,
built from ptb.train.txt.gz), random weights (speed does not depend on what they learned), saved
once; the TensorFlow model is `wordlm.load(dir, runtime="tensorflow")`, the ONNX one
`wordlm.load(dir, runtime="onnx")`. Configurations, interleaved round by round:

- `score`: `lm.score` of ../shared/data/ptb/ptb.test.txt (3,761 lines; tokenizing included):
  predicted tokens/s (`</s>` counted), and the share of the runtime's own matmul rate: (tokens/s ×
  `lm.flops_per_token`) / (FLOP/s of a 2048x2048 float32 matmul in the same runtime, measured
  around each round);
- `greedy_step`, `beam8_step`: (median time of `generate` with 201 forced words − median with 1) /
  200, so the prompt reading and a call's fixed cost cancel (TensorFlow: the compiled
  `tf.while_loop` searches; ONNX Runtime: the stepwise searches over `lm.step`);
- `model_step_1row`, `model_step_8rows`: one `lm.step` call alone (the model part of a step);
- `cli_score_one_line`: wall time of `wordlm score DIR -` with one line on stdin, a fresh process;
- `lstm_op_vs_gates`: one step of the ONNX graph (its `LSTM` op) against the same step with the
  gates written out (MatMul/Sigmoid/Tanh), 1 and 8 rows: the choice `onnx_graph.py` made.

One JSON line per configuration and runtime, then the ratios the issue's targets are about.

    python benchmarks/bench_runtime.py [--rounds 3] [--cli-runs 5] [--lines 3761]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PTB = next((p for p in (ROOT.parent / "shared" / "data" / "ptb", Path("/work/shared/data/ptb")) if p.is_dir()),
           ROOT.parent / "shared" / "data" / "ptb")
sys.path.insert(0, str(ROOT / "benchmarks"))


def emit(**obj) -> None:
    print(json.dumps(obj), flush=True)


def tf_matmul_rate(n: int = 2048, runs: int = 5) -> float:
    import tensorflow as tf

    f = tf_matmul_rate.fn = getattr(tf_matmul_rate, "fn", None) or tf.function(lambda x, y: tf.matmul(x, y))
    a = tf.constant(np.random.default_rng(0).normal(size=(n, n)).astype(np.float32))
    f(a, a).numpy()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f(a, a).numpy()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def ort_matmul_rate(n: int = 2048, runs: int = 5) -> float:
    from onnx import TensorProto, helper

    from wordlm.runtime.ort import session

    if getattr(ort_matmul_rate, "s", None) is None:
        g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        ort_matmul_rate.s = session(m.SerializeToString())
    s = ort_matmul_rate.s
    a = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    s.run(None, {"a": a, "b": a})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, {"a": a, "b": a})
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def per_step(lm, prompt: str, search: dict, repeats: int, long: int = 201) -> float:
    from wordlm.decoding import generate

    def run(words):
        return generate(lm, prompt, max_words=words, min_words=words, **search)

    run(1), run(long)  # warm-up
    short, full = [], []
    for _ in range(repeats):
        for words, into in ((1, short), (long, full)):
            t = time.perf_counter()
            run(words)
            into.append(time.perf_counter() - t)
    return (statistics.median(full) - statistics.median(short)) / (long - 1) * 1e3


def model_step(lm, rows: int, repeats: int, calls: int = 200) -> float:
    state = lm.start([lm.history("the company said")] * rows)[1]
    ids = np.full(rows, 5, dtype=np.int32)
    lm.step(state, ids)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            lm.step(state, ids)
        times.append((time.perf_counter() - t) / calls)
    return statistics.median(times) * 1e3


def gates_step_session(weights, layers: int, units: int, mask):
    """The ONNX graph of one step with the LSTM gates written out (the alternative to the `LSTM` op)."""
    from onnx import TensorProto, helper, numpy_helper

    from wordlm.runtime.ort import session

    vocab = weights["dense_bias"].shape[0]
    inits = [numpy_helper.from_array(weights["embedding"], "emb"), numpy_helper.from_array(weights["dense_kernel"], "dk"),
             numpy_helper.from_array((weights["dense_bias"] + mask).astype(np.float32), "db"),
             numpy_helper.from_array(np.array([units] * 4, np.int64), "split4"),
             numpy_helper.from_array(np.array([units] * (2 * layers), np.int64), "splits")]
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["x0"]),
             helper.make_node("Split", ["state", "splits"], [f"s{k}" for k in range(2 * layers)], axis=1)]
    x, outs = "x0", []
    for i in range(layers):
        wr = np.concatenate([weights[f"kernel_{i}"], weights[f"recurrent_{i}"]], 0)
        inits += [numpy_helper.from_array(wr, f"WR{i}"), numpy_helper.from_array(weights[f"bias_{i}"], f"b{i}")]
        h, c = f"s{2 * i}", f"s{2 * i + 1}"
        nodes += [helper.make_node("Concat", [x, h], [f"xh{i}"], axis=1),
                  helper.make_node("Gemm", [f"xh{i}", f"WR{i}", f"b{i}"], [f"z{i}"]),
                  helper.make_node("Split", [f"z{i}", "split4"], [f"zi{i}", f"zf{i}", f"zc{i}", f"zo{i}"], axis=1),
                  helper.make_node("Sigmoid", [f"zi{i}"], [f"gi{i}"]), helper.make_node("Sigmoid", [f"zf{i}"], [f"gf{i}"]),
                  helper.make_node("Sigmoid", [f"zo{i}"], [f"go{i}"]), helper.make_node("Tanh", [f"zc{i}"], [f"gc{i}"]),
                  helper.make_node("Mul", [f"gf{i}", c], [f"a{i}"]), helper.make_node("Mul", [f"gi{i}", f"gc{i}"], [f"bb{i}"]),
                  helper.make_node("Add", [f"a{i}", f"bb{i}"], [f"c{i}n"]), helper.make_node("Tanh", [f"c{i}n"], [f"tc{i}"]),
                  helper.make_node("Mul", [f"go{i}", f"tc{i}"], [f"h{i}n"])]
        x, outs = f"h{i}n", outs + [f"h{i}n", f"c{i}n"]
    nodes += [helper.make_node("Concat", outs, ["state_out"], axis=1), helper.make_node("Gemm", [x, "dk", "db"], ["lg"]),
              helper.make_node("LogSoftmax", ["lg"], ["logprobs"], axis=1)]
    size = 2 * layers * units
    g = helper.make_graph(nodes, "gates", [helper.make_tensor_value_info("ids", TensorProto.INT32, ["B"]),
                                           helper.make_tensor_value_info("state", TensorProto.FLOAT, ["B", size])],
                          [helper.make_tensor_value_info("logprobs", TensorProto.FLOAT, ["B", vocab]),
                           helper.make_tensor_value_info("state_out", TensorProto.FLOAT, ["B", size])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return session(m.SerializeToString())


def lstm_op_vs_gates(lm, repeats: int, calls: int = 300) -> None:
    from wordlm.runtime.onnx_graph import read_keras_weights

    weights = read_keras_weights(lm.runtime.weights_path, lm.size.layers)
    gates = gates_step_session(weights, lm.size.layers, lm.size.units, lm.mask_bias())
    fns = lm.compiled
    for rows in (1, 8):
        state = np.random.default_rng(0).normal(0, 0.1, (rows, lm.state_size)).astype(np.float32)
        ids = np.arange(5, 5 + rows, dtype=np.int32)
        a, b = fns.step(ids, state), gates.run(None, {"ids": ids, "state": state})
        diff = float(max(np.abs(a[1] - b[1]).max(), np.abs(np.nan_to_num(a[0] - b[0])).max()))
        times = {"lstm_op": [], "gates": []}
        for _ in range(repeats):
            for name, fn in (("lstm_op", lambda: fns.step(ids, state)),
                             ("gates", lambda: gates.run(None, {"ids": ids, "state": state}))):
                t = time.perf_counter()
                for _ in range(calls):
                    fn()
                times[name].append((time.perf_counter() - t) / calls * 1e3)
        emit(config="lstm_op_vs_gates", rows=rows, lstm_op_ms=round(statistics.median(times["lstm_op"]), 4),
             gates_ms=round(statistics.median(times["gates"]), 4), max_abs_difference=diff)


def cli_one_line(model_dir, runtime: str, runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "wordlm", "score", str(model_dir), "-", "--runtime", runtime],
                             input="the company said it expects higher earnings\n", capture_output=True, text=True,
                             env=env)
        times.append(time.perf_counter() - t)
        if out.returncode:
            raise SystemExit(out.stderr)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lines", type=int, default=3761, help="PTB test lines scored per round")
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--step-repeats", type=int, default=5)
    args = parser.parse_args()

    import onnxruntime

    from wordlm.tf_quiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    import bench_score
    import wordlm

    bench_score.PTB = PTB
    build_model = bench_score.build_model

    emit(machine=platform.machine(), cpus=os.cpu_count(), python=platform.python_version(), tensorflow=tf.__version__,
         onnxruntime=onnxruntime.__version__, load_average=os.getloadavg(), date=time.strftime("%Y-%m-%d %H:%M"),
         model="2x200 sequence, embedding 200, PTB vocabulary, random weights")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model().save(Path(tmp) / "ptb-2x200")
        lms = {"tensorflow": wordlm.load(model_dir, runtime="tensorflow"), "onnx": wordlm.load(model_dir, runtime="onnx")}
        lines = (PTB / "ptb.test.txt").read_text("utf-8").splitlines()[: args.lines]
        tokens = sum(len(line.split()) + 1 for line in lines)
        rates = {"tensorflow": tf_matmul_rate, "onnx": ort_matmul_rate}
        diff = float(np.abs(np.array(lms["onnx"].score(lines[:500])) - np.array(lms["tensorflow"].score(lines[:500]))).max())
        emit(config="agreement", sentences=500, max_abs_sentence_difference=diff)
        # -- scoring -----------------------------------------------------------------------------
        speed = {name: [] for name in lms}
        share = {name: [] for name in lms}
        for _ in range(args.rounds):
            for name, lm in lms.items():
                before = rates[name]()
                t = time.perf_counter()
                lm.score(lines)
                seconds = time.perf_counter() - t
                matmul = (before + rates[name]()) / 2
                speed[name].append(tokens / seconds)
                share[name].append(tokens / seconds * lm.flops_per_token / matmul)
        for name in lms:
            emit(config="score", runtime=name, tokens=tokens, tokens_per_s=round(statistics.median(speed[name])),
                 share_of_matmul=round(statistics.median(share[name]), 3), rounds=args.rounds)
        # -- decoding steps ----------------------------------------------------------------------
        steps = {}
        for name, lm in lms.items():
            for search, kw in (("greedy", {"strategy": "greedy"}), ("beam8", {"strategy": "beam", "beam_size": 8})):
                steps[name, search] = per_step(lm, "the company said", kw, args.step_repeats)
                emit(config=f"{search}_step", runtime=name, ms_per_step=round(steps[name, search], 3))
            for rows in (1, 8):
                emit(config=f"model_step_{rows}row{'s' if rows > 1 else ''}", runtime=name,
                     ms_per_call=round(model_step(lm, rows, args.step_repeats), 3))
        lstm_op_vs_gates(lms["onnx"], args.step_repeats)
        # -- a fresh process scoring one line --------------------------------------------------------
        cli = {}
        for name in ("onnx", "tensorflow"):
            cli[name] = cli_one_line(model_dir, name, args.cli_runs)
            emit(config="cli_score_one_line", runtime=name, wall_s=round(cli[name], 3), runs=args.cli_runs)
        emit(ratio="score tokens/s onnx / tensorflow", value=round(statistics.median(speed["onnx"]) /
                                                                   statistics.median(speed["tensorflow"]), 2), target=">= 1.4")
        emit(ratio="onnx share of its matmul rate", value=round(statistics.median(share["onnx"]), 3), target=">= 0.65")
        for search, target in (("greedy", ">= 2.5"), ("beam8", ">= 2")):
            emit(ratio=f"{search} step tensorflow / onnx", value=round(steps["tensorflow", search] / steps["onnx", search], 2),
                 target=target)
        emit(ratio="wordlm score one line, onnx (s)", value=round(cli["onnx"], 3), target="< 1")


if __name__ == "__main__":
    main()
