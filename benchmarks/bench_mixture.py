"""Mixture benchmarks: the cost of scoring a mixture against its components, side by side, and
perplexities of mixtures on the tune/test protocol.

    python benchmarks/bench_mixture.py speed --model DIR --ngram ARPA --text FILE [--rounds 3]
        Scores FILE (PTB test) with the wordlm model alone, the n-gram alone, and their mixture
        (weights 0.5/0.5), in turns, `--rounds` times in one process; prints one JSON line per
        configuration (median seconds), and the ratio mixture / (model + n-gram). Target ≤ 1.10.

Perplexities are measured with the CLI (`wordlm mix … --tune-on`, `wordlm perplexity`); the commands
are in benchmarks/mixtures.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def speed(args) -> None:
    import wordlm
    from wordlm.mixture.components import NgramModel, WordModel
    from wordlm.mixture.model import Mixture
    from wordlm.text import read_lines

    lines = [t for _, t in read_lines(args.text)]
    lm = wordlm.load(args.model)
    ngram = NgramModel(args.ngram)
    configs = {
        "wordlm model alone (lm.perplexity)": lambda: lm.perplexity(lines),
        "n-gram alone (mixture of one)": lambda: Mixture([ngram], [1.0]).perplexity(lines),
        "mixture 0.5/0.5": lambda: Mixture([WordModel(lm, args.model), ngram], [0.5, 0.5]).perplexity(lines),
    }
    lm.perplexity(lines[:50])  # compile outside the timing
    times = {k: [] for k in configs}
    ppl = {}
    for _ in range(args.rounds):
        for name, fn in configs.items():
            t = time.perf_counter()
            ppl[name] = fn().ppl
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name in configs:
        print(json.dumps({"config": name, "median_s": round(med[name], 3), "all_s": [round(x, 3) for x in times[name]],
                          "ppl": round(ppl[name], 3), "lines": len(lines)}), flush=True)
    names = list(configs)
    per_round = [m / (a + b) for a, b, m in zip(*(times[n] for n in names))]  # side by side, each round
    print(json.dumps({"config": "ratio mixture / (model + n-gram)",
                      "ratio_of_medians": round(med[names[2]] / (med[names[0]] + med[names[1]]), 3),
                      "ratio_per_round": [round(r, 3) for r in per_round],
                      "median_ratio": round(statistics.median(per_round), 3),
                      "load_average_1min": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}), flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--model", required=True)
    s.add_argument("--ngram", required=True)
    s.add_argument("--text", required=True)
    s.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    {"speed": speed}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
