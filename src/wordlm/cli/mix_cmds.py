"""`wordlm mix`: write a mixture file (components, weights; EM weights on held-out text).

The file is data (one JSON object, also echoed on stdout as one line); the EM's per-iteration
held-out perplexity goes to stderr, as SRILM's `compute-best-mix` prints it.
"""

from __future__ import annotations

import click

from wordlm.cli.app import cli
from wordlm.cli.common import check_inputs, echo_json, handle_errors, import_tensorflow, log


def _weights(value):
    if value is None:
        return None
    try:
        return [float(x) for x in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers (e.g. 0.6,0.4), got {value!r}") from None


def _check_inside(components, output) -> None:
    """Every component inside the mixture file's folder (what readers accept by default), before any work."""
    import os

    from wordlm.mixture.file import OUTSIDE_ENV, outside_allowed, outside_folder

    if outside_allowed():
        return
    folder = os.path.dirname(os.path.abspath(output))
    for p in components:
        if outside_folder(os.path.abspath(p), folder):
            raise click.UsageError(f"{p} lies outside {folder}, the folder of {output}: wordlm reads a mixture's "
                                   "components only beside or below the mixture file; write it in a folder that holds "
                                   f"its components, or set {OUTSIDE_ENV}=1 (for writing and for every reader)")


@cli.command(epilog="Example: wordlm mix rhyme tiny.arpa -o mix.json --tune-on heldout.txt")
@click.argument("components", nargs=-1, required=True, metavar="COMPONENT...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The mixture file to write (MIX.json).")
@click.option("--weights", callback=lambda c, p, v: _weights(v), metavar="W1,W2,...",
              help="One weight per component, non-negative, summing to 1  [default: uniform, or EM with --tune-on]")
@click.option("--tune-on", "tune_on", type=click.Path(allow_dash=True), metavar="TEXT",
              help="Held-out text: choose the weights by EM (SRILM's compute-best-mix), starting from --weights or uniform.")
@click.option("--tokenizer", type=click.Choice(["keras", "whitespace"]), default=None,
              help="How text splits into the mixture's words  [default: the wordlm word models', else whitespace]")
@click.option("--lower/--no-lower", default=None,
              help="Lower-case the text first  [default: as the tokenizer: keras lower-cases, whitespace does not]")
@click.option("--oov", type=click.Choice(["unk", "skip"]), default="unk", show_default=True,
              help="How OOVs count in the held-out perplexity EM minimises (as score --oov).")
@click.option("--context-tokens", type=click.IntRange(0, 4096), default=0, show_default=True, metavar="N",
              help="Running text for the held-out perplexity, as perplexity --context-tokens N.")
@click.option("--max-iterations", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="EM iterations at most.")
@click.option("--tolerance", type=click.FloatRange(0, 1), default=1e-6, show_default=True,
              help="Stop EM when the held-out perplexity changes by less than this (relative).")
@handle_errors
def mix(components, output, weights, tune_on, tokenizer, lower, oov, context_tokens, max_iterations, tolerance):
    """Write a mixture of COMPONENT... (wordlm model directories, word or character; KenLM ARPA or binary
    files) to -o MIX.json: p(w | h) = Σ weight_i · p_i(w | h) per word. Any command that takes a MODEL
    takes MIX.json. Paths are stored relative to the mixture file's folder.
    """
    from wordlm import mixture as mx
    from wordlm.mixture.file import ComponentSpec, MixtureSpec, relative_to_file
    from wordlm.files import check_output_path

    if weights is not None and len(weights) != len(components):
        raise click.UsageError(f"--weights has {len(weights)} values for {len(components)} components")
    if tune_on:
        check_inputs([tune_on])
    check_output_path(output, "mixture file")
    _check_inside(components, output)
    kinds = [mx.detect_kind(p) for p in components]
    start = mx.check_weights(weights, "--weights") if weights is not None else None
    if "wordlm" in kinds:
        import_tensorflow()
    from wordlm.loading import build_mixture

    mixture = build_mixture(components, start, where="mix")
    if tokenizer is not None or lower is not None:
        from wordlm.text import Tokenizer

        mode = tokenizer or mixture.tokenizer.mode
        chosen = Tokenizer(mode, (mode == "keras") if lower is None else lower)
        if mixture.has_word_components and chosen != mixture.tokenizer:  # their words would not be the mixture's
            raise click.UsageError(
                f"--tokenizer {chosen.mode} ({'lower-case' if chosen.lower else 'case kept'}) differs from the "
                f"tokenizer the wordlm models were trained with ({mixture.tokenizer.mode}, "
                f"{'lower-case' if mixture.tokenizer.lower else 'case kept'}): they would score other words than "
                "the mixture reads; leave --tokenizer and --lower out (they apply to n-gram-only mixtures)")
        mixture.tokenizer = chosen
    tuned = None
    if tune_on:
        from wordlm.mixture.em import em_weights, heldout_logprobs
        from wordlm.text import read_lines

        lines = [t for _, t in read_lines(tune_on)]
        if context_tokens:
            from wordlm.running_text import check_context

            check_context(mixture, True, context_tokens)
        lp = heldout_logprobs(mixture, lines, oov=oov, context_tokens=context_tokens)
        log(f"EM on {tune_on}: {lp.shape[0]} tokens, {len(components)} components")

        def report(it, ppl, w):
            log(f"iteration {it}: held-out ppl {ppl:.6g}  weights {' '.join(f'{x:.6f}' for x in w)}")

        result = em_weights(lp, start, max_iterations, tolerance, report)
        final = result.weights
        tuned = {"on": str(tune_on), "oov": oov, "context_tokens": context_tokens, "tokens": result.tokens, "iterations": result.iterations,
                 "ppl": result.perplexities[-1], "ppl_start": result.perplexities[0]}
    else:
        final = list(mixture.weights)
    spec = MixtureSpec([ComponentSpec(relative_to_file(p, output), k, float(w))
                        for p, k, w in zip(components, kinds, final)],
                       tokenizer=mixture.tokenizer.to_config() if mixture.has_word_components else None, tuned=tuned)
    mx.write(spec, output)
    log(f"wrote {output}: " + ", ".join(f"{p} {w:.6g}" for p, w in zip(components, final)))
    echo_json(spec.to_json())
