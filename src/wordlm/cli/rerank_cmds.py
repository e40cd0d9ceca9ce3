"""`wordlm rerank` and `wordlm tune`: n-best lists rescored with the LM (see `wordlm.rerank`).

    total = first_pass + α·LM + β·words      first_pass = Σ w_f·field_f (--am), LM in natural log

Data (one line per utterance, or the tuned weights) on stdout or `-o` (written atomically: nothing
is written when an error stops the run); the WER report, tuning table and plot on stderr.
"""

from __future__ import annotations

import json
import time

import click


from wordlm.cli.app import cli
from wordlm.cli.common import echo_json, handle_errors, load_model, log, runtime_option
from wordlm.jsonfile import dumps
from wordlm.nbest import FORMATS, tsv_escape

FORMAT_HELP = ("N-best format: jsonl, hyporadise (JSON list), mlm (mlm-scoring dict), tsv, srilm (NBestList1.0/2.0 "
               "or SRILM's own; a file per utterance, or a directory), kaldi (a directory: text + cost files), "
               "nemo (beam TSV, with --beam-size); auto detects all but nemo.")


UNTUNED_WARNING = ("warning: lm_weight 1 and word_bonus 0 are defaults, never tuned for this model and these "
                   "n-best lists: an LM unsuited to their domain can make the WER worse; tune them on held-out "
                   "n-best lists (wordlm tune MODEL TUNE_NBEST -o tuned.json) and pass --weights tuned.json, "
                   "or give --lm-weight/--word-bonus")


def _nbest_options(fn):
    """--refs and --beam-size (rerank and tune)."""
    fn = click.option("--beam-size", type=click.IntRange(min=1), default=None,
                      help="Hypotheses per utterance of a NeMo beam TSV (--format nemo).")(fn)
    fn = click.option("--refs", type=click.Path(exists=True, dir_okay=False), default=None,
                      help="References, Kaldi text format (UTT w1 w2 ...), for formats that carry none.")(fn)
    return fn
AM_HELP = "First-pass score: a field, or a weighted sum of fields, e.g. decoder=0.6,ctc=0.4  [default: score]"


def _progress(what: str, utterances):
    """A `score_nbest` progress callback on stderr (totals and ETA), and the object to close."""
    from wordlm.progress import Progress

    total = {"utterances": len(utterances), "hypotheses": sum(len(u.hyps) for u in utterances)}
    progress = Progress(f"{what}:", ("utterances", "hypotheses"), rate="hypotheses", total=total)
    return lambda utterances, hyps: progress.set(utterances=utterances, hypotheses=hyps), progress


def _output(path):
    """Where data lines go: echoed as they come (stdout), or kept for one atomic write (-o)."""
    lines: list[str] = []

    def emit(line: str) -> None:
        if path is None:
            click.echo(line)
        else:
            lines.append(line)

    def finish() -> None:
        if path is not None:
            from wordlm.files import write_atomic

            write_atomic(path, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))

    return emit, finish


def _check_files(nbest, output) -> None:
    """The n-best file (or directory: srilm, kaldi) exists and `-o` can be written: before TensorFlow
    and any work."""
    import os

    from wordlm.errors import InputError
    from wordlm.files import check_output_path

    if nbest != "-" and not os.path.exists(nbest):
        raise InputError(f"{nbest}: no such file")
    if output:
        check_output_path(output, "output")


def _check_weight(value: float, option: str) -> None:
    import math

    if not math.isfinite(value):
        raise click.UsageError(f"{option} must be a finite number, got {value}")


def _other_lms(specs, tuned: dict) -> list[tuple[str, float]]:
    """`--lm PATH[=W]` as (path, weight); a weight not given comes from the tuned-weights file's
    `lms` (same path), else 1. Without --lm, the tuned file's own `lms` are used."""
    from wordlm.errors import InputError

    from_file = {str(x.get("path")): float(x.get("weight", 1.0)) for x in tuned.get("lms") or [] if isinstance(x, dict)}
    if not specs:
        return list(from_file.items())
    out = []
    for spec in specs:
        path, sep, weight = spec.rpartition("=") if "=" in spec else (spec, "", "")
        if not sep:
            path = spec
        try:
            w = float(weight) if sep else from_file.get(path, 1.0)
        except ValueError:
            raise InputError(f"--lm {spec!r}: weight {weight!r} is not a number (expected LM=WEIGHT)") from None
        out.append((path, w))
    return out


@cli.command(epilog="Example: wordlm rerank rhyme nb.jsonl --weights tuned.json")
@click.argument("model", type=click.Path())
@click.argument("nbest", type=click.Path(allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True, help=FORMAT_HELP)
@click.option("--am", default=None, help=AM_HELP)
@click.option("--lm-weight", type=float, default=None, help="α, the LM's weight  [default: 1, or from --weights]")
@click.option("--word-bonus", type=float, default=None, help="β, added per word  [default: 0, or from --weights]")
@click.option("--weights", "weights_file", type=click.Path(), default=None, help="Tuned weights JSON from `wordlm tune`.")
@click.option("--lm", "lms", multiple=True, metavar="LM[=WEIGHT]",
              help="Another LM (model directory, MIX.json, ARPA or KenLM binary) whose log-probability joins the "
                   "total with its own weight (log-linear; repeatable)  [default weight: from --weights, else 1]")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write here (atomically) instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per utterance.")
@click.option("--all", "all_hyps", is_flag=True, help="Every hypothesis, best first, with first-pass, LM and total scores.")
@_nbest_options
@runtime_option
@handle_errors
def rerank(model, nbest, fmt, am, lm_weight, word_bonus, weights_file, lms, output, as_json, all_hyps, refs, beam_size):
    """Rerank the n-best lists of NBEST with MODEL: total = first_pass + α·LM + β·words.

    One line per utterance: utt_id, rank_before (the chosen hypothesis's place in the input list),
    total score and text (with --json: {"utt_id","text","rank_before","score","first_pass","wordlm","words"};
    --all adds "hyps", every hypothesis best first). Without --json, --all writes
    utt_id<TAB>total<TAB>text per hypothesis (the TSV n-best format). With references, a WER report
    (first pass, reranked, oracle; substitutions, deletions, insertions) goes to stderr.
    """
    from wordlm import rerank as rr
    from wordlm.nbest import read_nbest

    _check_files(nbest, output)  # before TensorFlow starts
    tuned = rr.read_weights(weights_file) if weights_file else {}
    if am is None and tuned.get("am") is not None:
        am = tuned["am"] if isinstance(tuned["am"], str) else rr.format_am(tuned["am"])
    am_weights = rr.parse_am(am)
    alpha = lm_weight if lm_weight is not None else float(tuned.get("lm_weight", 1.0))
    beta = word_bonus if word_bonus is not None else float(tuned.get("word_bonus", 0.0))
    _check_weight(alpha, "--lm-weight")
    _check_weight(beta, "--word-bonus")
    others = _other_lms(lms, tuned)
    lm = load_model(model)
    other_models = [load_model(p) for p, _ in others]
    weights = tuple(w for _, w in others)
    extra = "".join(f" + {w:g}*LM[{p}]" for p, w in others)
    log(f"reranking {nbest}: total = first_pass({rr.format_am(am_weights)}) + {alpha:g}*LM{extra} + {beta:g}*words")
    emit, finish = _output(output)
    report = rr.Report(alpha, beta, weights)
    utterances = list(read_nbest(nbest, fmt, required=am_weights, refs=refs, beam_size=beam_size))
    progress, bar = _progress("reranking", utterances)
    start = time.perf_counter()
    for scored in rr.score_nbest(lm, utterances, am_weights, progress=progress, others=other_models, where=str(nbest)):
        report.add(scored)
        rec = rr.record(scored, alpha, beta, all_hyps, weights)
        if as_json:
            emit(dumps(rec))
        elif all_hyps:
            for h in rec["hyps"]:
                emit(f"{tsv_escape(rec['utt_id'])}\t{h['total']}\t{tsv_escape(h['text'])}")
        else:
            emit(f"{tsv_escape(rec['utt_id'])}\t{rec['rank_before']}\t{rec['score']}\t{tsv_escape(rec['text'])}")
    bar.close()
    finish()
    seconds = time.perf_counter() - start
    if not weights_file and lm_weight is None and word_bonus is None:  # with the results: an error stays one line
        log(UNTUNED_WARNING)
    for line in report.lines():
        log(line)
    log(f"{report.utterances} utterances reranked in {seconds:.1f} s")


@cli.command(epilog="Example: wordlm tune rhyme nb.jsonl -o tuned.json --lm-weights 0:2:0.5 --word-bonuses 0:1:0.5")
@click.argument("model", type=click.Path())
@click.argument("nbest", type=click.Path(allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True, help=FORMAT_HELP)
@click.option("--am", default=None, help=AM_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the tuned weights JSON here (atomically).")
@click.option("--lm-weights", default="0:2:0.05", show_default=True, help="α grid, LO:HI:STEP (or one value).")
@click.option("--word-bonuses", default="-2:2:0.25", show_default=True, help="β grid, LO:HI:STEP (or one value).")
@click.option("--lm", "lms", multiple=True, metavar="LM",
              help="Another LM (model directory, MIX.json, ARPA or KenLM binary) with a weight of its own, tuned "
                   "with α and β by coordinate search (repeatable).")
@click.option("--other-weights", default=None, metavar="LO:HI:STEP",
              help="Grid of the --lm weights in the coordinate search  [default: the --lm-weights grid]")
@click.option("--folds", type=click.IntRange(min=0, max=1000), default=5, show_default=True,
              help="Cross-validate: tune on K-1 folds of the utterances, measure on the held-out one (0: off).")
@click.option("--rule", type=click.Choice(["significant", "best"]), default="significant", show_default=True,
              help="significant: keep the first pass (all weights 0) unless the cross-validated gain passes a sign "
                   "test; best: the in-sample optimum.")
@click.option("--significance", type=click.FloatRange(0, 1, min_open=True), default=0.05, show_default=True,
              help="The sign test's level for --rule significant.")
@_nbest_options
@runtime_option
@handle_errors
def tune(model, nbest, fmt, am, output, lm_weights, word_bonuses, lms, other_weights, folds, rule, significance, refs,
         beam_size):
    """Tune α (LM weight), β (word bonus) and the --lm weights for the lowest WER on a tune NBEST file.

    One LM: a grid over (α, β); with --lm, a coordinate search from the grid's best point. LM scores
    are computed once per hypothesis and reused everywhere. --folds K cross-validates; by default
    (--rule significant) the weights are kept only when the cross-validated gain over the first
    pass is significant by a sign test across utterances (p printed), else all weights are 0.
    Prints the chosen weights as one JSON line ({"lm_weight","word_bonus","wer","in_sample",
    "generalisation",...}), writes them to -o for `wordlm rerank --weights`; the table, a plot of WER
    against α, the cross-validation and the test go to stderr.
    """
    from wordlm import rerank as rr
    from wordlm.nbest import read_nbest

    _check_files(nbest, output)  # before TensorFlow starts
    am_weights = rr.parse_am(am)
    alphas = rr.parse_range(lm_weights, "--lm-weights")
    betas = rr.parse_range(word_bonuses, "--word-bonuses")
    rr.check_grid(alphas, betas)  # before TensorFlow and the n-best file
    others_grid = rr.parse_range(other_weights, "--other-weights") if other_weights else None
    lm = load_model(model)
    other_models = [load_model(p) for p in lms]
    utterances = list(read_nbest(nbest, fmt, required=am_weights, refs=refs, beam_size=beam_size))
    progress, bar = _progress("scoring", utterances)
    start = time.perf_counter()
    scored = list(rr.score_nbest(lm, utterances, am_weights, progress=progress, others=other_models, where=str(nbest)))
    bar.close()
    scoring_s = time.perf_counter() - start
    table = rr.Table(scored)
    search = lambda t: rr.tune(t, alphas, betas, others_grid)  # noqa: E731
    result = search(table)
    check = rr.generalise(table, result, search, folds, rule, significance)
    grid_s = time.perf_counter() - start - scoring_s
    in_sample = result.to_json()
    chosen = {"lm_weight": result.lm_weight, "word_bonus": result.word_bonus,
              "other_weights": list(result.other_weights)} if check.kept else \
             {"lm_weight": 0.0, "word_bonus": 0.0, "other_weights": [0.0] * len(lms)}
    wer = in_sample["wer"] if check.kept else in_sample["first_pass_wer"]
    summary = {**in_sample, "lm_weight": chosen["lm_weight"], "word_bonus": chosen["word_bonus"], "wer": wer,
               "in_sample": {"lm_weight": result.lm_weight, "word_bonus": result.word_bonus,
                             "wer": in_sample["wer"], **({"other_weights": in_sample["other_weights"]} if lms else {})},
               "generalisation": check.to_json(),
               "am": rr.format_am(am_weights), "model": str(model), "nbest": str(nbest)}
    summary.pop("other_weights", None)
    if lms:
        summary["lms"] = [{"path": str(p), "weight": float(w)} for p, w in zip(lms, chosen["other_weights"])]
    for line in _tune_table(result, len(scored)):
        log(line)
    for line in edge_warnings(result, lm_weights, word_bonuses):
        log(line)
    for line in _generalisation_lines(check, result, lms):
        log(line)
    log(f"scored {sum(len(s.utt.hyps) for s in scored)} hypotheses in {scoring_s:.1f} s; "
        f"tuning, {check.folds} folds and the test in {grid_s:.1f} s")
    if output:
        from wordlm.files import write_atomic

        write_atomic(output, (json.dumps(summary, indent=1) + "\n").encode("utf-8"))
        log(f"wrote {output}")
    echo_json({k: v for k, v in summary.items() if k != "grid"})


def edge_warnings(result, lm_weights: str, word_bonuses: str) -> list[str]:
    """A warning for each weight whose best value lies on the edge of its grid with the WER still
    falling towards that edge (lower there than at the next value inwards): the optimum may lie
    beyond the grid. The α grid's lower edge 0 (no LM) is no edge: a negative α is never sensible."""
    import numpy as np

    out = []
    i = int(np.argmin(np.abs(result.lm_weights - result.lm_weight)))
    j = int(np.argmin(np.abs(result.word_bonuses - result.word_bonus)))
    axes = [("lm_weight", "--lm-weights", lm_weights, result.lm_weights, i, result.errors[:, j]),
            ("word_bonus", "--word-bonuses", word_bonuses, result.word_bonuses, j, result.errors[i, :])]
    for name, option, spec, values, k, errors in axes:
        if len(values) < 2 or (name == "lm_weight" and k == 0 and values[0] <= 0):
            continue
        inward = 1 if k == 0 else len(values) - 2 if k == len(values) - 1 else None
        if inward is not None and errors[k] < errors[inward]:
            out.append(f"warning: the best {name} ({values[k]:g}) lies on the edge of its grid ({option} {spec}) "
                       f"and the WER still falls towards it: the optimum may lie beyond; widen {option}")
    return out


def _generalisation_lines(check, result, lms) -> list[str]:
    out = []
    if result.other_weights:
        out.append("coordinate search (" + ", ".join(f"{p} {w:g}" for p, w in zip(lms, result.other_weights))
                   + f"): {result.search_rounds} rounds")
    if check.folds:
        out.append(f"{check.folds}-fold cross-validation: WER {check.wer(check.cv_errors):.3f} (in-sample "
                   f"{check.wer(check.in_sample_errors):.3f}, first pass {check.wer(check.first_pass_errors):.3f})")
    what = "cross-validated" if check.folds else "in-sample"
    out.append(f"sign test, {what} choices vs first pass: {check.improved} utterances better, {check.worsened} worse, "
               f"p = {check.p_value:.3g}")
    if check.kept:
        out.append("kept the tuned weights" + (" (--rule best)" if check.rule == "best" else
                                               f" (gain significant at {check.significance:g})"))
    else:
        out.append(f"kept the first pass: all weights 0 (the gain is not significant at {check.significance:g}; "
                   "--rule best takes the in-sample optimum)")
    return out


def _tune_table(result, utterances: int) -> list[str]:
    from wordlm.rerank import ascii_plot, wer_by_alpha

    rows = wer_by_alpha(result)
    out = [f"tuning on {result.utterances} utterances with references ({result.tuned.ref_words} words):",
           f"  {'lm_weight':>9} {'best β':>7} {'WER %':>7}"]
    step = max(1, len(rows) // 25)  # at most ~25 table rows; the plot shows them all
    shown = set(range(0, len(rows), step)) | {len(rows) - 1}
    best_i = int(min(range(len(rows)), key=lambda i: abs(rows[i][0] - result.lm_weight)))
    shown.add(best_i)
    for i in sorted(shown):
        a, b, w = rows[i]
        out.append(f"  {a:9.4g} {b:7.3g} {w:7.3f}" + ("   <- best" if i == best_i else ""))
    fp, tuned, oracle = (100 * c.wer for c in (result.first_pass, result.tuned, result.oracle))
    out.append("WER % (best β) against lm_weight; lines: first pass (fp), oracle (or)")
    out += ["  " + line for line in ascii_plot([(a, w) for a, _, w in rows], marks={"fp": fp, "or": oracle})]
    out.append(f"first pass {fp:.3f}  tuned {tuned:.3f} (lm_weight {result.lm_weight:g}, word_bonus "
               f"{result.word_bonus:g})  oracle {oracle:.3f}")
    return out
