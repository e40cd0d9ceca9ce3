"""Memory and time of lattice rescoring on big synthetic lattices (10k and 100k links).

    python benchmarks/bench_lattice_memory.py [--model runs/atis/lstm] [--links 100000]

A lattice is made here (seeded): `links/10` nodes in time order, each with 10 links to nodes up to
8 positions later, words drawn from the model's vocabulary, acoustic scores uniform in [-60, -5]
(so the paths number about 10^(nodes/4): far too many to list). Each size runs in its own process:
peak RSS (`ru_maxrss`) after loading the model, after reading the gzipped SLF, and after the
search (k=3, beam 60, 8 histories a node, the 50-best); one JSON line each.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make(path: Path, n_links: int, words: list[str], seed: int = 0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    n_nodes = n_links // 10 + 1
    lines = ["VERSION=1.0", f"UTTERANCE=big{n_links}", "start=0", f"end={n_nodes - 1}"]
    links = []
    for u in range(n_nodes - 1):
        for i in range(10):
            if len(links) >= n_links:
                break
            v = u + 1 if i == 0 else min(n_nodes - 1, u + 1 + int(rng.integers(0, 8)))
            links.append((u, v, words[int(rng.integers(len(words)))], float(rng.uniform(-60, -5))))
    while len(links) < n_links:  # pad with links into the end node
        links.append((n_nodes - 2, n_nodes - 1, words[0], -30.0))
    lines.append(f"N={n_nodes}\tL={len(links)}")
    lines += [f"I={i}\tt={i * 0.01:.2f}" for i in range(n_nodes)]
    lines += [f"J={j}\tS={s}\tE={e}\tW={w}\ta={a:.3f}" for j, (s, e, w, a) in enumerate(links)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def one(model: str, n_links: int) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from wordlm.cli.common import load_model
    from wordlm.lattice import Options, Weights, best_path, expand, nbest, read_slf

    lm = load_model(model)
    after_model = peak_mb()
    words = [w for w in lm.words if w.isalpha()][:500]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.slf.gz"
        make(path, n_links, words)
        t = time.perf_counter()
        lat = read_slf(path)
        read_s = time.perf_counter() - t
        after_read = peak_mb()
        t = time.perf_counter()
        ex = expand(lat, [lm], Weights(lms=(8.0,), word_bonus=2.0), Options(k=3, beam=60.0, max_histories=8))
        best = best_path(ex)
        paths = nbest(ex, 50)
        search_s = time.perf_counter() - t
    return {"links": lat.num_links, "nodes": lat.num_nodes, "rss_model_mb": round(after_model, 1),
            "rss_after_read_mb": round(after_read, 1), "rss_peak_mb": round(peak_mb(), 1),
            "read_mb": round(after_read - after_model, 1), "search_mb": round(peak_mb() - after_read, 1),
            "read_s": round(read_s, 2), "search_s": round(search_s, 2), "states": ex.stats["states"],
            "arcs": ex.stats["arcs"], "model_calls": ex.stats["model_calls"], "rows": ex.stats["rows"],
            "best_words": len(best.words), "nbest": len(paths)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "runs" / "atis" / "lstm"))
    p.add_argument("--links", type=int, default=None)
    a = p.parse_args()
    if a.links:
        print(json.dumps(one(a.model, a.links)), flush=True)
        return
    for n in (10_000, 100_000):
        r = subprocess.run([sys.executable, __file__, "--model", a.model, "--links", str(n)], capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
        sys.stdout.write(r.stdout)
        if r.returncode:
            sys.stderr.write(r.stderr[-2000:])


if __name__ == "__main__":
    main()
