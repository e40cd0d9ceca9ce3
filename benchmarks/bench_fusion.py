"""Shallow fusion benchmark: pyctcdecode with no LM, KenLM (its own LanguageModel), wordlm, and a
wordlm/KenLM mixture inside the beam search, on SIMULATED CTC emissions (not a recogniser's).

    python benchmarks/bench_fusion.py wer --corpus atis --model runs/fusion/atis_lstm \
        --arpa runs/fusion/atis.4gram.arpa [--tune-n 100 --test-n 300 --beam 32 --seed 0]
    python benchmarks/bench_fusion.py memory --corpus atis --model runs/fusion/atis_lstm --n 1000

Emissions: `wordlm.fusion.simulate.emissions` (its docstring is the noise model: 1-3 frames a
character, blanks, confusable-letter substitutions 10 %, dropped spaces 10 %, 30 % flat frames),
one seeded generator per utterance (`[seed, split, i]`), from the REFERENCE texts:
- atis: tune = the 491 ATIS dev references (`nbest/atis/dev.json`, first `--tune-n`), report = the
  ATIS test references (`test.json`, first `--test-n`); LM text `lm-text/atis.train.txt`;
- librispeech: tune = `nbest/librispeech/tune` references, report = `test_other` references, upper-case
  labels; LM text `lm-text/librispeech.train.txt`.
α, β (and nothing else) are tuned per system on the tune part (grid `--alphas` × `--betas`, beam
`--tune-beam`); the report part is decoded once per system with the chosen values, the systems in
turns per utterance (side by side, same load). Printed: one JSON line per system: WER, median and
mean seconds per utterance, wordlm model calls per frame, rows per call, cache hits; and one line
with the perplexities of both LMs on the tune references. `memory`: RSS every 100 utterances while
decoding `--n` utterances with wordlm fusion.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
if not os.path.isdir(DATA):
    DATA = "/work/shared/data"


def refs(corpus: str, split: str) -> list[str]:
    if corpus == "atis":
        with open(os.path.join(DATA, "nbest", "atis", f"{'dev' if split == 'tune' else 'test'}.json")) as f:
            return [" ".join(u["output"].split()) for u in json.load(f)]
    name = "tune" if split == "tune" else "test_other"
    with gzip.open(os.path.join(DATA, "nbest", "librispeech", f"{name}.30best.jsonl.gz"), "rt") as f:
        return [" ".join(json.loads(line)["ref"].split()) for line in f]


def labels_for(corpus: str) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["", " ", *(letters.upper() if corpus == "librispeech" else letters), "'"]


def simulate(texts, labels, seed: int, split: int):
    from wordlm.fusion.simulate import emissions

    return [emissions(t, labels, np.random.default_rng([seed, split, i])) for i, t in enumerate(texts)]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build_systems(args, labels):
    """name -> (decoder, fusion or None, supports reset_params)."""
    import pyctcdecode

    import wordlm
    from wordlm.fusion.pyctc import build_ctcdecoder

    lm = wordlm.load(args.model)
    systems = {"no LM": (pyctcdecode.build_ctcdecoder(labels), None)}
    if args.arpa:
        import logging

        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
        binary = args.kenlm_binary or args.arpa
        unigrams = pyctcdecode.language_model.load_unigram_set_from_arpa(args.arpa)
        if labels[2].isupper():
            unigrams = {u.upper() for u in unigrams}
        systems["KenLM 4-gram"] = (pyctcdecode.build_ctcdecoder(labels, binary, unigrams=unigrams), None)
    for name, kw in [("wordlm", {}), ("wordlm+lookahead", {"lookahead": True})][: 2 if args.lookahead else 1]:
        d = build_ctcdecoder(labels, lm, cache_mb=args.cache_mb, **kw)
        systems[name] = (d, d.fusion)
    if args.arpa and args.mix_weight > 0:
        d = build_ctcdecoder(labels, lm, kenlm_model_path=args.arpa, kenlm_weight=args.mix_weight, cache_mb=args.cache_mb)
        systems[f"wordlm/KenLM mixture {1 - args.mix_weight:g}/{args.mix_weight:g}"] = (d, d.fusion)
    return lm, systems


def decode_all(decoder, xs, beam):
    return [decoder.decode(x, beam_width=beam) for x in xs]


def corpus_wer(references, hypotheses) -> float:
    from wordlm.wer import count_errors, total

    return 100 * total(count_errors(references, hypotheses)).wer


def wer_run(args) -> None:
    import wordlm

    labels = labels_for(args.corpus)
    tune_refs = refs(args.corpus, "tune")[: args.tune_n]
    test_refs = refs(args.corpus, "test")[: args.test_n]
    tune_x, test_x = simulate(tune_refs, labels, args.seed, 0), simulate(test_refs, labels, args.seed, 1)
    lm, systems = build_systems(args, labels)
    all_tune = refs(args.corpus, "tune")
    ppl = {"wordlm": lm.perplexity(all_tune).ppl}
    if args.arpa:
        from wordlm.mixture import build

        ppl["KenLM 4-gram"] = build([args.arpa]).perplexity(all_tune).ppl
    print(json.dumps({"corpus": args.corpus, "ppl_on_tune_references": {k: round(v, 3) for k, v in ppl.items()},
                      "tune_utterances": len(tune_refs), "test_utterances": len(test_refs),
                      "frames_per_utterance": round(float(np.mean([len(x) for x in test_x])), 1),
                      "emissions": "simulated (wordlm.fusion.simulate), not a recogniser's"}), flush=True)
    # 1. tune alpha, beta per system on the tune part only
    chosen = {}
    for name, (decoder, _) in systems.items():
        if name == "no LM":
            chosen[name] = (None, None, corpus_wer(tune_refs, decode_all(decoder, tune_x, args.tune_beam)))
            continue
        best = None
        for a in args.alphas:
            for b in args.betas:
                decoder.reset_params(alpha=float(a), beta=float(b))
                w = corpus_wer(tune_refs, decode_all(decoder, tune_x, args.tune_beam))
                if best is None or w < best[2] - 1e-9:
                    best = (a, b, w)
        chosen[name] = best
        decoder.reset_params(alpha=float(best[0]), beta=float(best[1]))
        print(json.dumps({"tuned": name, "alpha": best[0], "beta": best[1], "tune_wer": round(best[2], 3)}), flush=True)
    # 2. the report part, systems in turns per utterance
    hyps = {n: [] for n in systems}
    times = {n: [] for n in systems}
    for _, fusion in systems.values():
        if fusion is not None:
            fusion.clear()
    frames = 0
    for x in test_x:
        frames += len(x)
        for name, (decoder, _) in systems.items():
            t0 = time.perf_counter()
            hyps[name].append(decoder.decode(x, beam_width=args.beam))
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["KenLM 4-gram"]) if "KenLM 4-gram" in times else None
    for name, (decoder, fusion) in systems.items():
        a, b, tune_w = chosen[name]
        out = {"system": name, "alpha": a, "beta": b, "tune_wer": round(tune_w, 3),
               "test_wer": round(corpus_wer(test_refs, hyps[name]), 3), "beam": args.beam,
               "median_s_per_utt": round(statistics.median(times[name]), 4),
               "mean_s_per_utt": round(statistics.mean(times[name]), 4)}
        if base:
            out["time_vs_kenlm"] = round(statistics.median(times[name]) / base, 3)
        if fusion is not None:
            out.update(model_calls_per_frame=round(fusion.calls / frames, 4), rows_per_call=round(fusion.rows / max(1, fusion.calls), 2),
                       cache_hits=fusion.hits, cached_states=fusion.cached)
        print(json.dumps(out), flush=True)
    if args.nbest_out:
        from wordlm.fusion.nbest import pyctcdecode_record, write_jsonl

        decoder = systems["wordlm"][0]
        write_jsonl((pyctcdecode_record(f"{args.corpus}-test-{i}", decoder.decode_beams(x, beam_width=args.beam), r)
                     for i, (x, r) in enumerate(zip(test_x, test_refs))), args.nbest_out)
        print(json.dumps({"nbest": args.nbest_out, "utterances": len(test_refs)}), flush=True)
    del wordlm


def memory_run(args) -> None:
    import wordlm
    from wordlm.fusion.pyctc import build_ctcdecoder

    labels = labels_for(args.corpus)
    texts = refs(args.corpus, "test") + refs(args.corpus, "tune")
    texts = (texts * (1 + args.n // len(texts)))[: args.n]
    lm = wordlm.load(args.model)
    decoder = build_ctcdecoder(labels, lm, alpha=args.alphas[0], beta=args.betas[0], cache_mb=args.cache_mb)
    fusion = decoder.fusion
    from wordlm.fusion.simulate import emissions

    start = time.perf_counter()
    for i, t in enumerate(texts, 1):
        decoder.decode(emissions(t, labels, np.random.default_rng([args.seed, 2, i])), beam_width=args.beam)
        if i % 100 == 0 or i == 1:
            print(json.dumps({"utterances": i, "rss_mb": round(rss_mb(), 1), "cached_states": fusion.cached,
                              "cache_cap_states": fusion.max_entries, "model_calls": fusion.calls,
                              "seconds": round(time.perf_counter() - start, 1)}), flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["wer", "memory"])
    p.add_argument("--corpus", choices=["atis", "librispeech"], default="atis")
    p.add_argument("--model", required=True)
    p.add_argument("--arpa")
    p.add_argument("--kenlm-binary", help="KenLM binary of --arpa for pyctcdecode's own LM (faster loading)")
    p.add_argument("--mix-weight", type=float, default=0.5, help="the n-gram's weight in the mixture (0: no mixture)")
    p.add_argument("--tune-n", type=int, default=100)
    p.add_argument("--test-n", type=int, default=300)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--beam", type=int, default=32)
    p.add_argument("--tune-beam", type=int, default=16)
    p.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.6, 1.0])
    p.add_argument("--betas", type=float, nargs="+", default=[0.0, 1.5, 3.0])
    p.add_argument("--cache-mb", type=float, default=64.0)
    p.add_argument("--lookahead", action="store_true", help="also wordlm with the LM's prefix look-ahead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nbest-out", help="write the wordlm system's test beams as a jsonl n-best list")
    args = p.parse_args(argv)
    (wer_run if args.mode == "wer" else memory_run)(args)


if __name__ == "__main__":
    sys.exit(main())
