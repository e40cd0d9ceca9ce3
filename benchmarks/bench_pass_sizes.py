"""How many rows one compiled call should hold: the two pass-size levers of issue 18, side by side.

    python benchmarks/bench_pass_sizes.py scoring [--lines 1500] [--sizes 64,128,192,256]
    python benchmarks/bench_pass_sizes.py trie [--utterances 400] [--sizes 256,512,1024,2048]

`scoring`: PTB test lines scored by `lm.stream_logprobs` with at most N sentences per forward pass
(`inference.streams.MAX_BATCH`, the CLI's default); the 2×200 model of `bench_score.py`.
`trie`: LibriSpeech test_other hypotheses scored by the reranking trie with N rows a call (the
default of `rerank.trie.trie_logprobs`); the 2×200 model of `bench_rerank.py speed`.
Random weights (speed does not depend on them). Each size runs once per repeat, interleaved, so
load hits all alike; one JSON line: the median seconds per size; the scores of every size are
asserted equal to the first's (to 1e-4 nats).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[0].parent / "shared" / "data"


def _interleaved(run, sizes, repeats):
    for n in sizes:  # trace and warm up
        run(n, warm=True)
    times = {n: [] for n in sizes}
    first = None
    for _ in range(repeats):
        for n in sizes:
            start = time.perf_counter()
            scores = run(n)
            times[n].append(time.perf_counter() - start)
            first = scores if first is None else first
            assert np.abs(scores - first).max() < 1e-4, n
    return {str(n): round(statistics.median(t), 2) for n, t in times.items()}


def scoring(args):
    sys.path.insert(0, str(HERE))
    from bench_score import PTB, build_model

    lm = build_model()
    streams = [lm.stream(t) for t in (PTB / "ptb.test.txt").read_text().splitlines()[: args.lines]]

    def run(n, warm=False):
        return np.concatenate(lm.stream_logprobs(streams[:200] if warm else streams, batch_size=n))

    return {"lever": "sentences per scoring pass", "lines": len(streams), "seconds": _interleaved(run, args.sizes, args.repeats)}


def trie(args):
    import keras

    from wordlm import rerank as rr
    from wordlm.model import ModelSize
    from wordlm.nbest import read_nbest
    from wordlm.text import Tokenizer
    from wordlm.training import TrainConfig, new_language_model, read_tokenized

    keras.utils.set_random_seed(0)
    corpus = read_tokenized([str(DATA / "lm-text" / "librispeech.train.txt")], Tokenizer("keras"))
    lm = new_language_model(corpus, TrainConfig(max_vocab=10000, size=ModelSize(200, 200, 2, 0.0)))
    utts = list(read_nbest(DATA / "nbest" / "librispeech" / "test_other.30best.jsonl.gz"))[: args.utterances]
    streams = [lm.stream(h.text) for u in utts for h in u.hyps]

    def run(n, warm=False):
        return rr.trie_logprobs(lm, streams[:50] if warm else streams, n)

    return {"lever": "rows per trie call", "hypotheses": len(streams), "seconds": _interleaved(run, args.sizes, args.repeats)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lever", choices=["scoring", "trie"])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--lines", type=int, default=1500)
    parser.add_argument("--utterances", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.sizes is None:
        args.sizes = [64, 128, 192, 256] if args.lever == "scoring" else [256, 512, 1024, 2048]
    out = scoring(args) if args.lever == "scoring" else trie(args)
    print(json.dumps({"benchmark": "pass_sizes", **out, "load_average_1min": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
