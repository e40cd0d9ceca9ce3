"""Build the KenLM n-gram models the mixture benchmarks use (`benchmarks/mixtures.md`), with the
`lmplz` of `benchmarks/build_kenlm.sh`. Modified Kneser-Ney (lmplz's only estimator), pruning none.

    python benchmarks/build_ngrams.py [--lmplz runs/kenlm/build/bin/lmplz] [--out runs/ngram]

- PTB 5-gram on ptb.train (words as written). Mikolov's PTB has `<unk>` in its text as a word;
  lmplz refuses `<unk>` in a corpus, so the text is built with `<unk>` spelled `UNKTOKEN` and the
  ARPA's own (untrained) `<unk>` unigram is then replaced by that word, renamed `<unk>`: the
  n-gram model's `<unk>` is the trained word, as SRILM's `ngram-count -unk` makes it.
- ATIS and LibriSpeech 4-grams on `lm-text/*.train.txt`, tokenised as the wordlm models read the
  text (`keras` tokenizer: lower case, punctuation filtered), so the mixture's words are the same.
One JSON line per model (path, order, n-gram counts, seconds).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PLACEHOLDER = "UNKTOKEN"


def lmplz(binary: str, order: int, text: Path, arpa: Path) -> dict:
    t = time.time()
    subprocess.run([binary, "-o", str(order), "-S", "1G", "-T", "/tmp", "--text", str(text), "--arpa", str(arpa)],
                   check=True, stderr=subprocess.DEVNULL)
    counts = [int(m.group(1)) for m in re.finditer(r"ngram \d+=(\d+)", arpa.read_text()[:2000])]
    return {"arpa": str(arpa), "order": order, "counts": counts, "seconds": round(time.time() - t, 1)}


def rename_unk(arpa: Path) -> None:
    """Drop the ARPA's own `<unk>` unigram and rename the trained placeholder word to `<unk>`."""
    lines = arpa.read_text().splitlines()
    out = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1] == "<unk>":
            continue
        if line.startswith("ngram 1="):
            line = f"ngram 1={int(line.split('=')[1]) - 1}"
        if PLACEHOLDER in line:
            words = parts[1].split(" ")
            parts[1] = " ".join("<unk>" if w == PLACEHOLDER else w for w in words)
            line = "\t".join(parts)
        out.append(line)
    arpa.write_text("\n".join(out) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lmplz", default=str(ROOT / "runs" / "kenlm" / "build" / "bin" / "lmplz"))
    p.add_argument("--out", default=str(ROOT / "runs" / "ngram"))
    p.add_argument("--only", choices=["ptb", "atis", "librispeech"], default=None)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "ptb"):
        text = out / "ptb.train.unktoken.txt"
        with gzip.open(DATA / "ptb" / "ptb.train.txt.gz", "rt") as f:
            text.write_text("".join(" ".join(PLACEHOLDER if w == "<unk>" else w for w in line.split()) + "\n" for line in f))
        info = lmplz(args.lmplz, 5, text, out / "ptb.kn5.arpa")
        rename_unk(out / "ptb.kn5.arpa")
        print(json.dumps({"model": "ptb 5-gram", **info}), flush=True)
    from wordlm.text import Tokenizer

    tok = Tokenizer("keras")
    for name in ("atis", "librispeech"):
        if args.only not in (None, name):
            continue
        text = out / f"{name}.train.tok.txt"
        lines = (DATA / "lm-text" / f"{name}.train.txt").read_text().splitlines()
        text.write_text("".join(" ".join(tok.tokenize(line)) + "\n" for line in lines))
        print(json.dumps({"model": f"{name} 4-gram", **lmplz(args.lmplz, 4, text, out / f"{name}.kn4.arpa")}), flush=True)


if __name__ == "__main__":
    main()
