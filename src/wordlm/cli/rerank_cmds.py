"""`wordlm rerank` and `wordlm tune`: n-best lists rescored with the LM (see `wordlm.rerank`).

    total = first_pass + α·LM + β·words      first_pass = Σ w_f·field_f (--am), LM in natural log

Data (one line per utterance, or the tuned weights) on stdout or `-o` (written atomically: nothing
is written when an error stops the run); the WER report, tuning table and plot on stderr.
"""

from __future__ import annotations

import json
import time

import click

from wordlm.cli import cli
from wordlm.cli.common import echo_json, handle_errors, load_model, log
from wordlm.jsonfile import dumps
from wordlm.nbest import FORMATS

FORMAT_HELP = "N-best format: jsonl, hyporadise (JSON list), mlm (mlm-scoring dict), tsv; auto detects."
AM_HELP = "First-pass score: a field, or a weighted sum of fields, e.g. decoder=0.6,ctc=0.4  [default: score]"


def _progress(what: str, utterances):
    """A `score_nbest` progress callback on stderr (totals and ETA), and the object to close."""
    from wordlm.progress import Progress

    total = {"utterances": len(utterances), "hypotheses": sum(len(u.hyps) for u in utterances)}
    progress = Progress(f"{what}:", ("utterances", "hypotheses"), rate="hypotheses", total=total)
    return lambda utterances, hyps: progress.set(utterances=utterances, hypotheses=hyps), progress


def tsv_field(text: str) -> str:
    """A TSV field that cannot break its row: backslash, tab, newline and carriage return escaped
    as `\\`, `\t`, `\n`, `\r` (the convention of PostgreSQL's and MySQL's text formats)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


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
            from wordlm.saving import write_atomic

            write_atomic(path, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))

    return emit, finish


@cli.command(epilog="Example: wordlm rerank rhyme nb.jsonl --weights tuned.json")
@click.argument("model", type=click.Path())
@click.argument("nbest", type=click.Path(allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True, help=FORMAT_HELP)
@click.option("--am", default=None, help=AM_HELP)
@click.option("--lm-weight", type=float, default=None, help="α, the LM's weight  [default: 1, or from --weights]")
@click.option("--word-bonus", type=float, default=None, help="β, added per word  [default: 0, or from --weights]")
@click.option("--weights", "weights_file", type=click.Path(), default=None, help="Tuned weights JSON from `wordlm tune`.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write here (atomically) instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per utterance.")
@click.option("--all", "all_hyps", is_flag=True, help="Every hypothesis, best first, with first-pass, LM and total scores.")
@handle_errors
def rerank(model, nbest, fmt, am, lm_weight, word_bonus, weights_file, output, as_json, all_hyps):
    """Rerank the n-best lists of NBEST with MODEL: total = first_pass + α·LM + β·words.

    One line per utterance: utt_id, rank_before (the chosen hypothesis's place in the input list),
    total score and text (with --json: {"utt_id","text","rank_before","score","first_pass","wordlm","words"};
    --all adds "hyps", every hypothesis best first). Without --json, --all writes
    utt_id<TAB>total<TAB>text per hypothesis (the TSV n-best format). With references, a WER report
    (first pass, reranked, oracle; substitutions, deletions, insertions) goes to stderr.
    """
    from wordlm import rerank as rr
    from wordlm.nbest import read_nbest

    tuned = rr.read_weights(weights_file) if weights_file else {}
    if am is None and tuned.get("am") is not None:
        am = tuned["am"] if isinstance(tuned["am"], str) else rr.format_am(tuned["am"])
    am_weights = rr.parse_am(am)
    alpha = lm_weight if lm_weight is not None else float(tuned.get("lm_weight", 1.0))
    beta = word_bonus if word_bonus is not None else float(tuned.get("word_bonus", 0.0))
    lm = load_model(model)
    log(f"reranking {nbest}: total = first_pass({rr.format_am(am_weights)}) + {alpha:g}*LM + {beta:g}*words")
    emit, finish = _output(output)
    report = rr.Report(alpha, beta)
    utterances = list(read_nbest(nbest, fmt, required=am_weights))
    progress, bar = _progress("reranking", utterances)
    start = time.perf_counter()
    for scored in rr.score_nbest(lm, utterances, am_weights, progress=progress):
        report.add(scored)
        rec = rr.record(scored, alpha, beta, all_hyps)
        if as_json:
            emit(dumps(rec))
        elif all_hyps:
            for h in rec["hyps"]:
                emit(f"{tsv_field(rec['utt_id'])}\t{h['total']}\t{tsv_field(h['text'])}")
        else:
            emit(f"{tsv_field(rec['utt_id'])}\t{rec['rank_before']}\t{rec['score']}\t{tsv_field(rec['text'])}")
    bar.close()
    finish()
    seconds = time.perf_counter() - start
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
@handle_errors
def tune(model, nbest, fmt, am, output, lm_weights, word_bonuses):
    """Grid-search α (LM weight) and β (word bonus) for the lowest WER on a tune NBEST file.

    LM scores are computed once per hypothesis and reused for every grid point. Prints the best
    weights as one JSON line ({"lm_weight","word_bonus","wer","first_pass_wer","oracle_wer",...}),
    writes them to -o for `wordlm rerank --weights`; the table and a plot of WER against α go to stderr.
    """
    from wordlm import rerank as rr
    from wordlm.nbest import read_nbest

    am_weights = rr.parse_am(am)
    alphas = rr.parse_range(lm_weights, "--lm-weights")
    betas = rr.parse_range(word_bonuses, "--word-bonuses")
    lm = load_model(model)
    utterances = list(read_nbest(nbest, fmt, required=am_weights))
    progress, bar = _progress("scoring", utterances)
    start = time.perf_counter()
    scored = list(rr.score_nbest(lm, utterances, am_weights, progress=progress))
    bar.close()
    scoring_s = time.perf_counter() - start
    result = rr.tune(scored, alphas, betas)
    grid_s = time.perf_counter() - start - scoring_s
    summary = {**result.to_json(), "am": rr.format_am(am_weights), "model": str(model), "nbest": str(nbest)}
    for line in _tune_table(result, len(scored)):
        log(line)
    log(f"scored {sum(len(s.utt.hyps) for s in scored)} hypotheses in {scoring_s:.1f} s; "
        f"{len(alphas) * len(betas)} grid points in {grid_s:.1f} s")
    if output:
        from wordlm.saving import write_atomic

        write_atomic(output, (json.dumps(summary, indent=1) + "\n").encode("utf-8"))
        log(f"wrote {output}")
    echo_json({k: v for k, v in summary.items() if k != "grid"})


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
