"""Old code against new, side by side: run a benchmark from two checkouts alternately, report medians.

    git worktree add --detach ../wt-old cd1c4bf && (cd ../wt-old && python3 -m venv .venv && .venv/bin/pip install -e .)
    python benchmarks/compare_versions.py --old ../wt-old --rounds 3 score
    python benchmarks/compare_versions.py --old ../wt-old --rounds 3 rerank

Each round runs the benchmark script of the old checkout (with its own virtual environment, so its
own `wordlm`) and then this checkout's, one after the other on the same machine state, as separate
processes. `score`: `bench_score.py` (PTB test, 2×200 LSTM, 10k vocabulary), per configuration the
median over rounds of tokens/s and of the ratio to the matmul rate each run measures around its own
segments; `rerank`: `bench_rerank.py speed --no-plain` (LibriSpeech test_other, the same model
shape), the median seconds of the end-to-end command, of the reranking and of the trie alone. Prints
one JSON line per figure with `old`, `new` and `new_over_old`. A shared, noisy machine: read ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = {"score": ["bench_score.py", "--repeats", "1", "--tutorial-sentences", "1"],
         "rerank": ["bench_rerank.py", "speed", "--no-plain"]}


def run(checkout: Path, python: str, bench: str) -> list[dict]:
    script, *args = BENCH[bench]
    done = subprocess.run([python, str(checkout / "benchmarks" / script), *args], capture_output=True, text=True,
                          cwd=checkout)
    if done.returncode:
        raise SystemExit(f"{checkout}: {script} failed:\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def figures(bench: str, rows: list[dict]) -> dict[str, float]:
    out = {}
    if bench == "score":
        for r in rows:
            if r.get("bench") == "score_ptb_test":
                key = f"{r['path']} read {r['read']} batch {r['max_batch']}"
                out[f"{key}: tokens/s"] = r["tokens_per_s"]
                out[f"{key}: ratio to matmul"] = r["ratio_to_matmul"]
    else:
        for r in rows:
            if "seconds" in r:
                out[f"{r['config']}: seconds"] = r["seconds"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", choices=sorted(BENCH))
    ap.add_argument("--old", required=True, type=Path, help="the old checkout (with its own .venv)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    old_python = str(args.old / ".venv" / "bin" / "python")
    runs: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    for _ in range(args.rounds):
        for side, checkout, python in (("old", args.old, old_python), ("new", ROOT, sys.executable)):
            for key, value in figures(args.bench, run(checkout, python, args.bench)).items():
                runs[side].setdefault(key, []).append(value)
    for key in runs["new"]:
        if key in runs["old"]:
            old, new = statistics.median(runs["old"][key]), statistics.median(runs["new"][key])
            print(json.dumps({"bench": args.bench, "figure": key, "rounds": args.rounds, "old": old, "new": new,
                              "new_over_old": round(new / old, 3)}), flush=True)


if __name__ == "__main__":
    main()
