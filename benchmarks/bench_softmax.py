"""Where exact scoring's time goes, and the softmax levers measured side by side (issue: ≥ 0.8 of matmul).

    python benchmarks/bench_softmax.py [--reps 7]

Three measurements in one process, each a JSON line (medians of `--reps`):
1. `shapes`: the FLOP rate of TensorFlow's and numpy's (OpenBLAS) matmul for the square 2048³
   reference that `bench_score.py` divides by, for the output layer's shape (1,664 rows × 200 →
   10,002: 64 sentences of 26 tokens) and for one LSTM step's recurrent matmul (64 × 400 → 800).
2. `split`: the time of the 2×200 network's LSTM part (`Network.features`) and of its softmax
   (`Network.target_logprobs`) on the same batch, against their FLOP shares.
3. `softmax`: ways to compute ln p(y | h) for the output layer — today's formula (logits, one
   logsumexp, gather), the target as a row-wise dot product, XLA, numpy/OpenBLAS, and row blocks of
   32–256 (`tf.map_fn`: each block's logits reduced while in cache) — each as a ratio to the plain
   matmul of the same shape, with its largest difference from today's formula; also TensorFlow's
   fused `sparse_softmax_cross_entropy_with_logits`.
4. `lstm`: the LSTM part in TensorFlow (Keras's layers) against the same recurrence in
   numpy/OpenBLAS, at 64 and 256 rows.

oneDNN is a process-wide switch: compare `TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/bench_softmax.py`
with the default (on).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

V, U = 10002, 200


def median_time(fn, *args, reps: int) -> float:
    np.asarray(fn(*args))
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        np.asarray(fn(*args))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def shapes(reps: int) -> dict:
    import tensorflow as tf

    rng, out = np.random.default_rng(0), {"benchmark": "softmax", "part": "shapes"}
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    for name, (m, k, n) in {"square_2048": (2048, 2048, 2048), "output_layer": (1664, U, V),
                            "lstm_step": (64, 2 * U, 4 * U)}.items():
        a = rng.normal(size=(m, k)).astype(np.float32)
        b = rng.normal(size=(k, n)).astype(np.float32)
        ta, tb = tf.constant(a), tf.constant(b)
        flops = 2 * m * k * n
        out[f"{name}_tf_gflops"] = round(flops / median_time(matmul, ta, tb, reps=reps) / 1e9, 1)
        out[f"{name}_numpy_gflops"] = round(flops / median_time(np.matmul, a, b, reps=reps) / 1e9, 1)
    for name in ("output_layer", "lstm_step"):
        out[f"{name}_over_square_tf"] = round(out[f"{name}_tf_gflops"] / out["square_2048_tf_gflops"], 3)
    return out


def _network():
    """The compiled-inference `Network` of a 2×200 sequence model over 10,002 words (random weights)."""
    from wordlm.framings import SequenceFraming
    from wordlm.lm import LanguageModel
    from wordlm.model import ModelSize, build_model
    from wordlm.text import Tokenizer
    from wordlm.vocab import Vocabulary

    vocab = Vocabulary.build([[f"w{i}" for i in range(V - 4)]])
    size = ModelSize(U, U, 2, 0.0)
    return LanguageModel(Tokenizer("whitespace", False), vocab, SequenceFraming(True), size,
                         build_model(len(vocab), None, True, size)).compiled.net


def split(reps: int) -> dict:
    import tensorflow as tf

    net, rng = _network(), np.random.default_rng(0)
    rows, length = 64, 26
    x = tf.constant(rng.integers(4, V, (rows, length)).astype(np.int32))
    y = tf.constant(rng.integers(4, V, (rows * length,)).astype(np.int32))
    features = tf.function(lambda x: tf.reshape(net.features(x), [-1, U]))
    softmax = tf.function(lambda h, y: net.target_logprobs(h, y))
    h = features(x)
    lstm_flops = 2 * rows * length * 2 * 4 * U * 2 * U
    softmax_flops = 2 * rows * length * U * V
    return {"benchmark": "softmax", "part": "split", "rows": rows, "length": length,
            "lstm_ms": round(median_time(features, x, reps=reps) * 1e3, 1),
            "softmax_ms": round(median_time(softmax, h, y, reps=reps) * 1e3, 1),
            "lstm_flop_share": round(lstm_flops / (lstm_flops + softmax_flops), 3)}


def lstm_levers(reps: int) -> dict:
    """The LSTM part (`Network.features`, Keras's layers in TensorFlow) against the same recurrence in
    numpy/OpenBLAS (input projections batched outside the time loop, one `h · U` GEMM per step), at
    64 and 256 rows of 26 tokens, as a ratio to the square reference matmul."""
    import tensorflow as tf

    net, rng = _network(), np.random.default_rng(0)
    square = tf.constant(rng.normal(size=(2048, 2048)).astype(np.float32))
    reference = 2 * 2048**3 / median_time(tf.function(lambda a: tf.matmul(a, a)), square, reps=reps)
    emb = net.embedding.embeddings.numpy()
    weights = [(layer.cell.kernel.numpy(), layer.cell.recurrent_kernel.numpy(), layer.cell.bias.numpy())
               for layer in net.lstms]

    def sigmoid(z):
        return 0.5 * np.tanh(0.5 * z) + 0.5

    def numpy_lstm(x):
        rows, length = x.shape
        h_in = emb[x]
        for kernel, recurrent, bias in weights:
            projected = (h_in.reshape(rows * length, -1) @ kernel + bias).reshape(rows, length, -1)
            h, c = np.zeros((rows, U), np.float32), np.zeros((rows, U), np.float32)
            outs = np.empty((rows, length, U), np.float32)
            for t in range(length):
                z = projected[:, t] + h @ recurrent
                i, f, o = sigmoid(z[:, :U]), sigmoid(z[:, U:2 * U]), sigmoid(z[:, 3 * U:])
                c = f * c + i * np.tanh(z[:, 2 * U:3 * U])
                h = o * np.tanh(c)
                outs[:, t] = h
            h_in = outs
        return h_in.reshape(rows * length, U)

    keras_lstm = tf.function(lambda x: tf.reshape(net.features(x, masked=False), [-1, U]))
    out = {"benchmark": "softmax", "part": "lstm", "square_gflops": round(reference / 1e9, 1)}
    for rows in (64, 256):
        x = rng.integers(4, V, (rows, 26)).astype(np.int32)
        flops = 2 * rows * 26 * len(weights) * 4 * U * 2 * U
        tf_s, np_s = median_time(keras_lstm, tf.constant(x), reps=reps), median_time(numpy_lstm, x, reps=reps)
        out[f"rows_{rows}"] = {"tensorflow_over_square": round(flops / tf_s / reference, 3),
                               "numpy_over_square": round(flops / np_s / reference, 3),
                               "max_diff": float(np.abs(numpy_lstm(x) - keras_lstm(tf.constant(x)).numpy()).max())}
    return out


def softmax_levers(reps: int, rows: int) -> dict:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    kernel = tf.constant(rng.normal(0, 0.1, (U, V)).astype(np.float32))
    bias = tf.constant(rng.normal(0, 0.1, (V,)).astype(np.float32))
    h = tf.constant(rng.normal(0, 1, (rows, U)).astype(np.float32))
    y = tf.constant(rng.integers(4, V, rows).astype(np.int32))

    def target_dot(h, y):
        return tf.reduce_sum(h * tf.transpose(tf.gather(kernel, y, axis=1)), axis=-1) + tf.gather(bias, y)

    @tf.function
    def today(h, y):
        logits = tf.matmul(h, kernel) + bias
        return tf.gather(logits, y, axis=1, batch_dims=1) - tf.reduce_logsumexp(logits, axis=-1)

    @tf.function
    def dot(h, y):
        return target_dot(h, y) - tf.reduce_logsumexp(tf.matmul(h, kernel) + bias, axis=-1)

    @tf.function
    def fused_xent(h, y):  # TensorFlow's one fused kernel (it also writes the [rows, vocab] gradient)
        return -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=tf.matmul(h, kernel) + bias)

    @tf.function(jit_compile=True)
    def xla(h, y):
        return target_dot(h, y) - tf.reduce_logsumexp(tf.matmul(h, kernel) + bias, axis=-1)

    def blocked(block):
        @tf.function
        def f(h, y):
            n = tf.shape(h)[0]
            padded = tf.reshape(tf.pad(h, [[0, (-n) % block], [0, 0]]), [-1, block, U])
            lse = tf.map_fn(lambda b: tf.reduce_logsumexp(tf.matmul(b, kernel) + bias, axis=-1), padded,
                            parallel_iterations=1, fn_output_signature=tf.float32)
            return target_dot(h, y) - tf.reshape(lse, [-1])[:n]
        return f

    kn, bn = kernel.numpy(), bias.numpy()

    def numpy_way(h, y):
        logits = h @ kn
        logits += bn
        top = logits.max(axis=1, keepdims=True)
        np.subtract(logits, top, out=logits)
        np.exp(logits, out=logits)
        return np.einsum("nu,un->n", h, kn[:, y]) + bn[y] - (np.log(logits.sum(axis=1)) + top[:, 0])

    matmul = tf.function(lambda h: tf.matmul(h, kernel))
    reference_s = median_time(matmul, h, reps=reps)
    expected = today(h, y).numpy()
    out = {"benchmark": "softmax", "part": "levers", "rows": rows, "matmul_ms": round(reference_s * 1e3, 1)}
    ways = {"today": (today, (h, y)), "target_dot": (dot, (h, y)), "fused_xent": (fused_xent, (h, y)), "xla": (xla, (h, y)),
            "numpy": (numpy_way, (h.numpy(), y.numpy())),
            **{f"blocks_{b}": (blocked(b), (h, y)) for b in (32, 64, 128, 256)}}
    for name, (fn, args) in ways.items():
        seconds = median_time(fn, *args, reps=reps)
        out[name] = {"over_matmul": round(reference_s / seconds, 3),
                     "max_diff": float(np.abs(np.asarray(fn(*args)) - expected).max())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(shapes(args.reps)), flush=True)
    print(json.dumps(split(args.reps)), flush=True)
    for rows in (1664, 6656):
        print(json.dumps(softmax_levers(args.reps, rows)), flush=True)
    print(json.dumps(lstm_levers(args.reps)), flush=True)


if __name__ == "__main__":
    main()
