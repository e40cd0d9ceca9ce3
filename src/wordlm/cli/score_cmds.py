"""`wordlm score`, `wordlm perplexity`, `wordlm next`, `wordlm fill`: options in, scoring.py out.

Numbers are natural-log log-probabilities (`</s>` counted, `<s>` never predicted; see scoring.py);
`--base 2|10` changes only what text output prints; JSON is always natural log. `score` streams:
it reads `--batch-size` lines, scores them, prints one line per input line, and repeats, so memory
stays bounded whatever the file's size. `--shard K/N` scores lines K, K+N, K+2N, … (0-based) and
`--summary FILE` writes the shard's totals; `perplexity --merge` adds such summaries exactly.
"""

from __future__ import annotations

import json
import math

import click

from wordlm.cli.app import cli
from wordlm.cli.common import check_inputs, echo_json, handle_errors, load_model, log, runtime_option
from wordlm.text import READ_LINES

BASES = {"e": 1.0, "2": math.log(2), "10": math.log(10)}
BASE_NAMES = {"e": "ln", "2": "log2", "10": "log10"}


def _shard(ctx, param, value):
    if value is None:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"expected K/N (e.g. 0/4), got {value!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise click.BadParameter(f"expected 0 <= K < N, got {value!r}")
    return k, n


def _scoring_options(fn):
    """--no-bos, --no-eos, --oov, --base, --batch-size, --shard, --context-tokens (score and perplexity)."""
    for option in reversed([
        click.option("--no-bos", is_flag=True, help="No <s> before the first word: it becomes context only."),
        click.option("--no-eos", is_flag=True, help="Do not predict </s> at the end of the line."),
        click.option("--oov", type=click.Choice(["unk", "skip"]), default="unk", show_default=True,
                     help="unk: score OOV words as <unk>; skip: they add nothing and are not counted (SRILM)."),
        click.option("--base", type=click.Choice(list(BASES)), default="e", show_default=True,
                     help="Base of the printed log-probabilities (text output only; JSON is natural log)."),
        click.option("--batch-size", type=click.IntRange(min=1, max=100_000), default=READ_LINES, show_default=True,
                     help="Lines read and scored at a time."),
        click.option("--shard", callback=_shard, metavar="K/N",
                     help="Score only lines K, K+N, K+2N, ... (0-based K): one of N shards."),
        click.option("--context-tokens", type=click.IntRange(min=0, max=4096), default=0, show_default=True, metavar="N",
                     help="Running text: read each line after the whole lines before it in its file that fit, "
                          "with it, in N tokens (a model trained with --context-tokens). 0: lines are independent."),
    ]):
        fn = option(fn)
    return fn


def _check_base(as_json, base):
    if as_json and base != "e":
        raise click.UsageError("--base changes only the text output; JSON log-probabilities are natural log")


def _fmt(x, base="e") -> str:
    return "n/a" if x is None else f"{x / BASES[base]:.6g}"


def _summary_lines(summary, base) -> list[str]:
    """SRILM's two lines (logprob in the chosen base, named), plus per-character figures."""
    js = summary.to_json()
    lines = [f"{js['sentences']} sentences, {js['words']} words, {js['oovs']} OOVs",
             f"logprob= {_fmt(js['logprob'], base)} ppl= {_fmt(js['ppl'])} ppl1= {_fmt(js['ppl1'])}"
             f" (logprob in {BASE_NAMES[base]})"]
    if summary.unit == "char":
        lines.append(f"{js['chars']} characters: char_ppl= {_fmt(js['char_ppl'])} bpc= {_fmt(js['bpc'])}")
    return lines


def _score_files(lm, paths, options, batch_size, shard, emit=None, context_tokens=0):
    from wordlm.progress import Progress, count_lines
    from wordlm.scoring import new_summary
    from wordlm.scoring.sentences import score_file_batches

    if context_tokens and shard is not None:
        raise click.UsageError("--context-tokens reads each line after the lines before it: not with --shard")
    lines = count_lines(paths)  # None for stdin: no total, no ETA
    if lines is not None and shard is not None:
        k, n = shard
        lines = max(0, (lines - k + n - 1) // n)
    summary = new_summary(lm, options)
    progress = Progress("scored", ("lines", "words"), rate="words", total={"lines": lines})
    try:
        for batch in score_file_batches(lm, paths, options, batch_size, shard, context_tokens):
            summary.add_all(batch)
            progress.add(lines=len(batch), words=int(batch.words.sum()))
            if emit:
                for s in batch:
                    emit(s)
    finally:
        progress.close()
    return summary


@cli.command(epilog="Example: wordlm score rhyme sentences.txt --per-token")
@click.argument("model", type=click.Path())
@click.argument("text", default="-", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--per-token", is_flag=True, help="Also each token's log-probability.")
@_scoring_options
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False),
              help="Also write the corpus summary as JSON to this file (for perplexity --merge).")
@click.option("--format", "out_format", type=click.Choice(["text", "srilm"]), default="text", show_default=True,
              help="srilm: what SRILM's `ngram -ppl -debug 2` prints (per-word p( w | h ) lines, log10; "
                   "compute-best-mix reads it), all on stdout.")
@runtime_option
@handle_errors
def score(model, text, as_json, per_token, no_bos, no_eos, oov, base, batch_size, shard, context_tokens, summary_path,
          out_format):
    """Score each line of TEXT (a path, .gz, or - for stdin; stdin when TEXT is omitted): one output line per input line.

    Text output: logprob, words, OOVs, ppl, the line, tab-separated (with --per-token, then
    token=logprob pairs; `ctx` marks a context-only token, `skip` a skipped OOV). The corpus
    summary goes to stderr.
    """
    _check_base(as_json, base)
    from wordlm.files import check_output_path, write_atomic
    from wordlm.scoring import Options

    check_inputs([text])  # before TensorFlow starts: a missing file or folder fails at once
    if summary_path:
        check_output_path(summary_path, "summary")
    _check_format(out_format, as_json, per_token, base)
    lm = load_model(model)
    options = Options(bos=not no_bos, eos=not no_eos, oov=oov)
    char = lm.tokenizer.mode == "char"
    if out_format == "srilm":
        _srilm(lm, [text], options, batch_size, shard, context_tokens, summary_path)
        return

    def emit(s):
        if as_json:
            echo_json(s.to_json(per_token))
            return
        fields = [_fmt(s.logprob, base), str(s.words), str(s.oovs), _fmt(s.ppl), _escaped(s.text)]
        if per_token:
            fields.append(" ".join(f"{_token(t, char)}={_token_value(lp, s, k, base)}"
                                   for k, (t, lp) in enumerate(zip(s.tokens, s.logprobs))))
        click.echo("\t".join(fields))

    summary = _score_files(lm, [text], options, batch_size, shard, emit, context_tokens)
    if summary_path:
        write_atomic(summary_path, (json.dumps(summary.to_json()) + "\n").encode())
    if as_json:
        click.echo(json.dumps(summary.to_json()), err=True)
    else:
        for line in _summary_lines(summary, base):
            log(line)


def _check_format(out_format, as_json, per_token=False, base="e"):
    if out_format == "srilm" and (as_json or per_token or base != "e"):
        raise click.UsageError("--format srilm prints SRILM's own layout (per-word lines, log10): "
                               "not with --json, --per-token or --base")


def _srilm(lm, paths, options, batch_size, shard, context_tokens, summary_path=None):
    """`ngram -ppl -debug 2` for each file: a block per sentence, then the file's totals."""
    from wordlm.scoring import srilm

    kind = "mixture" if lm.scores_text else "wordlm"
    summaries = []
    for path in paths:
        emit = lambda s: click.echo("\n".join(srilm.sentence_lines(s, kind)))  # noqa: E731
        summary = _score_files(lm, [path], options, batch_size, shard, emit, context_tokens)
        for line in srilm.summary_lines(summary, "-" if path == "-" else path):
            click.echo(line)
        summaries.append(summary)
    if summary_path:
        from wordlm.files import write_atomic

        total = summaries[0]
        for other in summaries[1:]:
            total.merge(other)
        write_atomic(summary_path, (json.dumps(total.to_json()) + "\n").encode())


def _escaped(text: str) -> str:
    """The line as a TSV field: TAB, CR, LF and backslash escaped as `rerank` writes them
    (`nbest.tsv_escape`), so that the line stays the last of five columns."""
    if "\t" in text or "\r" in text or "\\" in text or "\n" in text:
        from wordlm.nbest import tsv_escape

        return tsv_escape(text)
    return text


def _token(token, char):
    if char and token == " ":
        return "▁"
    return _escaped(token) if char else token


def _token_value(lp, s, k, base):
    if not math.isnan(lp):
        return _fmt(float(lp), base)
    return "ctx" if k < s.context else "skip"


@cli.command(epilog="Example: wordlm perplexity goose ../shared/data/toy/mother_goose.txt --json")
@click.argument("model", type=click.Path())
@click.argument("texts", nargs=-1, required=True, metavar="TEXT...")
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON object.")
@click.option("--merge", is_flag=True,
              help="TEXT... are summary JSON files (score --summary, perplexity --json): add them up.")
@_scoring_options
@click.option("--format", "out_format", type=click.Choice(["text", "srilm"]), default="text", show_default=True,
              help="srilm: SRILM's `ngram -ppl -debug 2` output (every sentence's per-word lines, then each file's totals).")
@runtime_option
@handle_errors
def perplexity(model, texts, as_json, merge, no_bos, no_eos, oov, base, batch_size, shard, context_tokens, out_format):
    """Corpus perplexity of TEXT... (SRILM's `N sentences, W words, O OOVs` / `logprob= ppl= ppl1=`).

    ppl = exp(-L / (W - skipped OOVs + S)); ppl1 leaves </s> out of the count. With --merge the
    totals of several summaries add up exactly (merged shards equal the unsharded run).
    """
    _check_base(as_json, base)
    from wordlm.scoring import Options

    if merge:
        from wordlm.scoring import merge_summaries

        summary = merge_summaries(texts)
    elif out_format == "srilm":
        _check_format(out_format, as_json, base=base)
        check_inputs(texts)
        _srilm(load_model(model), list(texts), Options(bos=not no_bos, eos=not no_eos, oov=oov), batch_size, shard,
               context_tokens)
        return
    else:
        check_inputs(texts)
        lm = load_model(model)
        summary = _score_files(lm, list(texts), Options(bos=not no_bos, eos=not no_eos, oov=oov), batch_size, shard,
                               context_tokens=context_tokens)
    if as_json:
        echo_json(summary.to_json())
    else:
        for line in _summary_lines(summary, base):
            click.echo(line)


@cli.command("next", epilog='Example: wordlm next rhyme --prompt "jack and jill went" --top 4')
@click.argument("model", type=click.Path())
@click.option("--prompt", default="", show_default=True, help="The beginning of a line (for a --reverse model: its end).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many words to print, most likely first.")
@click.option("--candidates", help="Comma-separated continuations to score instead (one or more words each).")
@click.option("--prefix", metavar="LETTERS",
              help="Only words that start with LETTERS (complete the word being typed), ranked by the model.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per word.")
@runtime_option
@handle_errors
def next_cmd(model, prompt, top, candidates, prefix, as_json):
    """The most likely next words after --prompt (</s> and <unk> included), or the --candidates' scores."""
    from wordlm.scoring import continuation_logprobs, next_words

    if candidates is not None and prefix is not None:
        raise click.UsageError("--prefix filters the ranked next words: not with --candidates")
    lm = load_model(model)
    if candidates is not None:
        words = [c.strip() for c in candidates.split(",")]
        for w in words:
            oov = [t for t in lm.tokens(w) if t != "</s>" and lm.vocab.is_oov(t)]
            if oov:
                log(f"warning: {', '.join(oov)} not in the vocabulary: scored as <unk>")
        scores = continuation_logprobs(lm, prompt, words)
        ranked = sorted(zip(words, scores), key=lambda ws: -ws[1])
    else:
        ranked = next_words(lm, prompt, top, prefix)
    for word, lp in ranked:
        if as_json:
            echo_json({"word": word, "logprob": lp, "prob": math.exp(lp)})
        else:
            click.echo(f"{word}\t{lp:.6g}\t{math.exp(lp):.6g}")


@cli.command(epilog='Example: wordlm fill rhyme "and jill came ___ after" --top 3')
@click.argument("model", type=click.Path())
@click.argument("sentence")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many words to print, most likely first.")
@click.option("--backward-model", type=click.Path(), help="A model trained with --reverse: average both models' scores.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per word.")
@runtime_option
@handle_errors
def fill(model, sentence, top, backward_model, as_json):
    """Rank vocabulary words for the ___ in SENTENCE by the whole sentence's log-probability.

    Columns: word, ln p(filled sentence), p(word | rest of the sentence), the filled sentence.
    """
    from wordlm.scoring import fill as fill_blank

    lm = load_model(model)
    backward = load_model(backward_model) if backward_model else None
    for f in fill_blank(lm, sentence, top, backward):
        if as_json:
            echo_json(f.to_json())
        else:
            click.echo(f"{f.word}\t{f.logprob:.6g}\t{f.prob:.6g}\t{f.text}")

