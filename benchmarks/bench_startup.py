"""Time from a command to its error when the error needs no model: paths, options, formats.

    python benchmarks/bench_startup.py [--rounds 5]

Each case runs `wordlm ...` as a fresh process in a scratch directory (so the time includes
Python's start-up and the imports) and prints one JSON line: the median wall time over rounds,
the exit code and the first line of stderr. Target (README contract): under 1 s, because these
checks come before TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

CASES = {
    "score: missing model directory": ["score", "missing-dir", "x.txt"],
    "score: missing text file": ["score", "notmodel", "missing.txt"],
    "score: not a model directory": ["score", "notmodel", "x.txt"],
    "perplexity: missing model directory": ["perplexity", "missing-dir", "x.txt"],
    "next: missing model directory": ["next", "missing-dir", "--prompt", "a"],
    "fill: missing model directory": ["fill", "missing-dir", "a ___ b"],
    "generate: bad option": ["generate", "missing-dir", "--beam-size", "0"],
    "rerank: missing n-best file": ["rerank", "missing-dir", "missing.jsonl"],
    "train: missing text file": ["train", "missing.txt", "-o", "m"],
    "train: unwritable destination": ["train", "x.txt", "-o", "/proc/wordlm-model"],
    "train: bad option": ["train", "x.txt", "-o", "m", "--dropout", "1.5"],
    "info: missing model directory": ["info", "missing-dir"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    wordlm = shutil.which("wordlm") or "wordlm"
    scratch = Path(tempfile.mkdtemp(prefix="wordlm-startup-"))
    (scratch / "x.txt").write_text("a b\n")
    (scratch / "notmodel").mkdir()
    try:
        for name, argv in CASES.items():
            times, done = [], None
            for _ in range(args.rounds):
                started = time.perf_counter()
                done = subprocess.run([wordlm, *argv], cwd=scratch, capture_output=True, text=True, timeout=120)
                times.append(time.perf_counter() - started)
            print(json.dumps({"benchmark": "startup", "case": name, "rounds": args.rounds,
                              "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
                              "exit": done.returncode, "stderr": (done.stderr.splitlines() or [""])[-1][:120]}),
                  flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
