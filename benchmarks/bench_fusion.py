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
α, β (and nothing else) are tuned per system on the tune part (coordinate descent on the grid
`--alphas` × `--betas`, beam `--tune-beam`; a choice on the grid's edge is flagged); the report part is decoded once per system with the chosen values, the systems in
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


def tune(decoder, references, xs, args):
    """(alpha, beta, tune WER, points decoded): coordinate descent on the grid `--alphas` x `--betas`
    (beta for the current alpha, then alpha for that beta, until neither moves), from the middle."""
    seen = {}

    def wer_at(a, b):
        if (a, b) not in seen:
            decoder.reset_params(alpha=float(a), beta=float(b))
            seen[a, b] = corpus_wer(references, decode_all(decoder, xs, args.tune_beam))
        return seen[a, b]

    a, b = args.alphas[len(args.alphas) // 2], args.betas[len(args.betas) // 2]
    while True:
        b2 = min(args.betas, key=lambda v: (wer_at(a, v), abs(v - b)))
        a2 = min(args.alphas, key=lambda v: (wer_at(v, b2), abs(v - a)))
        if (a2, b2) == (a, b):
            return a, b, seen[a, b], len(seen)
        a, b = a2, b2


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
    lm, systems = (build_flashlight_systems if args.decoder == "flashlight" else build_systems)(args, labels)
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
        if name.endswith("no LM"):
            chosen[name] = (None, None, corpus_wer(tune_refs, decode_all(decoder, tune_x, args.tune_beam)))
            continue
        best = tune(decoder, tune_refs, tune_x, args)
        chosen[name] = best
        decoder.reset_params(alpha=float(best[0]), beta=float(best[1]))
        edge = best[0] in (args.alphas[0], args.alphas[-1]) or best[1] in (args.betas[0], args.betas[-1])
        print(json.dumps({"tuned": name, "alpha": best[0], "beta": best[1], "tune_wer": round(best[2], 3),
                          "grid_points_decoded": best[3], "on_grid_edge": edge}), flush=True)
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
    kenlm_name = next((n for n in times if n.endswith("KenLM 4-gram")), None)
    base = statistics.median(times[kenlm_name]) if kenlm_name else None
    for name, (decoder, fusion) in systems.items():
        a, b, tune_w = chosen[name][:3]
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
    if args.nbest_out and "wordlm" in systems:
        from wordlm.fusion.nbest import pyctcdecode_record, write_jsonl

        decoder = systems["wordlm"][0]
        write_jsonl((pyctcdecode_record(f"{args.corpus}-test-{i}", decoder.decode_beams(x, beam_width=args.beam), r)
                     for i, (x, r) in enumerate(zip(test_x, test_refs))), args.nbest_out)
        print(json.dumps({"nbest": args.nbest_out, "utterances": len(test_refs)}), flush=True)
    del wordlm


class FlashlightSystem:
    """flashlight-text's lexicon decoder (what torchaudio's ctc_decoder runs) with an LM, behind the
    `decode`/`reset_params` the pyctcdecode systems offer; the lexicon is the wordlm model's vocabulary
    for every LM (so the systems differ only in the LM). flashlight completes a word on its "|": one
    separator frame is appended to each utterance's emissions."""

    def __init__(self, lm, labels, flm, words):
        from flashlight.lib.text.decoder import CriterionType, LexiconDecoder, LexiconDecoderOptions

        from wordlm.fusion.flashlight import build_trie

        self.tokens = ["-", "|", *labels[2:]]
        if hasattr(flm, "fusion"):
            self.trie = build_trie(flm.fusion, self.tokens)
        else:  # smeared with the LM's own ln/log10 p(w | <s>), as flashlight's recipes do
            from flashlight.lib.text.decoder import SmearingMode, Trie

            from wordlm.fusion.flashlight import spelling

            index = {t: i for i, t in enumerate(self.tokens)}
            self.trie = Trie(len(self.tokens), 1)
            start = flm.start(False)
            for i, w in enumerate(lm.words):
                spelled = None if i in (lm.eos_id, lm.unk_id) or w.startswith("<") else spelling(w, self.tokens)
                if spelled:
                    self.trie.insert([index[t] for t in spelled], i, float(flm.score(start, i)[1]))
            self.trie.smear(SmearingMode.MAX)
        self.flm, self.words, self.lm = flm, words, lm
        self.options = dict(beam_size=32, beam_size_token=len(self.tokens), beam_threshold=30.0, lm_weight=0.5,
                            word_score=0.0, unk_score=float("-inf"), sil_score=0.0, log_add=False,
                            criterion_type=CriterionType.CTC)
        self._classes = (LexiconDecoder, LexiconDecoderOptions)
        self.fusion = getattr(flm, "fusion", None)

    def reset_params(self, alpha, beta):
        self.options.update(lm_weight=alpha, word_score=beta)

    def decode(self, x, beam_width=32):
        from wordlm.fusion.flashlight import decode

        LexiconDecoder, LexiconDecoderOptions = self._classes
        options = LexiconDecoderOptions(**{**self.options, "beam_size": beam_width})
        decoder = LexiconDecoder(options, self.trie, self.flm, 1, 0, int(self.lm.unk_id), [], False)
        sep = np.full((1, x.shape[1]), np.log(0.01 / (x.shape[1] - 1)), dtype=np.float32)
        sep[0, 1] = np.log(0.99)
        results = decode(decoder, np.concatenate([x, sep]))
        return " ".join(self.words[i] for i in results[0].words if i >= 0) if results else ""


def build_flashlight_systems(args, labels):
    from flashlight.lib.text.decoder import ZeroLM
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    import wordlm
    from wordlm.fusion.flashlight import WordlmFlashlightLM

    lm = wordlm.load(args.model)
    words = list(lm.words)
    systems = {"flashlight no LM": (FlashlightSystem(lm, labels, ZeroLM(), words), None)}
    if args.arpa:
        d = Dictionary()
        for w in words:
            d.add_entry(w)
        systems["flashlight KenLM 4-gram"] = (FlashlightSystem(lm, labels, KenLM(args.kenlm_binary or args.arpa, d), words), None)
    flm = WordlmFlashlightLM(lm, cache_mb=args.cache_mb)
    systems["flashlight wordlm"] = (FlashlightSystem(lm, labels, flm, words), flm.fusion)
    return lm, systems


def memory_run(args) -> None:
    import wordlm
    from wordlm.fusion.pyctc import build_ctcdecoder

    labels = labels_for(args.corpus)
    texts = refs(args.corpus, "test") + refs(args.corpus, "tune")
    texts = (texts * (1 + args.n // len(texts)))[: args.n]
    lm = wordlm.load(args.model)
    decoder = build_ctcdecoder(labels, lm, alpha=args.alpha, beta=args.beta, cache_mb=args.cache_mb)
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
    p.add_argument("--decoder", choices=["pyctcdecode", "flashlight"], default="pyctcdecode")
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
    p.add_argument("--alphas", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7])
    p.add_argument("--betas", type=float, nargs="+", default=[-1.0, 0.0, 0.75, 1.5, 2.25, 3.0, 4.0, 5.0, 6.5])
    p.add_argument("--alpha", type=float, default=0.3, help="memory: the wordlm system's alpha")
    p.add_argument("--beta", type=float, default=1.5, help="memory: the wordlm system's beta")
    p.add_argument("--cache-mb", type=float, default=64.0)
    p.add_argument("--lookahead", action="store_true", help="also wordlm with the LM's prefix look-ahead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nbest-out", help="write the wordlm system's test beams as a jsonl n-best list")
    args = p.parse_args(argv)
    (wer_run if args.mode == "wer" else memory_run)(args)


if __name__ == "__main__":
    sys.exit(main())
