"""Training benchmarks: peak memory vs corpus size (WikiText-2), step throughput, single device vs mirrored.

    python benchmarks/bench_train.py memory       # `wordlm train` on WikiText-2 x1 and x4: peak RSS
    python benchmarks/bench_train.py throughput   # PTB steps: jit vs no jit, batch 64 vs 128; padding
    python benchmarks/bench_train.py mirrored     # the same steps on 1 device vs MirroredStrategy on 2 logical CPUs

One JSON line per configuration on stdout; progress on stderr. Throughput figures are medians of
interleaved repeats measured in one process (so contention from other processes hits every
configuration alike) and count useful tokens (words + `</s>`, not padding). Training FLOPs =
3 x forward (`lm.flops_per_token`), compared with a 2048x2048 fp32 matmul timed in the same process.
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
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WIKI = DATA / "wikitext-2"
PTB = DATA / "ptb"


def machine() -> dict:
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cpus", "date": time.strftime("%Y-%m-%d"),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


# -- memory ---------------------------------------------------------------------------------------
def memory(args) -> None:
    """Peak resident memory of `wordlm train` (encode pass, training steps, validation, save)."""
    for copies in args.copies:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "wordlm", "train", *[str(WIKI / "wiki.train.tokens.gz")] * copies,
                   "--valid", str(WIKI / "wiki.valid.tokens"), "-o", f"{tmp}/model", "--tokenizer", "whitespace",
                   "--no-lower", "--embedding-dim", "128", "--units", "256", "--batch-size", "32", "--epochs", "1",
                   "--time-limit", str(args.seconds), "-q"]
            started = time.time()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
            out, err = proc.stdout.read(), proc.stderr.read()
            if status != 0:
                sys.exit(f"wordlm train failed: {err[-2000:]}")
            info = json.loads((Path(tmp) / "model" / "wordlm.json").read_text())["info"]
        print(json.dumps({
            "benchmark": "memory", "corpus": f"wikitext-2 train x{copies}", "tokens": info["corpus"]["tokens"],
            "lines": info["corpus"]["lines"], "vocab_words": int(out.split("vocabulary size:")[1].split()[0]),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "steps": info["steps"],
            "valid_ppl": info["best_valid_ppl"], "wall_s": round(time.time() - started, 1),
            "command": " ".join(["wordlm", *cmd[3:]]), **machine(),
        }), flush=True)


# -- throughput -----------------------------------------------------------------------------------
def matmul_gflops(n=2048, reps=5) -> float:
    import numpy as np
    import tensorflow as tf

    a = tf.random.normal([n, n])
    f = tf.function(lambda a: tf.matmul(a, a))
    f(a).numpy()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f(a).numpy()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / float(np.median(times)) / 1e9


def ptb_setup(tmp: Path, lines: int):
    """A PTB training subset encoded on disk, and the vocabulary of the whole training text."""
    from wordlm.framings import make_framing
    from wordlm.training.corpus import encode_corpus, token_lines
    from wordlm.text import Tokenizer
    from wordlm.vocab import Vocabulary

    tok = Tokenizer("whitespace", lower=False)
    train = str(PTB / "ptb.train.txt.gz")
    vocab = Vocabulary.build(token_lines([train], tok))
    subset = tmp / "subset.txt"
    with open(subset, "w", encoding="utf-8") as f:
        for i, words in enumerate(token_lines([train], tok)):
            if i >= lines:
                break
            f.write(" ".join(words) + "\n")
    framing = make_framing("sequence")
    return vocab, framing, encode_corpus([str(subset)], tok, vocab, framing, False, tmp / "ids")


class StepTimer:
    """Keras callback timing the steps of a fit after `skip` warm-up steps (tracing, XLA compiles)."""

    def __new__(cls, skip):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.n, self.t0, self.seconds = 0, None, 0.0

            def on_train_batch_begin(self, batch, logs=None):
                self.t0 = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.n += 1
                if self.n > skip:
                    self.seconds += time.perf_counter() - self.t0

        return _Timer()


def make_trainer(vocab, framing, corpus, size, batch, jit, strategy=None):
    import keras

    from wordlm.training import distribute
    from wordlm.model import build_model
    from wordlm.training.batches import make_dataset, make_plan

    plan = make_plan(corpus, framing, batch, max(batch, (1 << 26) // len(vocab)), distribute.replicas(strategy))
    with distribute.scope(strategy):
        keras.utils.set_random_seed(0)
        model = build_model(len(vocab), None, True, size)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
                      jit_compile=jit)
    dataset = make_dataset(corpus, plan, True, seed=0)
    tokens_per_step = plan.predicted / plan.num_batches
    # Warm up on every bucket shape once (tracing / XLA compiles are one-off costs).
    model.fit(dataset, steps_per_epoch=plan.num_batches, epochs=1, verbose=0, shuffle=False)
    return model, dataset, plan, tokens_per_step


def timed_steps(trainer, steps) -> float:
    model, dataset, plan, tokens_per_step = trainer
    timer = StepTimer(skip=0)
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
    return steps * tokens_per_step / timer.seconds


def throughput(args) -> None:
    import tensorflow as tf

    from wordlm.model import ModelSize, forward_flops_per_token

    size = ModelSize(args.embedding_dim, args.units, args.layers, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        vocab, framing, corpus = ptb_setup(Path(tmp), args.lines)
        configs = [(b, jit) for b in args.batches for jit in (False, True)]
        trainers = {c: make_trainer(vocab, framing, corpus, size, c[0], c[1]) for c in configs}
        rates = {c: [] for c in configs}
        matmul = []
        for _ in range(args.repeats):
            matmul.append(matmul_gflops())
            for c in configs:
                rates[c].append(timed_steps(trainers[c], args.steps))
        matmul.append(matmul_gflops())
        flops = 3 * forward_flops_per_token(len(vocab), size)
        mm = statistics.median(matmul)
        base = statistics.median(rates[configs[0]])
        for c in configs:
            tps = statistics.median(rates[c])
            plan = trainers[c][2]
            print(json.dumps({
                "benchmark": "train-throughput", "data": f"ptb train, first {args.lines} lines", "size": size.to_config(),
                "vocab": len(vocab), "batch_size": c[0], "jit": c[1], "tokens_per_s": round(tps),
                "tokens_per_s_all": [round(r) for r in rates[c]], "speedup_vs_first": round(tps / base, 2),
                "train_gflops": round(tps * flops / 1e9, 1), "matmul_gflops_median": round(mm, 1),
                "flop_share": round(tps * flops / 1e9 / mm, 3),
                "padding_overhead": round(plan.padded_tokens / plan.predicted - 1, 3), "buckets": len(plan.shapes),
                "tensorflow": tf.__version__, **machine(),
            }), flush=True)
        # What padding to each batch's longest line (no bucketing) would cost on the same data.
        import numpy as np

        lengths = corpus.lengths - 1
        rng = np.random.default_rng(0)
        for b in args.batches:
            waste = []
            for _ in range(5):
                order = rng.permutation(len(lengths))
                padded = sum(int(lengths[order[i : i + b]].max()) * len(order[i : i + b]) for i in range(0, len(order), b))
                waste.append(padded / lengths.sum() - 1)
            print(json.dumps({"benchmark": "padding-without-bucketing", "batch_size": b,
                              "padding_overhead": round(float(np.median(waste)), 3)}), flush=True)


def mirrored(args) -> None:
    """Single device vs MirroredStrategy over 2 logical CPU devices (fresh process: devices first)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from wordlm.model import ModelSize

    size = ModelSize(args.embedding_dim, args.units, args.layers, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        vocab, framing, corpus = ptb_setup(Path(tmp), args.lines)
        b = args.batches[0]
        trainers = {
            "single device": make_trainer(vocab, framing, corpus, size, b, False),
            "mirrored, 2 logical CPUs": make_trainer(vocab, framing, corpus, size, b, False,
                                                     tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
        }
        rates = {k: [] for k in trainers}
        for _ in range(args.repeats):
            for k, t in trainers.items():
                rates[k].append(timed_steps(t, args.steps))
        base = statistics.median(rates["single device"])
        for k, r in rates.items():
            print(json.dumps({"benchmark": "distribute", "strategy": k, "batch_size": b, "size": size.to_config(),
                              "tokens_per_s": round(statistics.median(r)), "tokens_per_s_all": [round(x) for x in r],
                              "relative_to_single": round(statistics.median(r) / base, 3), **machine()}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["memory", "throughput", "mirrored"])
    p.add_argument("--copies", type=int, nargs="+", default=[1, 4], help="memory: corpus sizes, in copies of the file")
    p.add_argument("--seconds", type=float, default=60, help="memory: training time per run")
    p.add_argument("--lines", type=int, default=3000, help="throughput: PTB training lines used")
    p.add_argument("--batches", type=int, nargs="+", default=[64, 128])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--embedding-dim", type=int, default=256)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    args = p.parse_args()
    {"memory": memory, "throughput": throughput, "mirrored": mirrored}[args.what](args)


if __name__ == "__main__":
    main()
