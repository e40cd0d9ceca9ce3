"""Penn Treebank benchmark: perplexity, speed and FLOP-rate share of a sequence model; framing comparison.

Data: ../shared/data/ptb/ (Mikolov's preprocessing; `<unk>` already in the text), vocabulary of the
training text, whitespace tokenizer. Perplexity is the scorer's `ppl`: exp of the mean negative
natural-log probability over every predicted token, `</s>` counted (the published convention), via
`training.perplexity`. Choices are made on ptb.valid.txt only; ptb.test.txt is reported.

Throughput: tokens/s = predicted tokens (words + `</s>`) trained per second of training steps
(validation excluded); training FLOPs = 3 × forward (`lm.flops_per_token`: LSTM gates and softmax);
the share is that FLOP rate over the rate of a 2048×2048 fp32 matmul measured in the same process,
before training, after every epoch and after training (median), so both see the same contention.

    python benchmarks/bench_ptb.py                       # the main run: 1x256, dropout 0.2, 60-minute budget
    python benchmarks/bench_ptb.py --framings --time-limit 240 --layers 1 --units 128 --embedding-dim 128 --dropout 0 \
        --batch-size 24 --fixed-batch-size 512 --no-jit   # word, window 2/4, line, sequence: equal size and time
    python benchmarks/bench_ptb.py --time-limit 120 ...  # a short throughput check

One JSON line per configuration on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ptb"


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    import numpy as np
    import tensorflow as tf

    a = tf.random.normal([n, n])
    f = tf.function(lambda a: tf.matmul(a, a))
    f(a).numpy()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f(a).numpy()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / float(np.median(times)) / 1e9


def run(args, framing: str, context: int, time_limit: float, out_dir: Path | None) -> dict:
    import tensorflow as tf

    from wordlm.model import ModelSize
    from wordlm.training import TrainConfig, perplexity, read_tokenized, train

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    rates = [matmul_gflops()]
    print(f"[{framing}] matmul {rates[0]:.1f} GFLOP/s before training", file=sys.stderr, flush=True)

    def measure(lm, epoch, logs):
        rates.append(matmul_gflops())
        print(f"[{framing}] epoch {epoch}: matmul {rates[-1]:.1f} GFLOP/s, "
              f"valid ppl {logs.get('valid_ppl', float('nan')):.2f}", file=sys.stderr, flush=True)

    recurrent = framing in ("sequence", "char")
    batch_size = args.batch_size if recurrent else args.fixed_batch_size
    config = TrainConfig(
        framing=framing, context=context, tokenizer="whitespace", lower=False,
        size=ModelSize(args.embedding_dim, args.units, args.layers, args.dropout),
        epochs=args.epochs, batch_size=batch_size, learning_rate=args.learning_rate, seed=args.seed,
        time_limit=time_limit, lr_schedule=args.lr_schedule, clipnorm=args.clipnorm, jit_compile=args.jit,
        patience=args.patience, lr_decay=args.lr_decay, context_tokens=args.context_tokens if recurrent else 0,
        sampled_softmax=args.sampled_softmax if recurrent else 0, tie_embeddings=args.tie_embeddings and recurrent,
        ema=args.ema,
    )
    started = time.time()
    lm = train([str(DATA / "ptb.train.txt.gz")], config, valid=[str(DATA / "ptb.valid.txt")],
               verbose=args.verbose, on_epoch_end=measure, output=out_dir)
    wall = time.time() - started
    rates.append(matmul_gflops())
    test = read_tokenized([str(DATA / "ptb.test.txt")], lm.tokenizer)
    t = time.time()
    test_streams = [lm.framing.line(lm.vocab.encode(words)) for words in test.lines]
    context_tokens = config.context_tokens
    test_ppl = perplexity(lm, test_streams, context_tokens=context_tokens)
    test_seconds = time.time() - t
    # The same model with every line read alone (the scorer's default), for comparison.
    test_ppl_alone = perplexity(lm, test_streams) if context_tokens else test_ppl
    info = lm.info
    tokens_per_step = info["predicted_tokens"] / info["batches_per_epoch"]
    tokens_per_s = info["steps"] * tokens_per_step / info["fit_seconds"]
    words_per_s = tokens_per_s * info["corpus"]["tokens"] / info["predicted_tokens"]
    train_gflops = tokens_per_s * 3 * lm.flops_per_token / 1e9
    matmul = statistics.median(rates)
    return {
        "benchmark": "ptb", "framing": framing + (f" {context}" if framing == "window" else ""),
        "size": lm.size.to_config(), "parameters": lm.num_parameters, "vocab": len(lm.vocab),
        "batch_size": batch_size, "learning_rate": args.learning_rate, "lr_schedule": args.lr_schedule,
        "jit": args.jit, "epochs_run": info["epochs_run"], "best_epoch": info["best_epoch"],
        "context_tokens": context_tokens, "sampled_softmax": config.sampled_softmax,
        "tie_embeddings": config.tie_embeddings, "ema": config.ema,
        "full_softmax_from_step": info["runs"][-1].get("full_softmax_from_step"), "steps": info["steps"],
        "valid_ppl": round(info["best_valid_ppl"], 2), "test_ppl": round(test_ppl, 2),
        "test_ppl_lines_alone": round(test_ppl_alone, 2),
        "valid_ppl_per_epoch": info["valid_ppl"],
        "time_limit_s": time_limit, "wall_s": round(wall, 1), "fit_s": info["fit_seconds"],
        "tokens_per_s": round(tokens_per_s), "words_per_s": round(words_per_s),
        "flops_per_token_fwd": lm.flops_per_token, "train_gflops": round(train_gflops, 1),
        "matmul_gflops_median": round(matmul, 1), "matmul_gflops_all": [round(r, 1) for r in rates],
        # (with a sampled softmax the step does fewer FLOPs than counted: no share is given)
        "flop_share": None if config.sampled_softmax else round(train_gflops / matmul, 3), "test_eval_s": round(test_seconds, 1),
        "load_avg_1m_end": os.getloadavg()[0], "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "tensorflow": tf.__version__, "date": time.strftime("%Y-%m-%d"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--framings", action="store_true", help="framing comparison at equal size and time budget")
    p.add_argument("--framing", default="sequence")
    p.add_argument("--context", type=int, default=2)
    p.add_argument("--embedding-dim", type=int, default=256)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=32, help="rows per batch (sequence framing)")
    p.add_argument("--sampled-softmax", type=int, default=0, help="sampled softmax classes (full for the last quarter)")
    p.add_argument("--tie-embeddings", action="store_true", help="the embedding matrix as the output layer")
    p.add_argument("--ema", type=float, default=0.0, help="validate and keep a moving average of the weights")
    p.add_argument("--context-tokens", type=int, default=0,
                   help="running text: train on runs of consecutive lines of up to N tokens, score lines in context")
    p.add_argument("--fixed-batch-size", type=int, default=512,
                   help="examples per batch for word/window/line (one predicted token each; 512 is about the "
                        "tokens of 24 PTB lines)")
    p.add_argument("--learning-rate", type=float, default=0.002)
    p.add_argument("--lr-schedule", default="cosine")
    p.add_argument("--lr-decay", type=float, default=None)
    p.add_argument("--clipnorm", type=float, default=5.0)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--time-limit", type=float, default=3600.0, help="seconds of training per configuration")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--save", default=None, help="model directory for the main run (checkpoints each epoch)")
    p.add_argument("--verbose", type=int, default=0)
    args = p.parse_args()
    if not (DATA / "ptb.train.txt.gz").is_file():
        sys.exit(f"{DATA}: PTB data not found")
    if args.framings:
        for framing, context in (("word", 1), ("window", 2), ("window", 4), ("line", 1), ("sequence", 1)):
            print(json.dumps(run(args, framing, context, args.time_limit, None)), flush=True)
    else:
        out = Path(args.save) if args.save else None
        print(json.dumps(run(args, args.framing, args.context, args.time_limit, out)), flush=True)


if __name__ == "__main__":
    main()
