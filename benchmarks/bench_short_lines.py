"""Many short lines against long lines: the per-sentence overhead of `wordlm perplexity`.

A tiny model (the committed golden `seq` model: 1 LSTM layer of 16 units, 25-token vocabulary)
scores two files with the same number of words, side by side in one run, as `wordlm perplexity`
does (`cli.score_cmds._score_files`: reading, tokenizing, encoding, grouping, the forward passes,
the per-line results and the corpus summary, progress included):

- `short`: `--lines` one-word lines (200,000 by default);
- `long`: the same words as lines of `--long-words` words (100).

Predicted tokens (words + `</s>`) per second, the median of `--repeats` runs of each, interleaved
(the machine is shared). One JSON line per file, then one with the ratio short/long (issue 17
asks for >= 0.5). Usage:

    python benchmarks/bench_short_lines.py [--lines 200000] [--long-words 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "golden" / "models" / "seq"
WORDS = "jack and jill went up the hill to fetch a pail of water fell down broke his crown came tumbling after".split()


def make_files(folder: Path, lines: int, long_words: int) -> dict[str, Path]:
    rng = random.Random(0)
    words = [rng.choice(WORDS) for _ in range(lines)]
    short, long = folder / "short.txt", folder / "long.txt"
    short.write_text("".join(w + "\n" for w in words))
    long.write_text("".join(" ".join(words[i : i + long_words]) + "\n" for i in range(0, lines, long_words)))
    return {"short": short, "long": long}


def measure(lines: int = 200_000, long_words: int = 100, repeats: int = 3) -> list[dict]:
    """The JSON records: one per file, then the ratio (see the module docstring)."""
    import wordlm
    from wordlm.cli.common import load_model
    from wordlm.cli.score_cmds import _score_files
    from wordlm.text import READ_LINES
    from wordlm.scoring import Options

    lm = load_model(MODEL)  # as the command loads it
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), lines, long_words)
        _score_files(lm, [str(files["long"])], Options(), READ_LINES, None)  # warm: compile the shapes once
        _score_files(lm, [str(files["short"])], Options(), READ_LINES, None)
        seconds: dict[str, list[float]] = {name: [] for name in files}
        summaries = {}
        for _ in range(repeats):
            for name, path in files.items():
                started = time.perf_counter()
                summaries[name] = _score_files(lm, [str(path)], Options(), READ_LINES, None)
                seconds[name].append(time.perf_counter() - started)
    records, rates = [], {}
    for name, summary in summaries.items():
        median = statistics.median(seconds[name])
        rates[name] = summary.scored / median
        records.append({"file": name, "lines": summary.sentences, "words": summary.words,
                        "tokens": summary.scored, "seconds_median": round(median, 3),
                        "seconds": [round(s, 3) for s in seconds[name]],
                        "tokens_per_s": round(rates[name]), "lines_per_s": round(summary.sentences / median),
                        "ppl": round(summary.ppl, 4)})
    records.append({"ratio_short_to_long_tokens_per_s": round(rates["short"] / rates["long"], 3),
                    "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "wordlm": wordlm.__version__, "date": time.strftime("%Y-%m-%d")})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--long-words", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for record in measure(args.lines, args.long_words, args.repeats):
        print(json.dumps(record))


if __name__ == "__main__":
    main()
