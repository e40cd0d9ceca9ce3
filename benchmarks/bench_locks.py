"""Locks under contention: one writer at a time, readers never fail, a second writer refused fast.

Three measurements, one JSON line each:

- `race`: `--procs` processes (no TensorFlow) try for `--seconds` to take one lock file
  (`wordlm.locking.hold`) and, while holding it, increment a counter file by read-modify-write.
  Lost updates (counter != acquisitions) would mean two holders at once; refusals are the attempts
  that found the lock held.
- `readers`: a child process saves a model to one directory in a loop (`saving.save`, a different
  model each time) while this process polls `saving.load` for `--seconds`: loads, commits seen,
  failures.
- `second_writer`: while a holder process keeps a model directory's lock, `wordlm train … -o DIR
  --overwrite` in a fresh process: its exit code, its one error line, and the seconds it took
  (the refusal comes before TensorFlow is imported).

Usage:

    python benchmarks/bench_locks.py [--procs 16] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SRC, TESTS = str(ROOT / "src"), str(ROOT / "tests")

RACER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {src!r})
    from pathlib import Path
    from wordlm.errors import InputError
    from wordlm.locking import hold
    lock, counter, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    won = refused = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with hold(lock):
                counter.write_text(str(int(counter.read_text()) + 1))
                won += 1
        except InputError:
            refused += 1
    print(won, refused)
""")

SAVER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from conftest import tiny_model
    from wordlm import saving
    lm = tiny_model("sequence", epochs=1)
    weights = lm.keras_model.get_weights()
    saving.save(lm, sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        lm.keras_model.set_weights([w + 0.001 * (i % 7) for w in weights])
        saving.save(lm, sys.argv[1])
""")

HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {src!r})
    from pathlib import Path
    from wordlm.locking import hold
    with hold(Path(sys.argv[1])):
        print("holding", flush=True)
        time.sleep(120)
""")


def race(folder: Path, procs: int, seconds: float) -> dict:
    lock, counter = folder / "race", folder / "counter"  # the lock: race/.wordlm.lock
    lock.mkdir()
    counter.write_text("0")
    script = folder / "racer.py"
    script.write_text(RACER.format(src=SRC))
    children = [subprocess.Popen([sys.executable, str(script), str(lock), str(counter), str(seconds)],
                                 stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    results = [tuple(map(int, c.communicate()[0].split())) for c in children]
    won = sum(w for w, _ in results)
    return {"bench": "race", "processes": procs, "seconds": seconds, "acquisitions": won,
            "acquisitions_per_s": round(won / seconds), "refusals": sum(r for _, r in results),
            "lost_updates": won - int(counter.read_text()), "lock_file_left": (lock / ".wordlm.lock").exists()}


def readers(folder: Path, seconds: float) -> dict:
    from wordlm import saving

    d = folder / "model"
    script = folder / "saver.py"
    script.write_text(SAVER.format(tests=TESTS))
    saver = subprocess.Popen([sys.executable, str(script), str(d)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert saver.stdout.readline().strip() == b"ready"
    loads = failures = 0
    commits = set()
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            saving.load(d)
            loads += 1
        except Exception:  # noqa: BLE001 - counted, the figure is how many
            failures += 1
        commits.add(json.loads((d / "wordlm.json").read_text())["weights_file"])
    saver.kill()
    saver.wait()
    return {"bench": "readers", "seconds": seconds, "loads": loads, "distinct_commits_seen": len(commits),
            "failures": failures}


def second_writer(folder: Path) -> dict:
    d = folder / "held"
    d.mkdir()
    script = folder / "holder.py"
    script.write_text(HOLDER.format(src=SRC))
    holder = subprocess.Popen([sys.executable, str(script), str(d)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"holding"
    text = folder / "t.txt"
    text.write_text("jack and jill\n")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "wordlm", "train", str(text), "-o", str(d), "--overwrite", "-q"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC})
    elapsed = time.perf_counter() - started
    holder.kill()
    holder.wait()
    lines = out.stderr.strip().splitlines()
    return {"bench": "second_writer", "exit_code": out.returncode, "stderr_lines": len(lines),
            "message": lines[-1].replace(str(folder), "…") if lines else "", "seconds": round(elapsed, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sys.path.insert(0, SRC)
    sys.path.insert(0, TESTS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(json.dumps(race(folder, args.procs, args.seconds)))
        print(json.dumps(second_writer(folder)))
        print(json.dumps(readers(folder, 2 * args.seconds)))


if __name__ == "__main__":
    main()
