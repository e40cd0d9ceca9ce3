"""`wordlm lattice`: rescore word lattices (HTK SLF) with the LM (see `wordlm.lattice`).

    total = acoustic_weight·Σa + first_lm_weight·Σl + α·LM + Σ_k α_k·LM_k + β·words

Outputs: the 1-best per lattice (`UTT w1 w2 …`, Kaldi's text format, or JSON lines) on stdout or
`-o`; `--nbest-out`: the n best distinct paths per lattice in the `jsonl` n-best format (fields
`acoustic`, `lm`, `score`, `wordlm`, `words`, `total`; `ref` with `--refs`), which `wordlm tune`
and `wordlm rerank` read unchanged; `--slf-out DIR`: each rescored lattice as `DIR/UTT.slf.gz`.
With `--refs`, a WER report (1-best, n-best oracle, lattice oracle) and the search's cost (model
calls, rows, seconds per lattice) go to stderr.

Tuning goes through `wordlm tune`, guarded as it is: write the tune lattices' n-best lists
(`--nbest-out`) and give them to `wordlm tune MODEL NBEST --am acoustic=1` (its grid caps, its
cross-validation and sign test); `--weights TUNED.json` then reads the weights back (`am`:
`acoustic=W` → the acoustic weight, `lm=W` → the first-pass LM weight; `lm_weight`, `word_bonus`,
`lms`). Only ratios of weights change a ranking, so `tune` keeps the acoustic weight at 1 and
tunes α, β and the `--lm` weights against it (the same choice as tuning all three; the pruning,
which compares scores within a node, is unaffected by the scale). Why n-best lists rather than a
grid of lattice searches: a grid point costs a pass over the n-best lists (milliseconds), a lattice
search seconds a lattice. With α = 0 and no `--lm`, MODEL is not loaded (no TensorFlow): the
first-pass n-best.
"""

from __future__ import annotations

import json
import math
import os
import time

import click

from wordlm.cli.app import cli
from wordlm.cli.common import handle_errors, load_model, log, runtime_option


def _history(value: str) -> int | None:
    if value in ("full", "none", "inf"):
        return None
    try:
        k = int(value)
    except ValueError:
        raise click.UsageError(f"-k/--history must be a number of words or 'full', got {value!r}") from None
    if k < 0:
        raise click.UsageError(f"-k/--history must be >= 0, got {k}")
    return k


def _finite(value, option):
    if value is not None and not math.isfinite(value):
        raise click.UsageError(f"{option} must be a finite number, got {value}")


def _lattice_paths(lattices, lists) -> list[str]:
    from wordlm.errors import InputError
    from wordlm.text import read_lines

    paths = list(lattices)
    for lst in lists:
        paths += [line.strip() for _, line in read_lines(lst) if line.strip()]
    if not paths:
        raise click.UsageError("no lattices: give LATTICE files or --list FILE")
    for p in paths:
        if p != "-" and not os.path.isfile(p):
            raise InputError(f"{p}: {'is a directory' if os.path.isdir(p) else 'no such file'}")
    return paths


def _read_all(paths, fmt, words_file, max_links):
    """(path, Lattice) for every lattice of every file: one an SLF file, several a Kaldi archive."""
    from wordlm.lattice.kaldi import read_kaldi, read_words
    from wordlm.lattice.slf import read_slf

    words = read_words(words_file) if fmt == "kaldi" else None
    for path in paths:
        if fmt == "kaldi":
            for lat in read_kaldi(path, words, max_links):
                yield path, lat
        else:
            yield path, read_slf(path, max_links=max_links, max_nodes=max_links)


@cli.command(epilog="Example: wordlm lattice atis lat/*.slf.gz --refs dev.refs --nbest-out nb.jsonl -o best.txt")
@click.argument("model", type=click.Path())
@click.argument("lattices", nargs=-1, type=click.Path(allow_dash=True))
@click.option("--list", "lists", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file of lattice paths, one a line (repeatable).")
@click.option("--refs", type=click.Path(exists=True, dir_okay=False), default=None,
              help="References, Kaldi text format (UTT w1 w2 ...): a WER report on stderr, `ref` in the n-best.")
@click.option("--format", "fmt", type=click.Choice(["slf", "kaldi"]), default="slf", show_default=True,
              help="slf: HTK SLF, a lattice a file; kaldi: Kaldi text lattices (lattice-copy ... ark,t:), several a "
                   "file, with --words.")
@click.option("--words", "words_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Kaldi's words.txt (WORD ID per line), for --format kaldi.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the 1-best lines here (atomically) instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per lattice (utt_id, text, total, fields, stats).")
@click.option("--nbest-out", type=click.Path(dir_okay=False), default=None,
              help="Write the n-best lists (jsonl n-best format, for wordlm tune/rerank) here.")
@click.option("-n", "--nbest", "n", type=click.IntRange(1, 10000), default=50, show_default=True,
              help="Paths per lattice in --nbest-out.")
@click.option("--slf-out", type=click.Path(file_okay=False), default=None,
              help="Write each rescored lattice to DIR/UTT.slf.gz (LM scores on its links).")
@click.option("--lm-weight", type=float, default=None, help="α, the LM's weight  [default: 1, or from --weights]")
@click.option("--word-bonus", type=float, default=None, help="β, per word  [default: 0, or from --weights]")
@click.option("--acoustic-weight", type=float, default=None, help="Weight of a=  [default: 1, or from --weights]")
@click.option("--first-lm-weight", type=float, default=None,
              help="Weight of the lattice's own l=  [default: from --weights, else the lattice's lmscale, else 1]")
@click.option("--weights", "weights_file", type=click.Path(), default=None, help="Tuned weights JSON from `wordlm tune`.")
@click.option("--lm", "lms", multiple=True, metavar="LM[=WEIGHT]",
              help="Another LM (model directory, MIX.json, ARPA or KenLM binary), log-linear with its own weight.")
@click.option("-k", "--history", "history", default="3", show_default=True,
              help="Merge histories that agree on their last K words ('full': never merge; exact without pruning).")
@click.option("--beam", type=click.FloatRange(min=0), default=None, help="Drop a state more than BEAM below the best state of its lattice node  [default: none]")
@click.option("--max-histories", type=click.IntRange(min=0), default=8, show_default=True,
              help="At most N states per lattice node (0: no limit; with -k full and no --beam the search is exact).")
@click.option("--filler", "fillers", multiple=True, help="Another filler word (no LM score, not a word; repeatable).")
@click.option("--max-links", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="Refuse a lattice with more links (or nodes) than this, before reading its links.")
@runtime_option
@handle_errors
def lattice(model, lattices, lists, refs, fmt, words_file, output, as_json, nbest_out, n, slf_out, lm_weight, word_bonus,
            acoustic_weight, first_lm_weight, weights_file, lms, history, beam, max_histories, fillers, max_links):
    """Rescore LATTICES (HTK SLF, plain or .gz; or Kaldi text lattices) with MODEL; print the 1-best of each.

    total = acoustic_weight·Σa + first_lm_weight·Σl + α·LM + Σ α_k·LM_k + β·words (natural log;
    LM = ln p(words </s> | <s>); fillers such as !NULL, <sil>, [NOISE] get no LM score and are no
    words). Histories agreeing on their last K words are merged; --beam and --max-histories prune.
    """
    from wordlm import lattice as lt
    from wordlm.cli.rerank_cmds import _other_lms, _output
    from wordlm.rerank import parse_am, read_weights
    from wordlm.saving import check_output_path

    k = _history(history)
    if fmt == "kaldi" and not words_file:
        raise click.UsageError("--format kaldi needs --words words.txt (Kaldi lattices hold word ids)")
    for value, option in ((lm_weight, "--lm-weight"), (word_bonus, "--word-bonus"),
                          (acoustic_weight, "--acoustic-weight"), (first_lm_weight, "--first-lm-weight")):
        _finite(value, option)
    paths = _lattice_paths(lattices, lists)
    for out in (output, nbest_out):
        if out:
            check_output_path(out, "output")
    ref_map = None
    if refs:
        from wordlm.nbest.recognizers import read_refs

        ref_map = read_refs(refs)
    tuned = read_weights(weights_file) if weights_file else {}
    am = tuned.get("am")
    am = parse_am(am if isinstance(am, str) else ",".join(f"{a}={b}" for a, b in am.items())) if am else {}
    alpha = lm_weight if lm_weight is not None else float(tuned.get("lm_weight", 1.0))
    beta = word_bonus if word_bonus is not None else float(tuned.get("word_bonus", 0.0))
    acw = acoustic_weight if acoustic_weight is not None else am.get("acoustic", 1.0)
    flw = first_lm_weight if first_lm_weight is not None else am.get("lm")
    others = _other_lms(lms, tuned)
    # the models: none at all when no LM has a weight (a first-pass n-best needs no TensorFlow)
    models, lm_weights = [], []
    if alpha != 0:
        models.append(load_model(model))
        lm_weights.append(alpha)
    for p, w in others:
        if w != 0:
            models.append(load_model(p))
            lm_weights.append(w)
    if alpha == 0 and models:  # another LM, but not MODEL: the n-best's `wordlm` field is then that LM's
        log("note: --lm-weight 0: MODEL is not used; the n-best field `wordlm` holds the first --lm's log-probability")
    options = lt.Options(k=k, beam=math.inf if beam is None else beam, max_histories=max_histories or None,
                         fillers=frozenset(fillers))
    log(f"rescoring {len(paths)} lattices: total = {acw:g}*a + {'lmscale' if flw is None else f'{flw:g}'}*l + "
        + " + ".join(f"{w:g}*LM[{name}]" for w, name in zip(lm_weights, ([model] if alpha else []) + [p for p, w in others if w]))
        + f" + {beta:g}*words; k={'full' if k is None else k}, beam={beam}, max_histories={max_histories}")
    emit, finish = _output(output)
    nbest_lines: list[str] = []
    if slf_out:
        os.makedirs(slf_out, exist_ok=True)
    totals = {"lattices": 0, "errors": 0, "ref_words": 0, "nbest_oracle": 0, "lattice_oracle": 0, "model_calls": 0,
              "rows": 0, "seconds": 0.0, "links": 0, "states": 0}
    seen: set[str] = set()
    want_n = n if (nbest_out or ref_map is not None) else 0
    started = time.perf_counter()
    for path, lat in _read_all(paths, fmt, words_file, max_links):
        if lat.utt_id in seen:
            from wordlm.errors import InputError

            raise InputError(f"{path}: utterance {lat.utt_id!r} given twice")
        seen.add(lat.utt_id)
        weights = lt.Weights(acw, lat.lmscale if flw is None else flw, tuple(lm_weights), beta)
        t = time.perf_counter()
        ex = lt.expand(lat, models, weights, options)
        best = lt.best_path(ex)
        paths_n = lt.nbest(ex, want_n) if want_n else []
        seconds = time.perf_counter() - t
        stats = {k2: ex.stats[k2] for k2 in ("model_calls", "rows", "states", "arcs", "pruned", "links")}
        for key in ("model_calls", "rows", "links", "states"):
            totals[key] += stats[key]
        totals["seconds"] += seconds
        totals["lattices"] += 1
        ref = ref_map.get(lat.utt_id) if ref_map is not None else None
        if as_json:
            emit(json.dumps({"utt_id": lat.utt_id, **best.fields(weights), "seconds": round(seconds, 4), **stats}))
        else:
            emit(f"{lat.utt_id} {best.text}".rstrip())
        if nbest_out:
            rec = {"utt_id": lat.utt_id, **({"ref": ref} if ref is not None else {}),
                   "hyps": [p.fields(weights) for p in paths_n]}
            nbest_lines.append(json.dumps(rec))
        if slf_out:
            lt.slf.write_slf(os.path.join(slf_out, f"{lat.utt_id}.slf.gz"), lt.rescored_slf(ex))
        if ref is not None:
            from wordlm.lattice.oracle import oracle_errors
            from wordlm.wer import count_errors

            counts = count_errors([ref] * (1 + len(paths_n)), [best.text] + [p.text for p in paths_n])
            totals["errors"] += counts[0].errors
            totals["ref_words"] += counts[0].ref_words
            totals["nbest_oracle"] += min(c.errors for c in counts)
            totals["lattice_oracle"] += oracle_errors(lat, ref, frozenset(fillers))
    finish()
    if nbest_out:
        from wordlm.saving import write_atomic

        write_atomic(nbest_out, ("\n".join(nbest_lines) + "\n").encode("utf-8"))
    wall = time.perf_counter() - started
    per = totals["seconds"] / max(1, totals["lattices"])
    log(f"{totals['lattices']} lattices ({totals['links']:,} links) in {wall:.1f} s: {per * 1000:.1f} ms a lattice, "
        f"{totals['model_calls']} model calls, {totals['rows']:,} rows extended, {totals['states']:,} states")
    if ref_map is not None and totals["ref_words"]:
        w = lambda e: 100.0 * e / totals["ref_words"]  # noqa: E731
        log(f"WER % over {totals['ref_words']} reference words: 1-best {w(totals['errors']):.2f}, "
            f"{n}-best oracle {w(totals['nbest_oracle']):.2f}, lattice oracle {w(totals['lattice_oracle']):.2f}")
