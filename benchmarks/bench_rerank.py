"""N-best reranking benchmarks: speed of exact LM scoring, and WER on real recogniser output.

    python benchmarks/bench_rerank.py speed [--utterances N]
        Reranking LibriSpeech test_other (2,939 utterances, 88,170 hypotheses) with a 2x200 LSTM
        over a 10k vocabulary (random weights: speed does not depend on them): the trie scorer of
        `wordlm.rerank` against a plain batched forward pass (`lm.stream_logprobs`) over the same
        hypotheses, in the same process, and their largest difference. Also the FLOP rate a plain
        matmul reaches here. One JSON line per configuration.

    python benchmarks/bench_rerank.py wer --model DIR --tune NBEST --test NBEST... [--am ...] [grid]
        Tune α, β on the tune file only, then report WER on each test file (one JSON line each).

Data: ../shared/data relative to the repository root (see its README for the protocol).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def speed(args) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from wordlm import rerank as rr
    from wordlm.model import ModelSize
    from wordlm.nbest import read_nbest
    from wordlm.training import TrainConfig, new_language_model, read_tokenized
    from wordlm.text import Tokenizer

    load0 = round(os.getloadavg()[0], 2)
    keras.utils.set_random_seed(0)
    corpus = read_tokenized([str(DATA / "lm-text" / "librispeech.train.txt")], Tokenizer("keras"))
    config = TrainConfig(max_vocab=10000, size=ModelSize(200, 200, 2, 0.0))
    lm = new_language_model(corpus, config)
    path = DATA / "nbest" / "librispeech" / "test_other.30best.jsonl.gz"
    t0 = time.perf_counter()
    utts = list(read_nbest(path))[: args.utterances]
    read_s = time.perf_counter() - t0
    texts = [h.text for u in utts for h in u.hyps]
    streams = [lm.stream(t) for t in texts]
    tokens = sum(len(s) - 1 for s in streams)
    words = sum(len(t.split()) for t in texts)
    common = {"utterances": len(utts), "hypotheses": len(texts), "words": words, "predicted_tokens": tokens,
              "vocab": lm.vocab_size, "model": "2x200 LSTM, embedding 200", "flops_per_token": lm.flops_per_token,
              "threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()}

    # matmul FLOP rate in this process: [256, 200] x [200, V] (the softmax layer's shape)
    a = tf.random.normal([256, 200])
    b = tf.random.normal([200, lm.vocab_size])
    mm = tf.function(lambda a, b: tf.matmul(a, b))
    mm(a, b)
    t = time.perf_counter()
    reps = 20
    for _ in range(reps):
        mm(a, b).numpy()
    matmul_gflops = 2 * 256 * 200 * lm.vocab_size * reps / (time.perf_counter() - t) / 1e9

    # 1. the full command path: score_nbest (trie scorer, cached, WER of every hypothesis) + report
    lm.reset_compiled()
    rr.sentence_logprobs(lm, streams[:10])  # compile outside the timing
    t, c = time.perf_counter(), time.process_time()
    cache = rr.LMCache(lm)
    report = rr.Report(1.0, 0.0)
    for s in rr.score_nbest(lm, utts, {"score": 1.0}, cache=cache):
        report.add(s)
    rerank_s, rerank_cpu = time.perf_counter() - t, time.process_time() - c
    trie_scores = np.array([cache.scores[x] for x in texts])

    # 2. LM scoring alone, trie
    t, c = time.perf_counter(), time.process_time()
    trie_only = rr.sentence_logprobs(lm, streams)
    trie_s, trie_cpu = time.perf_counter() - t, time.process_time() - c
    nodes = _trie_nodes(streams)

    # 3. plain batched forward pass over every hypothesis
    if args.no_plain:
        plain, plain_s, plain_cpu = trie_only, float("nan"), float("nan")
    else:
        lm.stream_logprobs(streams[:10])
        t, c = time.perf_counter(), time.process_time()
        plain = np.array([x.sum() for x in lm.stream_logprobs(streams, batch_size=args.batch_size)])
        plain_s, plain_cpu = time.perf_counter() - t, time.process_time() - c

    # 4. the command itself, end to end (start-up, model load, compile, read, score, WER, write)
    import subprocess
    import tempfile

    from wordlm.saving import save

    with tempfile.TemporaryDirectory() as tmp:
        save(lm, Path(tmp) / "model")
        cmd = [sys.executable, "-m", "wordlm", "rerank", str(Path(tmp) / "model"), str(path), "-o", str(Path(tmp) / "out.txt")]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        command_s = time.perf_counter() - t
        out_lines = len((Path(tmp) / "out.txt").read_text().splitlines()) if proc.returncode == 0 else 0
    if args.utterances is None:
        print(json.dumps({**common, "config": "wordlm rerank MODEL test_other.30best.jsonl.gz -o OUT (subprocess)",
                          "seconds": round(command_s, 2), "exit": proc.returncode, "lines_out": out_lines,
                          "stderr_tail": proc.stderr.strip().splitlines()[-3:]}), flush=True)

    diff = None if args.no_plain else float(np.max(np.abs(plain - trie_scores)))
    flop = lm.flops_per_token
    print(json.dumps({**common, "load_average_1min_at_start": load0, "config": "rerank (read + trie LM scores + WER of all hypotheses + report)",
                      "seconds": round(rerank_s + read_s, 2), "read_s": round(read_s, 2), "score_and_wer_s": round(rerank_s, 2),
                      "cpu_s": round(rerank_cpu, 1),
                      "wer_after": report.to_json()["reranked"]["wer"]}), flush=True)
    print(json.dumps({**common, "config": "LM scores, prefix trie", "seconds": round(trie_s, 2), "cpu_s": round(trie_cpu, 1),
                      "trie_nodes_stepped": nodes,
                      "gflops": round(nodes * flop / trie_s / 1e9, 1), "max_abs_diff_vs_plain": diff,
                      "max_abs_diff_trie_runs": float(np.max(np.abs(trie_only - trie_scores)))}), flush=True)
    if not args.no_plain:
        print(json.dumps({**common, "config": f"LM scores, plain batched forward pass (batch {args.batch_size})",
                          "seconds": round(plain_s, 2), "cpu_s": round(plain_cpu, 1),
                          "gflops": round(tokens * flop / plain_s / 1e9, 1), "speedup_of_trie": round(plain_s / trie_s, 2)}),
              flush=True)
    print(json.dumps({"config": "matmul [256,200]x[200,V] float32", "gflops": round(matmul_gflops, 1),
                      "load_average_1min": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}), flush=True)


def _trie_nodes(streams) -> int:
    """Distinct prefixes that have a next token (the rows the trie scorer steps)."""
    seen = set()
    for s in streams:
        for t in range(1, len(s)):
            seen.add(tuple(s[:t]))
    return len(seen)


def wer(args) -> None:
    """Tune on the tune file, report the test files. With --second, a second LM B joins as a first-pass
    field: first_pass' = first_pass + w·LM_B (w from --second-weights, chosen on the tune file with α, β:
    for each w the best (α, β), then the w with the fewest errors, ties to the smaller w). The same as
    `wordlm rerank B --all --json --lm-weight 0` (which adds the field "wordlm") followed by
    `wordlm tune A ... --am score=1,wordlm=w`."""
    from dataclasses import replace

    from wordlm import rerank as rr
    from wordlm.nbest import read_nbest
    from wordlm.saving import load

    lm = load(args.model)
    cache = rr.LMCache(lm)  # LM scores shared by every --am setting
    second = rr.LMCache(load(args.second)) if args.second else None
    second_ws = rr.parse_range(args.second_weights, "--second-weights") if second else [0.0]

    def scored(path, am):
        for s in rr.score_nbest(lm, read_nbest(path, required=am), am, cache=cache):
            yield s if second is None else (s, second([h.text for h in s.utt.hyps]))

    def with_weight(item, w):
        if second is None:
            return item
        s, lm_b = item
        return replace(s, first_pass=s.first_pass + w * lm_b)

    for am_spec in args.am or [None]:
        am = rr.parse_am(am_spec)
        t = time.perf_counter()
        tune_items = list(scored(args.tune, am))
        best = None
        for w in second_ws:
            result = rr.tune([with_weight(x, w) for x in tune_items], rr.parse_range(args.lm_weights, "--lm-weights"),
                             rr.parse_range(args.word_bonuses, "--word-bonuses"))
            if best is None or result.tuned.errors < best[1].tuned.errors:
                best = (float(w), result)
        w, result = best
        tune_s = time.perf_counter() - t
        base = {"model": args.model, "framing": lm.framing.name, "vocab": lm.vocab.num_words,
                "valid_ppl": lm.info.get("best_valid_ppl"), "am": rr.format_am(am), "lm_weight": result.lm_weight,
                "word_bonus": result.word_bonus, "grid": f"{args.lm_weights} x {args.word_bonuses}"}
        if second is not None:
            base.update(second=args.second, second_weight=w, second_grid=args.second_weights)
        r = result.to_json()
        plain_first = rr.Report(0.0, 0.0)  # the recogniser's own choice (without the second LM)
        for x in tune_items:
            plain_first.add(with_weight(x, 0.0))
        r["first_pass_wer"] = plain_first.to_json()["first_pass"]["wer"]
        print(json.dumps({**base, "split": str(args.tune), "role": "tune", "first_pass_wer": r["first_pass_wer"],
                          "reranked_wer": r["wer"], "oracle_wer": r["oracle_wer"], "seconds": round(tune_s, 1)}), flush=True)
        for path in args.test:
            t = time.perf_counter()
            report = rr.Report(result.lm_weight, result.word_bonus)
            first = rr.Report(0.0, 0.0)
            for item in scored(path, am):
                report.add(with_weight(item, w))
                first.add(with_weight(item, 0.0))
            r = report.to_json()
            print(json.dumps({**base, "split": str(path), "role": "test", "first_pass_wer": first.to_json()["first_pass"]["wer"],
                              "reranked_wer": r["reranked"]["wer"], "oracle_wer": r["oracle"]["wer"],
                              "sub_del_ins": [r["reranked"][k] for k in ("substitutions", "deletions", "insertions")],
                              "changed": r["changed"], "improved": r["improved"], "worsened": r["worsened"],
                              "seconds": round(time.perf_counter() - t, 1)}), flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--utterances", type=int, default=None)
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--no-plain", action="store_true", help="skip the (slow) plain forward pass")
    w = sub.add_parser("wer")
    w.add_argument("--model", required=True)
    w.add_argument("--tune", required=True)
    w.add_argument("--test", nargs="+", required=True)
    w.add_argument("--am", action="append", help="first-pass combination; repeat for several settings")
    w.add_argument("--lm-weights", default="0:2:0.05")
    w.add_argument("--word-bonuses", default="-2:2:0.25")
    w.add_argument("--second", default=None, help="a second model (e.g. a backward one) added as a first-pass field")
    w.add_argument("--second-weights", default="0:1:0.1")
    args = p.parse_args(argv)
    {"speed": speed, "wer": wer}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
