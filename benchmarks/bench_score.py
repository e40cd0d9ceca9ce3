"""Scoring speed on the Penn Treebank test set, against the machine and against the tutorial's way.

A 2-layer 200-unit `sequence` model (embedding 200, random weights: speed does not depend on them)
over the PTB vocabulary (built from ptb.train.txt.gz, whitespace tokenizer) scores
../shared/data/ptb/ptb.test.txt as `wordlm score` does: `--read` lines at a time through
`wordlm.scoring.score_sentences` (tokenizing and encoding included), at most `max_batch` sentences
per forward pass. The configuration `lm.stream_logprobs` is the LanguageModel's own exact view,
for comparison. The machine is shared, so every configuration runs on the same 1024-line segment
back to back, and the FLOP rate of a plain compiled 2048x2048 float32 matmul is measured around
each segment (same process); a configuration's `ratio_to_matmul` is the median over segments and
repeats of (model FLOP rate on the segment) / (matmul FLOP rate around it).
One JSON line per configuration: words/s (W, without `</s>`), predicted tokens/s (with `</s>`),
`lm.flops_per_token`, the model's FLOP rate, the matmul's, the ratio. Then the tutorial's way (one
`model.predict` per prefix) on the first sentences: tokens/s, the speed-up of the fastest
configuration, and the largest difference between the two ways' sentence log-probabilities.
Usage:

    python benchmarks/bench_score.py [--repeats 2] [--tutorial-sentences 20]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb"


def build_model(seed: int = 0):
    import keras

    from wordlm.framings import SequenceFraming
    from wordlm.lm import LanguageModel
    from wordlm.model import ModelSize, build_model
    from wordlm.text import Tokenizer
    from wordlm.vocab import Vocabulary

    tokenizer = Tokenizer("whitespace", lower=False)
    with gzip.open(PTB / "ptb.train.txt.gz", "rt", encoding="utf-8") as f:
        vocab = Vocabulary.build(tokenizer.tokenize(line) for line in f)
    keras.utils.set_random_seed(seed)
    size = ModelSize(embedding_dim=200, units=200, layers=2, dropout=0.0)
    network = build_model(len(vocab), None, True, size)
    return LanguageModel(tokenizer, vocab, SequenceFraming(True), size, network)


def matmul_rate(n: int = 2048, runs: int = 5) -> float:
    """FLOP/s of a compiled n x n float32 matmul (median of `runs`, result copied to numpy)."""
    import tensorflow as tf

    a = tf.random.normal([n, n], seed=1)
    b = tf.random.normal([n, n], seed=2)
    f = matmul_rate.fn = getattr(matmul_rate, "fn", None) or tf.function(lambda x, y: tf.matmul(x, y))
    f(a, b).numpy()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def numpy_matmul_rate(n: int = 2048, runs: int = 5) -> float:
    """FLOP/s of numpy's (OpenBLAS) n x n float32 matmul, the second reference (median of `runs`)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(n, n)).astype(np.float32), rng.normal(size=(n, n)).astype(np.float32)
    a @ b
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def tutorial_way(lm, texts):
    """The tutorial's scoring: one `model.predict` per prefix, the softmax of its last position."""
    from wordlm.vocab import BOS_ID, EOS_ID

    out = []
    for text in texts:
        stream = [BOS_ID, *lm.encode(text), EOS_ID]
        total = 0.0
        for t in range(1, len(stream)):
            logits = lm.keras_model.predict(np.array([stream[:t]], dtype=np.int32), verbose=0)[0, -1].astype(np.float64)
            logits[lm.never_predicted()] = -np.inf
            m = logits.max()
            total += logits[stream[t]] - m - np.log(np.exp(logits - m).sum())
        out.append(total)
    return out


# (path, lines read at a time, sentences per forward pass); None: the default (`inference.streams.MAX_BATCH`),
# and `scoring` reading 1,024 lines is what `wordlm score` does (--batch-size 1024)
CONFIGS = [("lm.stream_logprobs", 1024, 64)] + [("scoring", 1024, b) for b in (64, 128, 256, None)]


def run_config(lm, texts, path, read, batch):
    """Score `texts` `read` lines at a time; return (seconds, words, predicted tokens, scores)."""
    from wordlm.scoring import score_sentences

    start = time.perf_counter()
    scores, words, tokens = [], 0, 0
    for lo in range(0, len(texts), read):
        block = texts[lo : lo + read]
        if path == "scoring":
            got = score_sentences(lm, block, max_batch=batch)
            scores += [s.logprob for s in got]
            words += sum(s.words for s in got)
            tokens += sum(s.scored for s in got)
        else:
            streams = [lm.stream(t) for t in block]
            got = lm.stream_logprobs(streams, batch_size=batch)
            scores += [float(x.sum()) for x in got]
            words += sum(len(s) - 2 for s in streams)
            tokens += sum(len(x) for x in got)
    return time.perf_counter() - start, words, tokens, scores


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--segment", type=int, default=1024)
    ap.add_argument("--tutorial-sentences", type=int, default=20)
    args = ap.parse_args()

    import tensorflow as tf

    lm = build_model()
    texts = (PTB / "ptb.test.txt").read_text(encoding="utf-8").splitlines()
    env = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "tf": tf.__version__,
           "date": time.strftime("%Y-%m-%d")}
    for config in CONFIGS:  # trace and warm up
        run_config(lm, texts[:300], *config)
    totals = {c: [0.0, 0, 0] for c in CONFIGS}
    ratios = {c: [] for c in CONFIGS}
    numpy_ratios = {c: [] for c in CONFIGS}
    rates, numpy_rates, loads, scores = [], [], [], {}
    for _ in range(args.repeats):
        for lo in range(0, len(texts), args.segment):
            segment = texts[lo : lo + args.segment]
            loads.append(os.getloadavg()[0])
            before, numpy_before = matmul_rate(), numpy_matmul_rate()
            runs = {c: run_config(lm, segment, *c) for c in CONFIGS}
            peak = (before + matmul_rate()) / 2
            numpy_peak = (numpy_before + numpy_matmul_rate()) / 2
            rates.append(peak)
            numpy_rates.append(numpy_peak)
            for c, (seconds, words, tokens, got) in runs.items():
                totals[c][0] += seconds
                totals[c][1] += words
                totals[c][2] += tokens
                ratios[c].append(lm.flops_per_token * tokens / seconds / peak)
                numpy_ratios[c].append(lm.flops_per_token * tokens / seconds / numpy_peak)
                scores.setdefault(c, {}).update(zip(range(lo, lo + len(segment)), got))
    peak, numpy_peak = statistics.median(rates), statistics.median(numpy_rates)
    reference = scores[CONFIGS[0]]
    rows = []
    for c in CONFIGS:
        seconds, words, tokens = totals[c]
        flops = lm.flops_per_token * tokens / seconds
        diff = max(abs(scores[c][i] - reference[i]) for i in reference)
        assert diff < 1e-3, (c, diff)  # every configuration computes the same numbers
        rows.append({"bench": "score_ptb_test", "path": c[0], "read": c[1], "max_batch": c[2] or "default",
                     "cli_default": c == ("scoring", 1024, None), "framing": "sequence",
                     "size": "2x200", "vocab": lm.vocab_size, "sentences": len(texts), "repeats": args.repeats,
                     "words_per_s": round(words / seconds), "tokens_per_s": round(tokens / seconds),
                     "flops_per_token": lm.flops_per_token, "model_gflops": round(flops / 1e9, 2),
                     "matmul_gflops": round(peak / 1e9, 2), "ratio_to_matmul": round(statistics.median(ratios[c]), 3),
                     "ratio_range": [round(min(ratios[c]), 3), round(max(ratios[c]), 3)],
                     "numpy_matmul_gflops": round(numpy_peak / 1e9, 2),
                     "ratio_to_numpy_matmul": round(statistics.median(numpy_ratios[c]), 3),
                     "segments": len(ratios[c]), "max_abs_diff_vs_first": diff,
                     "load_avg_1min": round(statistics.median(loads), 1), **env})
        print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda r: r["tokens_per_s"])

    subset = texts[: args.tutorial_sentences]
    lm.keras_model.predict(np.array([[2, 5]], dtype=np.int32), verbose=0)  # warm up predict
    start = time.perf_counter()
    slow = tutorial_way(lm, subset)
    seconds = time.perf_counter() - start
    tokens = sum(len(t.split()) + 1 for t in subset)
    start = time.perf_counter()
    fast = run_config(lm, subset, best["path"], best["read"], None if best["max_batch"] == "default" else best["max_batch"])[3]
    fast_seconds = time.perf_counter() - start
    print(json.dumps({"bench": "score_tutorial_predict_per_prefix", "sentences": len(subset), "tokens": tokens,
                      "predict_calls": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
                      "fast_config": [best["path"], best["read"], best["max_batch"]],
                      "fast_tokens_per_s_full_test_set": best["tokens_per_s"],
                      "speedup": round(best["tokens_per_s"] / (tokens / seconds), 1),
                      "fast_tokens_per_s_same_subset": round(tokens / fast_seconds, 1),
                      "speedup_same_subset": round(seconds / fast_seconds, 1),
                      "max_abs_diff_logprob": float(np.max(np.abs(np.array(slow) - np.array(fast)))),
                      "load_avg_1min": round(os.getloadavg()[0], 1), **env}), flush=True)


if __name__ == "__main__":
    main()
