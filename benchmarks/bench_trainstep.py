"""Training-step speed: Keras's own step vs wordlm's fast recurrent step (training/fast_step.py), full and sampled softmax.

One PTB-sized network (vocabulary 10,002, embedding 256 → 1×LSTM 256, dropout 0.3, Adam with clip
norm 5) and random post-padded batches of several shapes (rows × length: per-sentence batches are
about 32 × 24, `--context-tokens 64` batches 32 × 64). For each shape every variant runs in the
same process, interleaved round by round, so they see the same machine load; the figure is the
median time of a step (`model.train_on_batch`), as predicted tokens per second, and its ratio to
Keras's step.

    python benchmarks/bench_trainstep.py [--rounds 15] [--shapes 32x24 32x64 16x64 8x128]

One JSON line per shape on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--shapes", nargs="+", default=["32x24", "32x64", "16x64", "8x128"])
    p.add_argument("--sampled", type=int, nargs="+", default=[1024, 2048])
    args = p.parse_args()

    import keras
    import numpy as np

    from wordlm.training import fast_step as trainstep
    from wordlm.model import ModelSize, build_model

    vocab, size = 10002, ModelSize(256, 256, 1, 0.3)
    variants = {"keras": None, "fast": 0, **{f"fast_sampled_{k}": k for k in args.sampled}}
    models = {}
    for name, sampled in variants.items():
        keras.utils.set_random_seed(0)
        model = build_model(vocab, None, True, size)
        model.compile(optimizer=keras.optimizers.Adam(0.002, global_clipnorm=5.0),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0))
        if sampled is not None:
            trainstep.install(model, size, sampled)
        models[name] = model
    rng = np.random.default_rng(0)
    for shape in args.shapes:
        rows, length = (int(v) for v in shape.split("x"))
        x = rng.integers(4, vocab, size=(rows, length)).astype(np.int32)
        y = rng.integers(4, vocab, size=(rows, length)).astype(np.int32)
        for model in models.values():
            model.train_on_batch(x, y)  # trace and warm up
        times = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, model in models.items():
                t = time.perf_counter()
                model.train_on_batch(x, y)
                times[name].append(time.perf_counter() - t)
        median = {name: statistics.median(ts) for name, ts in times.items()}
        print(json.dumps({
            "benchmark": "trainstep", "rows": rows, "length": length, "rounds": args.rounds,
            "tokens_per_s": {name: round(rows * length / m) for name, m in median.items()},
            "speedup_vs_keras": {name: round(median["keras"] / m, 2) for name, m in median.items()},
            "load_avg_1m": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d"),
        }), flush=True)


if __name__ == "__main__":
    main()
