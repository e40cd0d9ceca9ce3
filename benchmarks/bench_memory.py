"""Peak memory of `wordlm score` on generated corpora of growing size (bounded-memory check).

Trains (or reuses) a small sequence model on Mother Goose, generates corpora of N lines by sampling
its words, and runs `wordlm score MODEL CORPUS > /dev/null` in a child process, reading the child's
peak RSS from `os.wait4`. Prints one JSON line per size. Usage:

    python benchmarks/bench_memory.py [--lines 100000 1000000] [--workdir runs/memory]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "toy" / "mother_goose.txt"


def wordlm(*args):
    return [sys.executable, "-m", "wordlm", *args]


def peak_rss_mib(cmd, stdout=subprocess.DEVNULL) -> tuple[float, float, int]:
    """(peak RSS in MiB, wall seconds, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return usage.ru_maxrss / 1024, time.perf_counter() - start, os.waitstatus_to_exitcode(status)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--workdir", default=str(ROOT / "runs" / "memory"))
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model = work / "model"
    if not (model / "wordlm.json").exists():
        subprocess.run(wordlm("train", str(DATA), "-o", str(model), "--epochs", "1", "--units", "64",
                              "--embedding-dim", "32", "-q"), check=True, stdout=subprocess.DEVNULL)
    words = DATA.read_text(encoding="utf-8").lower().split()
    rng = random.Random(0)
    for n in args.lines:
        corpus = work / f"corpus_{n}.txt"
        if not corpus.exists():
            with open(corpus, "w", encoding="utf-8") as f:
                for _ in range(n):
                    f.write(" ".join(rng.choices(words, k=rng.randint(1, 25))) + "\n")
        rss, seconds, code = peak_rss_mib(wordlm("score", str(model), str(corpus)))
        print(json.dumps({"bench": "score_memory", "lines": n, "peak_rss_mib": round(rss, 1),
                          "seconds": round(seconds, 1), "exit_code": code}), flush=True)


if __name__ == "__main__":
    main()
