"""Lattice rescoring against 50-best rescoring on PocketSphinx lattices of synthesised ATIS dev speech
(`benchmarks/make_lattices.py` makes them; `benchmarks/lattices.md` has the figures).

    python benchmarks/bench_lattices.py [--lattices runs/lattices] [--model runs/atis/lstm]
                                        [--ngram runs/atis/kn4.arpa] [--stage all|main|sweep|memory]

Every figure comes from the command line a user would run (`wordlm lattice`, `wordlm tune`,
`wordlm rerank`), printed with it as one JSON line. Protocol (tune on the tune half, report on the
test half; ATIS dev only):
1. first pass: the lattice with the KenLM 4-gram (PocketSphinx's SLF carries no LM score), weights
   tuned by `wordlm tune` on the tune half's n-best (extracted with a first guess, then re-extracted);
   its 50-best lists are *the* n-best lists (both halves);
2. 50-best rescoring: `wordlm tune` on the tune 50-best (wordlm alone; wordlm + KenLM with `--lm`),
   `wordlm rerank --weights` on the test 50-best;
3. lattice rescoring: `wordlm lattice --weights` (the same tuned weights) on the test lattices;
4. sweep: k and the beam on the test lattices (WER, time per lattice, model calls);
5. memory: peak RSS reading and rescoring a synthetic lattice of 100k links.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
SEARCH = ["-k", "3", "--max-histories", "8"]  # the search settings of the main figures


def run(args: list[str], what: str) -> dict:
    cmd = [PY, "-m", "wordlm", *args]
    start = time.time()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    out = {"what": what, "command": "wordlm " + " ".join(args), "wall_s": round(time.time() - start, 1)}
    err = p.stderr
    m = re.search(r"WER % over (\d+) reference words: 1-best ([\d.]+), (\d+)-best oracle ([\d.]+), lattice oracle ([\d.]+)", err)
    if m:
        out.update(ref_words=int(m.group(1)), wer=float(m.group(2)), nbest_oracle=float(m.group(4)),
                   lattice_oracle=float(m.group(5)))
    m = re.search(r"(\d+) lattices \(([\d,]+) links\) in ([\d.]+) s: ([\d.]+) ms a lattice, (\d+) model calls, ([\d,]+) rows", err)
    if m:
        out.update(lattices=int(m.group(1)), ms_per_lattice=float(m.group(4)), model_calls=int(m.group(5)),
                   rows=int(m.group(6).replace(",", "")))
    m = re.search(r"first pass\s+([\d.]+).*\n\s+reranked\s+([\d.]+).*\n\s+oracle\s+([\d.]+)", err)
    if m:
        out.update(first_pass_wer=float(m.group(1)), wer=float(m.group(2)), nbest_oracle=float(m.group(3)))
    if args[0] == "tune":
        tuned = json.loads(p.stdout.strip().splitlines()[-1])
        out.update({k: tuned[k] for k in ("lm_weight", "word_bonus", "wer") if k in tuned})
        if "lms" in tuned:
            out["lms"] = tuned["lms"]
    print(json.dumps(out), flush=True)
    return out


def merge(a: Path, b: Path, out: Path) -> None:
    """The union of two jsonl n-best files, utterance by utterance (a's hypotheses first, b's new texts)."""
    second = {u["utt_id"]: u for u in map(json.loads, b.read_text().splitlines())}
    lines = []
    for line in a.read_text().splitlines():
        u = json.loads(line)
        texts = {h["text"] for h in u["hyps"]}
        u["hyps"] += [h for h in second.get(u["utt_id"], {"hyps": []})["hyps"] if h["text"] not in texts]
        lines.append(json.dumps(u))
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lattices", default=str(ROOT / "runs" / "lattices"))
    p.add_argument("--model", default=str(ROOT / "runs" / "atis" / "lstm"))
    p.add_argument("--ngram", default=str(ROOT / "runs" / "atis" / "kn4.arpa"))
    p.add_argument("--stage", choices=["all", "main", "iterate", "plus", "sweep", "memory"], default="all")
    p.add_argument("--iterate", nargs="*", default=["wordlm", "both"], help="LM sets of the second round")
    a = p.parse_args()
    d = Path(a.lattices)
    w = d / "bench"
    w.mkdir(exist_ok=True)
    lst = {part: str(d / f"{part}.list") for part in ("tune", "test")}
    refs = {part: str(d / f"{part}.refs") for part in ("tune", "test")}
    grid = ["--am", "acoustic=1", "--lm-weights", "0:60:2", "--word-bonuses", "-20:120:5", "--rule", "best",
            "--folds", "0"]
    if a.stage in ("all", "main"):
        # 1. the first pass: lattice + KenLM; a first guess, tuned, re-extracted
        kn_guess = w / "tune.kn_guess.nbest.jsonl"
        if not kn_guess.exists():
            run(["lattice", "-", "--list", lst["tune"], "--refs", refs["tune"], "--lm-weight", "0", "--lm",
                 f"{a.ngram}=8", *SEARCH, "--nbest-out", str(kn_guess), "-o", str(w / "tune.kn_guess.txt")],
                "first guess: tune lattices + KenLM (weight 8)")
        run(["tune", a.ngram, str(kn_guess), *grid, "-o", str(w / "kn.json")], "tune KenLM weights on the guess n-best")
        kn = json.loads((w / "kn.json").read_text())
        kn_w = f"{a.ngram}={kn['lm_weight']}"
        for part in ("tune", "test"):
            run(["lattice", "-", "--list", lst[part], "--refs", refs[part], "--lm-weight", "0", "--lm", kn_w,
                 "--word-bonus", str(kn["word_bonus"]), *SEARCH, "--nbest-out", str(w / f"{part}.kn.nbest.jsonl"),
                 "-o", str(w / f"{part}.kn.txt")], f"first pass: {part} lattices + KenLM (tuned): 1-best and 50-best")
        # 2. 50-best rescoring: tuned on the tune 50-best, measured on the test 50-best
        run(["tune", a.model, str(w / "tune.kn.nbest.jsonl"), *grid, "-o", str(w / "wordlm.json")],
            "tune wordlm on the tune 50-best")
        run(["tune", a.model, str(w / "tune.kn.nbest.jsonl"), *grid, "--lm", a.ngram, "--other-weights", "0:60:2",
             "-o", str(w / "both.json")], "tune wordlm + KenLM on the tune 50-best")
        for name in ("wordlm", "both"):
            run(["rerank", a.model, str(w / "test.kn.nbest.jsonl"), "--am", "acoustic=1", "--weights",
                 str(w / f"{name}.json"), "-o", str(w / f"test.rerank.{name}.txt")], f"50-best rescoring, test: {name}")
        # 3. lattice rescoring with the same weights
        for name in ("wordlm", "both"):
            run(["lattice", a.model, "--list", lst["test"], "--refs", refs["test"], "--weights", str(w / f"{name}.json"),
                 *SEARCH, "-o", str(w / f"test.lattice.{name}.txt")], f"lattice rescoring, test: {name}")
    if a.stage in ("all", "iterate"):
        # 3b. one more round: tune on the tune lattices' own wordlm 50-best (merged with the KenLM 50-best)
        for name in a.iterate:
            own = w / f"tune.lattice.{name}.nbest.jsonl"
            run(["lattice", a.model, "--list", lst["tune"], "--refs", refs["tune"], "--weights", str(w / f"{name}.json"),
                 *SEARCH, "--nbest-out", str(own), "-o", str(w / f"tune.lattice.{name}.txt")],
                f"lattice rescoring, tune: {name} (for the second round)")
            merged = w / f"tune.merged.{name}.nbest.jsonl"
            merge(w / "tune.kn.nbest.jsonl", own, merged)
            extra = ["--lm", a.ngram, "--other-weights", "0:60:2"] if name == "both" else []
            run(["tune", a.model, str(merged), *grid, *extra, "-o", str(w / f"{name}2.json")],
                f"tune {name} on the merged tune 50-best (second round)")
            run(["lattice", a.model, "--list", lst["test"], "--refs", refs["test"], "--weights", str(w / f"{name}2.json"),
                 *SEARCH, "-o", str(w / f"test.lattice.{name}2.txt")], f"lattice rescoring, test: {name}, second round")
    if a.stage in ("all", "plus"):
        # 3c. wordlm added to the whole first pass (KenLM kept at its tuned weight): the n-best field `total`
        kn = json.loads((w / "kn.json").read_text())
        run(["tune", a.model, str(w / "tune.kn.nbest.jsonl"), *grid[:2], "--am", "total=1", "--lm-weights", "0:40:1",
             "--word-bonuses", "-40:40:2", "--rule", "best", "--folds", "0", "-o", str(w / "plus.json")],
            "tune wordlm added to the first pass (acoustic + KenLM) on the tune 50-best")
        plus = json.loads((w / "plus.json").read_text())
        run(["rerank", a.model, str(w / "test.kn.nbest.jsonl"), "--am", "total=1", "--weights", str(w / "plus.json"),
             "-o", str(w / "test.rerank.plus.txt")], "50-best rescoring, test: first pass + wordlm")
        run(["lattice", a.model, "--list", lst["test"], "--refs", refs["test"], "--lm", f"{a.ngram}={kn['lm_weight']}",
             "--lm-weight", str(plus["lm_weight"]), "--word-bonus", str(kn["word_bonus"] + plus["word_bonus"]), *SEARCH,
             "-o", str(w / "test.lattice.plus.txt")], "lattice rescoring, test: first pass (KenLM) + wordlm")
    if a.stage in ("all", "sweep"):
        tuned = w / "wordlm.json"
        half = w / "test50.list"  # the sweep: the first 50 test lattices
        half.write_text("".join(Path(lst["test"]).read_text().splitlines(keepends=True)[:50]))
        for k, beam, mh in [("0", "none", "8"), ("1", "none", "8"), ("2", "none", "8"), ("3", "none", "8"),
                            ("4", "none", "8"), ("full", "none", "8"), ("3", "50", "8"), ("3", "200", "8"),
                            ("3", "none", "2"), ("3", "none", "32"), ("full", "none", "32")]:
            prune = ["--max-histories", mh] + ([] if beam == "none" else ["--beam", beam])
            run(["lattice", a.model, "--list", str(half), "--refs", refs["test"], "--weights", str(tuned),
                 "-k", k, *prune], f"sweep: k={k} beam={beam} max_histories={mh}")
    if a.stage in ("all", "memory"):
        p2 = subprocess.run([PY, str(ROOT / "benchmarks" / "bench_lattice_memory.py"), "--model", a.model],
                            env=ENV, capture_output=True, text=True)
        sys.stdout.write(p2.stdout)
        if p2.returncode:
            sys.stderr.write(p2.stderr[-2000:])


if __name__ == "__main__":
    main()
