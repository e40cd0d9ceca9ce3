"""SavedModel export benchmark: the served graph against the library, side by side in one process.

    python benchmarks/bench_export.py [--framings sequence,window,line] [--utterances N] [--repeats R]
                                      [--model DIR]

For each framing: a 2x200 LSTM (embedding 200) over the 10k most frequent words of the LibriSpeech
LM text (random weights: speed and exactness do not depend on them; `--model DIR` uses a trained
model instead) is exported with `wordlm.export.export`, loaded back with `tf.saved_model.load`,
and both score the hypotheses of the first N utterances of LibriSpeech test_other 30-best:

- `library_s`: `lm.stream_logprobs` (the scorer's path: tokenize in Python, length-sorted batches
  of 64, one compiled forward pass each), sums per sentence;
- `served_s`: the `score` signature on raw strings in batches of 64 in file order (what a client
  sends; tokenizer, vocabulary lookup and network all in the graph);
- `max_abs_diff`: largest |logprob difference| between the two (natural log);
- `next_ms_*`: one prompt per call, `next_words` (top 10) against `lm.next_logprobs` + top 10.
Times are medians of `--repeats` runs. One JSON line per framing.
Data: ../shared/data relative to the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build(framing: str, model_dir: str | None):
    import keras

    from wordlm.model import ModelSize
    from wordlm.saving import load
    from wordlm.text import Tokenizer
    from wordlm.training import TrainConfig, new_language_model, read_tokenized

    if model_dir:
        return load(model_dir)
    keras.utils.set_random_seed(0)
    corpus = read_tokenized([str(DATA / "lm-text" / "librispeech.train.txt")], Tokenizer("keras"))
    return new_language_model(corpus, TrainConfig(framing=framing, context=3, max_vocab=10000,
                                                  size=ModelSize(200, 200, 2, 0.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framings", default="sequence,window,line")
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="A trained model directory (its own framing).")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench_export"))
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from wordlm.export import export
    from wordlm.nbest import read_nbest

    utts = list(read_nbest(DATA / "nbest" / "librispeech" / "test_other.30best.jsonl.gz"))[: args.utterances]
    texts = [h.text for u in utts for h in u.hyps]
    prompts = [" ".join(t.split()[: max(1, len(t.split()) // 2)]) for t in texts[:: max(1, len(texts) // 50)]][:50]
    framings = ["model"] if args.model else args.framings.split(",")
    for framing in framings:
        lm = build(framing, args.model)
        out = Path(args.out) / lm.framing.name / "1"
        t0 = time.perf_counter()
        export(lm, out, top=10, overwrite=True)
        export_s = time.perf_counter() - t0
        served = tf.saved_model.load(str(out))
        score, nxt = served.signatures["score"], served.signatures["next_words"]

        def library():
            streams = [lm.stream(t) for t in texts]
            return np.array([float(np.sum(s)) for s in lm.stream_logprobs(streams, batch_size=64)])

        def serve():
            parts = [score(sentences=tf.constant(texts[lo : lo + 64]))["logprob"].numpy() for lo in range(0, len(texts), 64)]
            return np.concatenate(parts)

        diff = float(np.max(np.abs(library() - serve())))  # also warms both up (tracing)
        library_s, served_s = median_time(library, args.repeats), median_time(serve, args.repeats)

        def next_library():
            for p in prompts:
                lp = lm.next_logprobs([lm.history(p)])[0]
                np.argsort(-lp, kind="stable")[:10]

        def next_served():
            for p in prompts:
                nxt(prompt=tf.constant([p]))["words"].numpy()

        next_library(), next_served()
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        print(json.dumps({
            "framing": lm.framing.name, "model": f"{lm.size.layers}x{lm.size.units} LSTM, embedding {lm.size.embedding_dim}",
            "vocab": lm.vocab_size, "sentences": len(texts), "words": sum(len(lm.tokens(t)) for t in texts),
            "library_s": round(library_s, 3), "served_s": round(served_s, 3), "served_over_library": round(served_s / library_s, 2),
            "max_abs_diff": diff,
            "next_ms_library": round(1000 * median_time(next_library, args.repeats) / len(prompts), 2),
            "next_ms_served": round(1000 * median_time(next_served, args.repeats) / len(prompts), 2),
            "export_s": round(export_s, 1), "savedmodel_mb": round(size / 2**20, 1),
            "threads": os.cpu_count(), "tensorflow": tf.__version__,
        }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
