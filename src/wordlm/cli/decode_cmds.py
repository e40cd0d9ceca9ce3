"""`wordlm generate`: continue prompts greedily, by sampling, or by beam search.

Thin: options in, `decoding.generate_batch` per batch of prompts, hypotheses out. Text output is
one line per hypothesis, `text<TAB>logprob<TAB>score` (natural log, 4 decimals), one block per
prompt, blocks separated by a blank line; `--json` prints one object per hypothesis,
`{"text","continuation","logprob","score"}`, plus `"prompt"` (0-based index) when there are
several prompts. Warnings (unknown prompt words, read as `<unk>`) go to stderr.
"""

from __future__ import annotations

import warnings

import click

from wordlm.cli.app import cli
from wordlm.cli.common import echo_json, handle_errors, load_model, log, runtime_option
# Spelled out (not imported) so `wordlm --help` needs no numpy; a test checks they match
# `wordlm.decoding.options`.
STRATEGIES = ("greedy", "sample", "beam")
LENGTH_NORMS = ("none", "avg", "gnmt")
DEFAULT_BEAM = 4


@cli.command(epilog='Example: wordlm generate goose --prompt "the queen of hearts" --strategy beam --beam-size 8 --num 4')
@click.argument("model", type=click.Path())
@click.option("--prompt", "prompt_texts", multiple=True, metavar="TEXT",
              help="Beginning of the line to continue (repeatable; \"\" starts a line with boundaries).")
@click.option("--prompts", "prompts_file", type=click.Path(allow_dash=True), default=None, metavar="FILE|-",
              help="Prompts, one per line (plain, .gz or - for stdin); after any --prompt.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="greedy", show_default=True,
              help="greedy: the most likely word each step; sample: draw (see --temperature, --top-k, --top-p); beam: beam search (--beam-size).")
@click.option("--max-words", type=click.IntRange(min=1), default=20, show_default=True,
              help="Most words to generate (</s> not counted).")
@click.option("--min-words", type=click.IntRange(min=0), default=0, show_default=True,
              help="Forbid </s> before this many words.")
@click.option("--num", type=click.IntRange(min=1), default=1, show_default=True,
              help="Results per prompt: samples, or the n best of the beam.")
@click.option("--beam-size", type=click.IntRange(min=1), default=None,
              help=f"Beam width for --strategy beam  [default: {DEFAULT_BEAM}, or --num if larger]")
@click.option("--temperature", type=click.FloatRange(min=0), default=None,
              help="Sampling temperature (0 = greedy)  [default: 1]")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Sample among the K most likely words.")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Sample in the nucleus: the most likely words whose mass reaches P.")
@click.option("--length-norm", type=click.Choice(LENGTH_NORMS), default="none", show_default=True,
              help="score = logprob (none), logprob/len^A (avg), logprob/((5+len)^A/6^A) (gnmt).")
@click.option("--length-penalty", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="A, the exponent of --length-norm.")
@click.option("--no-repeat-ngram", type=click.IntRange(min=1), default=None, metavar="N",
              help="Never repeat an N-gram of the line (prompt included).")
@click.option("--forbid", default="", metavar="W1,W2", help="Words never to generate.")
@click.option("--allow-unk", is_flag=True, help="Let <unk> be generated.")
@click.option("--seed", type=int, default=None, help="Seed for sampling: the same seed gives the same output.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Prompts decoded side by side.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hypothesis.")
@runtime_option
@handle_errors
def generate(model, prompt_texts, prompts_file, strategy, max_words, min_words, num, beam_size, temperature, top_k,
             top_p, length_norm, length_penalty, no_repeat_ngram, forbid, allow_unk, seed, batch_size, as_json):
    """Continue prompts with MODEL: greedy, sampling (temperature, top-k, top-p) or beam search.

    Prints one line per hypothesis, TEXT<TAB>LOGPROB<TAB>SCORE, one block per prompt (blocks
    separated by a blank line). LOGPROB is the model's natural-log probability of the
    continuation given the prompt, </s> included when generated; SCORE is what the search ranked
    by (LOGPROB normalised by --length-norm).
    """
    from wordlm.decoding import DecodeOptions, generate_batch
    from wordlm.errors import InputError, where
    from wordlm.text import read_lines

    if not prompt_texts and prompts_file is None:
        raise click.UsageError("give a prompt: --prompt TEXT (repeatable) or --prompts FILE|-")
    sampling = {"--temperature": temperature, "--top-k": top_k, "--top-p": top_p}
    for flag, value in sampling.items():
        if value is not None and strategy != "sample":
            raise click.UsageError(f"{flag} applies to --strategy sample (got --strategy {strategy})")
    if beam_size is not None and strategy != "beam":
        raise click.UsageError(f"--beam-size applies to --strategy beam (got --strategy {strategy})")
    options = DecodeOptions(
        strategy=strategy, max_words=max_words, min_words=min_words, num=num,
        beam_size=beam_size if beam_size is not None else max(DEFAULT_BEAM, num) if strategy == "beam" else DEFAULT_BEAM,
        temperature=1.0 if temperature is None else temperature, top_k=top_k, top_p=top_p,
        length_norm=length_norm, length_penalty=length_penalty, no_repeat_ngram=no_repeat_ngram,
        forbid=tuple(w.strip() for w in forbid.split(",") if w.strip()), allow_unk=allow_unk, seed=seed,
    )
    try:
        options.validate(spelling="cli")
    except InputError as e:
        raise click.UsageError(str(e)) from None

    texts = list(prompt_texts)
    names = [f"--prompt {i + 1}" for i in range(len(texts))]
    if prompts_file is not None:
        for number, text in read_lines(prompts_file):
            texts.append(text)
            names.append(where(prompts_file, number))
    if not texts:
        raise InputError(f"{where(prompts_file)}: no prompts (the file is empty)")
    lm = load_model(model)
    several = len(texts) > 1
    for lo in range(0, len(texts), batch_size):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = generate_batch(lm, texts[lo : lo + batch_size], options, names=names[lo : lo + batch_size])
        for w in caught:
            log(f"warning: {w.message}")
        for k, hyps in enumerate(results):
            _print_block(lo + k, hyps, several, as_json)


def _print_block(index: int, hyps, several: bool, as_json: bool) -> None:
    if as_json:
        for h in hyps:
            echo_json({"prompt": index, **h.to_json()} if several else h.to_json())
        return
    if several and index > 0:
        click.echo("")
    for h in hyps:
        click.echo(f"{h.text}\t{h.logprob:.4f}\t{h.score:.4f}")
