"""Two git revisions side by side: scoring, reranking, decoding and fill-in timed in alternating processes.

    python benchmarks/compare_versions.py --base 1bb659e                  # vs this checkout's working tree
    python benchmarks/compare_versions.py --base 1bb659e --head main --rounds 5 --lines 2000

Each revision other than the working tree is checked out with `git worktree add --detach` into a
temporary folder (removed afterwards); every run is a fresh process of this interpreter with
`PYTHONPATH=<revision>/src`, so both use the same installed dependencies and differ only in
wordlm's own code. One small model (a `sequence` LSTM trained for one epoch on the LibriSpeech LM
text of ../shared/data, by the head revision) is loaded by both. Rounds alternate base, head, base,
head … on the same machine state; within a process each task runs once to warm up (tracing,
caches), then `--repeats` times, and the process reports its median. Tasks, through the public API
both revisions share:
- `score`: `lm.score_lines` of `--lines` lines of the LM text (one batched pass per chunk);
- `rerank`: `lm.rerank` of the first `--utterances` utterances of LibriSpeech test_other 30-best;
- `beam`: `lm.generate` of 16 prompts, beam 8, exactly 20 words (`</s>` masked before; the compiled beam loop);
- `beam_numpy`: the same with `no_repeat_ngram=3` (the stepwise search over `Rows`/`extend`);
- `fill`: `lm.fill` of one blank over the whole vocabulary (the conditional scorer's stepping walk).
Prints one JSON line per task: the median over rounds of each side's seconds, and head / base.
A shared, noisy machine: read the ratios, and rerun before believing a difference under 10%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
for candidate in (ROOT / ".." / "shared" / "data", Path("/work/shared/data")):
    if candidate.is_dir():
        DATA = candidate
        break
TEXT = DATA / "lm-text" / "librispeech.train.txt"
NBEST = DATA / "nbest" / "librispeech" / "test_other.30best.jsonl.gz"
TASKS = ("score", "rerank", "beam", "beam_numpy", "fill")

# What each process runs: the same source for both revisions (only the public API).
CHILD = r"""
import json, statistics, sys, time
import wordlm
args = json.loads(sys.argv[1])
lm = wordlm.load(args["model"])
lines = [l.rstrip("\n") for l in open(args["text"], encoding="utf-8")][: args["lines"]]
utts = list(wordlm.read_nbest(args["nbest"]))[: args["utterances"]]
prompts = [" ".join(l.split()[:2]) for l in lines[:16]]
fill_text = " ".join(lines[0].split()[:3]) + " ___ " + " ".join(lines[0].split()[4:8])
tasks = {
    "score": lambda: lm.score_lines(lines),
    "rerank": lambda: lm.rerank(utts, lm_weight=0.5),
    "beam": lambda: lm.generate(prompts, strategy="beam", beam_size=8, min_words=20, max_words=20, num=1),
    "beam_numpy": lambda: lm.generate(prompts, strategy="beam", beam_size=8, min_words=20, max_words=20, num=1,
                                      no_repeat_ngram=3),
    "fill": lambda: lm.fill(fill_text, top=5),
}
for name in args["tasks"]:
    fn = tasks[name]
    fn()
    times = []
    for _ in range(args["repeats"]):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    print(json.dumps({"task": name, "seconds": statistics.median(times)}), flush=True)
"""


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def checkout(rev: str, into: Path) -> Path:
    """A detached worktree of `rev` at `into` ("." is this working tree, as it is)."""
    if rev == ".":
        return ROOT
    git("worktree", "add", "--detach", "--force", str(into), rev)
    return into


def run_child(tree: Path, payload: dict) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(payload)], capture_output=True, text=True,
                          env=env, cwd=tree)
    if done.returncode:
        raise SystemExit(f"{tree}: the benchmark process failed:\n{done.stderr[-3000:]}")
    return {r["task"]: r["seconds"] for r in map(json.loads, (x for x in done.stdout.splitlines() if x.startswith("{")))}


def train_model(tree: Path, out: Path, lines: int, units: int) -> None:
    code = ("import sys, wordlm\n"
            "from wordlm.model import ModelSize\n"
            f"cfg = wordlm.TrainConfig(epochs=1, size=ModelSize({units}, {units}, 1, 0.0), batch_size=32, seed=0)\n"
            f"wordlm.train([sys.argv[1]], cfg, output=sys.argv[2], verbose=0)\n")
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", code, str(TEXT), str(out)], check=True, env=env, cwd=tree)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="1bb659e", help="the revision to compare against")
    ap.add_argument("--head", default=".", help="the revision measured ('.': this working tree, as it is)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per task within a process")
    ap.add_argument("--lines", type=int, default=1000, help="lines scored")
    ap.add_argument("--utterances", type=int, default=100, help="n-best utterances reranked")
    ap.add_argument("--units", type=int, default=128, help="the model's embedding and LSTM width")
    ap.add_argument("--tasks", default=",".join(TASKS))
    args = ap.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    with tempfile.TemporaryDirectory(prefix="wordlm-compare-") as tmp:
        tmp = Path(tmp)
        trees = {}
        try:
            trees["base"] = checkout(args.base, tmp / "base")
            trees["head"] = checkout(args.head, tmp / "head")
            train_model(trees["head"], tmp / "model", args.lines, args.units)
            payload = {"model": str(tmp / "model"), "text": str(TEXT), "nbest": str(NBEST), "lines": args.lines,
                       "utterances": args.utterances, "tasks": tasks, "repeats": args.repeats}
            seconds: dict[str, dict[str, list[float]]] = {"base": {}, "head": {}}
            for _ in range(args.rounds):
                for side in ("base", "head"):
                    for task, s in run_child(trees[side], payload).items():
                        seconds[side].setdefault(task, []).append(s)
        finally:
            for side in ("base", "head"):
                if side in trees and trees[side] != ROOT:
                    subprocess.run(["git", "worktree", "remove", "--force", str(trees[side])], cwd=ROOT,
                                   capture_output=True)
    revs = {side: (git("rev-parse", "--short", rev) if rev != "." else f"{git('rev-parse', '--short', 'HEAD')}+tree")
            for side, rev in (("base", args.base), ("head", args.head))}
    for task in tasks:
        base, head = statistics.median(seconds["base"][task]), statistics.median(seconds["head"][task])
        print(json.dumps({"bench": "compare_versions", "task": task, "base": revs["base"], "head": revs["head"],
                          "rounds": args.rounds, "repeats": args.repeats, "base_s": round(base, 4),
                          "head_s": round(head, 4), "head_over_base": round(head / base, 3)}), flush=True)


if __name__ == "__main__":
    main()
