"""Regenerate the golden CLI outputs of `tests/test_golden_cli.py` (run only when a change of output is intended).

    python tests/golden/make_golden.py            # trains the seeded models (if missing) and records stdout
    python tests/golden/make_golden.py --tiny     # retrains the tests' tiny models (tests/golden/tiny/)

The models in `tests/golden/models/` are trained once and committed, so the recorded outputs are
the output of the code that recorded them on exactly these weights. The outputs were first
recorded at cd1c4bf, before the inference-core redesign; the test checks that the CLI prints the
same bytes today.

`--tiny` trains every model `tiny_model(...)` (tests/helpers.py) serves from a fixture, with the
settings of `helpers.TINY_MODELS` (seed 0, in this process, as `tiny_model` would), saves each to
`tests/golden/tiny/<name>/` and their scores of `helpers.PROBE` to `tests/golden/tiny/scores.json`;
`tests/test_fixture_models.py` retrains and compares, so the committed models cannot rot.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
RHYME = HERE.parent.parent / "src" / "wordlm" / "data" / "rhyme.txt"

TRAIN = {
    "seq": ["--epochs", "60", "--units", "16", "--embedding-dim", "8", "--seed", "1"],
    "back": ["--epochs", "60", "--units", "16", "--embedding-dim", "8", "--seed", "1", "--reverse"],
    "line": ["--framing", "line", "--no-boundaries", "--epochs", "60", "--units", "16", "--embedding-dim", "8", "--seed", "2"],
    "win": ["--framing", "window", "--context", "2", "--epochs", "60", "--units", "16", "--embedding-dim", "8", "--seed", "3"],
    "char": ["--framing", "char", "--epochs", "20", "--units", "16", "--embedding-dim", "8", "--seed", "4"],
}

SENTENCES = "Jack and Jill went up the hill\n\nJack fell down and broke his zebra\nto fetch a pail of water\n"
NBEST = [
    {"utt_id": "u1", "ref": "jack and jill went up the hill", "hyps": [
        {"text": "jack and jill went up the hill", "score": -4.1}, {"text": "jack an jill went up the hill", "score": -3.9},
        {"text": "jack and jill want up the hill", "score": -4.0}]},
    {"utt_id": "u2", "ref": "to fetch a pail of water", "hyps": [
        {"text": "to fetch a pale of water", "score": -2.0}, {"text": "to fetch a pail of water", "score": -2.2}]},
    {"utt_id": "u3", "ref": "and jill came tumbling after", "hyps": [
        {"text": "and jill came tumbling after", "score": -1.0}, {"text": "and jill came tumbling", "score": -1.5}]},
]


def commands() -> list[list[str]]:
    """The recorded commands ({M} = tests/golden/models, {D} = the data folder the test writes)."""
    out = []
    for m in ("seq", "line", "win", "char"):
        out += [
            ["score", f"{{M}}/{m}", "{D}/sentences.txt"],
            ["score", f"{{M}}/{m}", "{D}/sentences.txt", "--json", "--per-token"],
            ["perplexity", f"{{M}}/{m}", "{D}/sentences.txt", "{D}/rhyme.txt", "--json"],
            ["next", f"{{M}}/{m}", "--prompt", "jack and", "--top", "5"],
            ["generate", f"{{M}}/{m}", "--prompt", "jack", "--prompt", "jill came", "--max-words", "6"],
            ["generate", f"{{M}}/{m}", "--prompt", "jack", "--strategy", "beam", "--beam-size", "4", "--num", "3",
             "--max-words", "5", "--json"],
            ["generate", f"{{M}}/{m}", "--prompt", "and", "--strategy", "sample", "--num", "3", "--seed", "7",
             "--max-words", "5"],
            ["rerank", f"{{M}}/{m}", "{D}/nb.jsonl", "--lm-weight", "1", "--all", "--json"],
        ]
    out += [
        ["score", "{M}/seq", "{D}/sentences.txt", "--per-token", "--base", "10", "--oov", "skip"],
        ["score", "{M}/seq", "{D}/sentences.txt", "--no-bos", "--no-eos", "--json", "--per-token"],
        ["perplexity", "{M}/seq", "{D}/rhyme.txt", "--context-tokens", "24"],
        ["next", "{M}/seq", "--prompt", "jack fell", "--candidates", "down,up,down and broke", "--json"],
        ["fill", "{M}/seq", "and jill came ___ after", "--top", "3"],
        ["fill", "{M}/seq", "and jill came ___ after", "--top", "2", "--backward-model", "{M}/back", "--json"],
        ["next", "{M}/back", "--prompt", "came tumbling after", "--top", "3"],
        ["generate", "{M}/seq", "--prompt", "jack", "--strategy", "beam", "--beam-size", "8", "--num", "4",
         "--length-norm", "gnmt", "--min-words", "2"],
        ["generate", "{M}/seq", "--prompt", "the", "--strategy", "sample", "--top-k", "3", "--num", "2", "--seed", "1",
         "--no-repeat-ngram", "2"],
        ["tune", "{M}/seq", "{D}/nb.jsonl", "-o", "{D}/tuned.json", "--lm-weights", "0:2:0.5", "--word-bonuses", "0:1:0.5",
         "--rule", "best"],  # the in-sample optimum, as recorded (the default rule came later)
        ["rerank", "{M}/seq", "{D}/nb.jsonl", "--lm-weight", "0.5", "--word-bonus", "0.25"],
        ["info", "{M}/seq"],
    ]
    return out


def write_data(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sentences.txt").write_text(SENTENCES)
    (folder / "rhyme.txt").write_text(RHYME.read_text())
    (folder / "nb.jsonl").write_text("".join(json.dumps(u) + "\n" for u in NBEST))


def run(args: list[str], data: Path, wordlm: list[str]) -> str:
    args = [a.replace("{M}", str(MODELS)).replace("{D}", str(data)) for a in args]
    done = subprocess.run([*wordlm, *args], capture_output=True, text=True, check=True)
    return done.stdout.replace(str(data), "{D}").replace(str(MODELS), "{M}")


def make_tiny(names=None) -> None:
    """Train the tiny fixture models (all, or `names`) and record their probe scores."""
    import os
    import shutil

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(HERE.parent))
    import helpers

    scores = helpers.committed_scores() if (helpers.TINY / "scores.json").is_file() else {}
    for name, settings in helpers.TINY_MODELS.items():
        if names and name not in names:
            continue
        lm = helpers.train_tiny(**settings)
        shutil.rmtree(helpers.TINY / name, ignore_errors=True)
        lm.save(helpers.TINY / name)
        (helpers.TINY / name / ".wordlm.lock").unlink(missing_ok=True)  # the save's lock file: not committed
        scores[name] = helpers.probe_scores(lm)
        print(f"{name}: {helpers.TINY_MODELS[name]} saved", flush=True)
    scores = {k: scores[k] for k in helpers.TINY_MODELS if k in scores}
    (helpers.TINY / "scores.json").write_text(json.dumps(scores, indent=1) + "\n")


def main() -> None:
    if sys.argv[1:2] == ["--tiny"]:
        make_tiny(sys.argv[2:])
        return
    wordlm = [sys.executable, "-m", "wordlm"]
    for name, options in TRAIN.items():
        if not (MODELS / name / "wordlm.json").exists():
            subprocess.run([*wordlm, "train", str(RHYME), "-o", str(MODELS / name), "-q", *options], check=True)
    data = HERE / "_data"
    write_data(data)
    records = [{"args": args, "stdout": run(args, data, wordlm)} for args in commands()]
    (HERE / "expected.json").write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    print(f"recorded {len(records)} commands")


if __name__ == "__main__":
    main()
