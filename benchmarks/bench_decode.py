"""Decoding speed: ms per generated word, wordlm's decoder against the tutorial's loop, one run.

Model: a 2x200 LSTM `sequence` model (embedding 200) over a 10,000-token vocabulary, random
weights (speed does not depend on what the weights learned). Every configuration generates the
same number of words from the same 5-word prompts (`min_words` = `max_words`, so `</s>` never cuts
a line short), and reports the median over repeats of (wall time / words generated), prompt
reading included. Configurations:

- `tutorial`: the tutorial's loop on the same Keras model: each word, re-read the whole prefix
  (pre-padded to a fixed length), one `model.predict`, argmax.
- `greedy`, `beam` 1, 4, 8: `wordlm.decoding` (carried LSTM state; each search is one compiled
  `tf.while_loop`, all beams of a step in one batched model evaluation);
- `sample` (plain, and with top-k 50 + top-p 0.9): one compiled `lm.step` per word + numpy draws;
- `beam8_stepwise`: beam 8 driven step by step from numpy (the path `no_repeat_ngram` takes).
- `greedy_long_prompt`: greedy after a 200-word prompt (the step cost must not grow with the
  prefix; `read_200_word_prompt` times the prompt reading alone, so the two can be told apart).
- `greedy_batch64`: 64 prompts side by side; ms per generated word per prompt.

Per-step costs (`--step-repeats`, default 5; `--steps-only` runs just these): greedy, beam 1, 4, 8
and the tutorial loop each generate 1 and 401 forced words (`min_words` = `max_words`) from the
same prompt, interleaved; a step costs (median time of 401 words − median time of 1 word) / 400,
so prompt reading and the fixed cost of a call cancel (the tutorial: 1 and 21 words, / 20). The
ratios `beam8 step / greedy step` (target ≤ 2) and `tutorial step / greedy step` (≥ 100) come
from these. The ms-per-word figures above divide a whole call by its words, so with 20 words a
call's fixed cost (~3-10 ms: prompt reading, setting up the loop, building hypotheses) dilutes
the step costs and pulls their ratio towards 1.

Also printed: the model's FLOPs per token and the FLOP rate a plain float32 matmul reaches in this
process, so a step's cost can be read against the machine. Ratios are computed from the medians
of this same run. One JSON object per line on stdout.

    .venv/bin/python benchmarks/bench_decode.py [--words 20] [--repeats 5] [--steps-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def build_lm(vocab_size: int, units: int, layers: int, seed: int = 0):
    import keras

    from wordlm.framings import SequenceFraming
    from wordlm.lm import LanguageModel
    from wordlm.model import ModelSize, build_model
    from wordlm.text import Tokenizer
    from wordlm.vocab import Vocabulary

    keras.utils.set_random_seed(seed)
    vocab = Vocabulary([f"w{i}" for i in range(vocab_size - 4)])
    size = ModelSize(embedding_dim=units, units=units, layers=layers, dropout=0.0)
    framing = SequenceFraming(boundaries=True)
    network = build_model(len(vocab), framing.input_length, framing.recurrent, size)
    return LanguageModel(Tokenizer("whitespace", lower=False), vocab, framing, size, network)


def tutorial_loop(lm, prompt: str, words: int) -> list[int]:
    """The tutorial's generate_seq: re-read the padded prefix, one model.predict per word, argmax."""
    ids = lm.history(prompt)
    length = len(ids) + words
    for _ in range(words):
        x = np.zeros((1, length), dtype=np.int32)
        x[0, length - len(ids):] = ids  # pre-padding, as pad_sequences(..., padding="pre")
        logits = lm.keras_model.predict(x, verbose=0)[0, -1]
        logits[[0, 1, 2, 3]] = -np.inf  # <pad> <unk> <s> and </s>: the same words as the decoder may pick
        ids.append(int(np.argmax(logits)))
    return ids


def read_state(lm, prompt: str) -> np.ndarray:
    return lm.start([lm.history(prompt)])[1]


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: tracing and compilation are not decoding
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def per_step(lm, prompt: str, repeats: int, long: int = 401, tutorial_long: int = 21) -> dict[str, float]:
    """ms per step of each search: (median time of `long` forced words − median of 1) / (long − 1),
    all configurations and lengths interleaved; prints one JSON line per configuration."""
    from wordlm.decoding import generate

    searches = {"greedy": {"strategy": "greedy"}, "beam1": {"strategy": "beam", "beam_size": 1},
                "beam4": {"strategy": "beam", "beam_size": 4}, "beam8": {"strategy": "beam", "beam_size": 8}}
    lengths = {name: long for name in searches} | {"tutorial": tutorial_long}

    def run(name: str, words: int):
        if name == "tutorial":
            return tutorial_loop(lm, prompt, words)
        return generate(lm, prompt, max_words=words, min_words=words, **searches[name])

    times = {(name, n): [] for name in lengths for n in (1, lengths[name])}
    for key in times:
        run(*key)  # warm-up: tracing and compilation are not decoding
    for _ in range(repeats):
        for key in times:
            start = time.perf_counter()
            run(*key)
            times[key].append(time.perf_counter() - start)
    steps = {}
    for name, n in lengths.items():
        short, full = statistics.median(times[name, 1]), statistics.median(times[name, n])
        steps[name] = (full - short) / (n - 1) * 1e3
        print(json.dumps({"config": f"{name}_step", "ms_per_step": round(steps[name], 3), "words": [1, n],
                          "repeats": repeats, "median_call_ms": [round(short * 1e3, 2), round(full * 1e3, 1)]}),
              flush=True)
    greedy = steps["greedy"]
    print(json.dumps({"ratio": "beam8 step / greedy step", "value": round(steps["beam8"] / greedy, 2), "target": "<= 2"}))
    print(json.dumps({"ratio": "beam4 step / greedy step", "value": round(steps["beam4"] / greedy, 2)}))
    print(json.dumps({"ratio": "beam1 step / greedy step", "value": round(steps["beam1"] / greedy, 2)}))
    print(json.dumps({"ratio": "tutorial step / greedy step", "value": round(steps["tutorial"] / greedy, 1),
                      "target": ">= 100"}), flush=True)
    return steps


def output_layer_floor(lm, repeats: int, steps: int = 200) -> dict:
    """The model part of a step, per step, inside one compiled `tf.while_loop` (as the searches run it).

    First the output layer alone:
    `logits = h · kernel + bias` and a logsumexp for 1 row (greedy) and 8 rows (beam 8), TensorFlow's
    kernel layout and the transposed one, and numpy/OpenBLAS for the same GEMMs (a call per step).
    The 8-row/1-row ratio of this alone is a floor under a beam-8 step / greedy step. Then both
    LSTM cells + the log-softmax row (+ the beam's two-stage top-16), 1 and 8 rows: what a step
    costs before any search bookkeeping."""
    import tensorflow as tf

    dense = lm.keras_model.get_layer("logits")
    kernel, bias = dense.kernel, dense.bias
    transposed = tf.constant(np.ascontiguousarray(kernel.numpy().T))
    rng, out = np.random.default_rng(0), {"config": "model part of a step, per step (us)"}
    for rows in (1, 8):
        h = tf.constant(rng.normal(0, 1, (rows, lm.size.units)).astype(np.float32))
        for layout in ("tensorflow", "transposed"):
            def logits(x, layout=layout):
                return (tf.matmul(x, kernel) if layout == "tensorflow" else tf.matmul(x, transposed, transpose_b=True)) + bias

            @tf.function
            def loop(h, logits=logits):
                body = lambda i, acc: (i + 1, acc + tf.reduce_logsumexp(logits(h + 1e-6 * tf.cast(i, tf.float32)), -1)[0])  # noqa: E731
                return tf.while_loop(lambda i, _: i < steps, body, (0, 0.0))[1]

            loop(h)
            out[f"{layout}_{rows}_row"] = round(statistics.median(timed(lambda: loop(h).numpy(), repeats)) / steps * 1e6, 1)
        k, hn = kernel.numpy(), h.numpy()
        out[f"numpy_{rows}_row"] = round(statistics.median(timed(lambda: [hn @ k for _ in range(steps)], repeats)) / steps * 1e6, 1)
    out["8_rows_over_1_row"] = round(out["tensorflow_8_row"] / out["tensorflow_1_row"], 2)
    # The step's model part with the searches' own blocks: both LSTM cells, then the log-softmax
    # row (and, for 8 rows, the two-stage top-16 the beam takes), 1 and 8 rows.
    from wordlm.inference.search_loops import top_k_rows

    net = lm.compiled.net
    for part in ("cells_softmax", "cells_softmax_topk"):
        @tf.function(input_signature=[tf.TensorSpec([None, lm.state_size], tf.float32)])  # shapes as the searches see them
        def loop(state, part=part):
            ids = tf.fill([tf.shape(state)[0]], 7)

            def body(i, state, acc):
                state = net.cells(ids, state)
                lp = net.log_softmax(net.output(state))
                if part == "cells_softmax":
                    return i + 1, state, acc + lp[0, 0] + lp[-1, -1]
                values, tokens = top_k_rows(lp, 16, lm.vocab_size)  # both used, as the beam uses them
                return i + 1, state, acc + values[-1, -1] + tf.cast(tokens[-1, -1], tf.float32)
            return tf.while_loop(lambda i, *_: i < steps, body, (0, state, 0.0))[2]

        for rows in (1, 8):
            state0 = tf.zeros([rows, lm.state_size])
            loop(state0)
            out[f"{part}_{rows}_row"] = round(statistics.median(timed(lambda: loop(state0).numpy(), repeats)) / steps * 1e6, 1)
    out["cells_softmax_8_rows_over_1_row"] = round(out["cells_softmax_8_row"] / out["cells_softmax_1_row"], 2)
    return out


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    import tensorflow as tf

    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    f = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    f()
    times = timed(lambda: f().numpy(), repeats)
    return 2 * n**3 / statistics.median(times) / 1e9


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=20, help="words generated per prompt")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--tutorial-repeats", type=int, default=5)
    parser.add_argument("--vocab", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--step-repeats", type=int, default=5, help="repeats of the per-step measurement")
    parser.add_argument("--steps-only", action="store_true", help="only the per-step measurement")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from wordlm.decoding import DecodeOptions, generate, generate_batch
    from wordlm.decoding.beam import beam_search
    from wordlm.decoding.hypothesis import prepare_prompts

    lm = build_lm(args.vocab, args.units, args.layers)
    rng = np.random.default_rng(0)
    words = lm.vocab.id_to_token[4:]
    prompt = " ".join(rng.choice(words, size=5))
    long_prompt = " ".join(rng.choice(words, size=200))
    batch = [" ".join(rng.choice(words, size=5)) for _ in range(64)]
    w = args.words
    common = dict(max_words=w, min_words=w)
    beam8 = DecodeOptions(strategy="beam", beam_size=8, **common).validate()

    print(json.dumps({
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2), "python": platform.python_version(),
        "tensorflow": tf.__version__, "keras": __import__("keras").__version__, "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%d"), "vocab": lm.vocab_size, "size": lm.size.to_config(),
        "parameters": lm.num_parameters, "flops_per_token": lm.flops_per_token,
        "matmul_gflops": round(matmul_gflops(), 1), "words_per_prompt": w,
    }), flush=True)

    per_step(lm, prompt, args.step_repeats)
    print(json.dumps(output_layer_floor(lm, args.step_repeats)), flush=True)
    if args.steps_only:
        return
    state = read_state(lm, prompt)
    state8, ids8 = np.repeat(state, 8, axis=0), np.full(8, 7, dtype=np.int32)
    tutorial_words = []
    # name -> (function, words generated per call, extra fields)
    configs = {
        "tutorial": (lambda: tutorial_words.append(tutorial_loop(lm, prompt, w)), w, {}),
        "greedy": (lambda: generate(lm, prompt, strategy="greedy", **common), w, {}),
        "sample": (lambda: generate(lm, prompt, strategy="sample", seed=0, **common), w, {}),
        "sample_topk50_topp0.9": (lambda: generate(lm, prompt, strategy="sample", seed=0, top_k=50, top_p=0.9,
                                                   **common), w, {}),
        "beam1": (lambda: generate(lm, prompt, strategy="beam", beam_size=1, **common), w, {}),
        "beam4": (lambda: generate(lm, prompt, strategy="beam", beam_size=4, **common), w, {}),
        "beam8": (lambda: generate(lm, prompt, strategy="beam", beam_size=8, **common), w, {}),
        "beam8_stepwise": (lambda: beam_search(lm, prepare_prompts(lm, [prompt], w), beam8, "numpy"), w, {}),
        "greedy_long_prompt": (lambda: generate(lm, long_prompt, strategy="greedy", **common), w,
                               {"prompt_words": 200}),
        "read_200_word_prompt": (lambda: read_state(lm, long_prompt), 1,
                                 {"note": "reading the long prompt alone, per call (one compiled loop)"}),
        "greedy_batch64": (lambda: generate_batch(lm, batch, strategy="greedy", **common), w * len(batch),
                           {"note": "per word per prompt, 64 prompts side by side"}),
        "lm.step_1_row": (lambda: lm.step(state, [7]), 1, {"note": "the model call alone, per call"}),
        "lm.step_8_rows": (lambda: lm.step(state8, ids8), 1, {"note": "the model call alone, per call"}),
    }
    # Interleaved: every repeat runs each configuration once, so machine load hits all alike.
    times = {name: [] for name in configs}
    for fn, _, _ in configs.values():
        fn()  # warm-up: tracing and compilation are not decoding
    for r in range(args.repeats):
        for name, (fn, _, _) in configs.items():
            if name == "tutorial" and r >= args.tutorial_repeats:
                continue
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    medians = {}
    for name, (_, per, extra) in configs.items():
        medians[name] = statistics.median(times[name]) / per * 1e3
        print(json.dumps({"config": name, "ms_per_word": round(medians[name], 3), "repeats": len(times[name]),
                          "min_ms_per_word": round(min(times[name]) / per * 1e3, 3), **extra}), flush=True)
    decoded = lm.history(prompt) + lm.vocab.encode(generate(lm, prompt, **common)[0].tokens)
    print(json.dumps({"check": "greedy generates the tutorial loop's words",
                      "same": all(t == decoded for t in tutorial_words)}))

    greedy = medians["greedy"]
    print(json.dumps({"ratio": "tutorial / greedy", "value": round(medians["tutorial"] / greedy, 1), "target": ">= 100"}))
    print(json.dumps({"ratio": "beam8 / greedy (whole calls / words, fixed costs included)", "value": round(medians["beam8"] / greedy, 2), "target": "<= 3"}))
    print(json.dumps({"ratio": "beam4 / greedy", "value": round(medians["beam4"] / greedy, 2)}))
    print(json.dumps({"ratio": "lm.step_8_rows / lm.step_1_row", "value": round(medians["lm.step_8_rows"]
                                                                                / medians["lm.step_1_row"], 2)}))
    print(json.dumps({"ratio": "greedy_long_prompt / greedy (per generated word; prompt reading included)",
                      "value": round(medians["greedy_long_prompt"] / greedy, 2)}))
    steps_only = medians["greedy_long_prompt"] - medians["read_200_word_prompt"] / w
    print(json.dumps({"ratio": "(greedy_long_prompt - its prompt reading) / greedy", "value": round(steps_only / greedy, 2)}))
    print(json.dumps({"ratio": "greedy / greedy_batch64 (throughput gain of batching prompts)",
                      "value": round(greedy / medians["greedy_batch64"], 1)}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
