"""`wordlm train`, `wordlm info`, `wordlm demo`."""

from __future__ import annotations

import click

from wordlm.cli import cli
from wordlm.cli.common import echo_json, handle_errors, import_tensorflow, log


@cli.command()
@click.argument("texts", nargs=-1, required=True, metavar="TEXT...")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False), help="Model directory to write.")
@click.option("--framing", type=click.Choice(["sequence", "line", "window", "word", "char"]), default="sequence", show_default=True)
@click.option("--context", type=click.IntRange(min=1), default=2, show_default=True, help="Words of context for --framing window.")
@click.option("--tokenizer", type=click.Choice(["keras", "whitespace"]), default="keras", show_default=True)
@click.option("--lower/--no-lower", default=True, show_default=True, help="Lower-case the text.")
@click.option("--no-boundaries", is_flag=True, help="No <s>/</s> markers: the tutorial's data preparation.")
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True, help="Rarer words become <unk>.")
@click.option("--max-vocab", type=click.IntRange(min=1), default=None, help="Keep only the N most frequent words.")
@click.option("--embedding-dim", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--units", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.001, show_default=True)
@click.option("--valid", "valid", multiple=True, help="Validation text: perplexity each epoch.")
@click.option("--patience", type=click.IntRange(min=1), default=None, help="Stop after N epochs without a better validation perplexity (keeps the best).")
@click.option("--reverse", is_flag=True, help="Train a backward model (predicts the previous word).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@handle_errors
def train(texts, output, framing, context, tokenizer, lower, no_boundaries, min_count, max_vocab, embedding_dim,
          units, layers, dropout, epochs, batch_size, learning_rate, valid, patience, reverse, seed, quiet):
    """Train a model on TEXT files (plain, .gz, or - for stdin) and save it to a directory."""
    import sys

    import_tensorflow()
    from wordlm.model import ModelSize
    from wordlm.saving import save
    from wordlm.training import TrainConfig
    from wordlm.training import train as run_training

    config = TrainConfig(
        framing=framing, context=context, tokenizer=tokenizer, lower=lower, boundaries=not no_boundaries,
        min_count=min_count, max_vocab=max_vocab, size=ModelSize(embedding_dim, units, layers, dropout),
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, patience=patience,
        reverse=reverse,
    )
    verbose = 0 if quiet else (1 if sys.stderr.isatty() else 2)
    lm = run_training(list(texts), config, valid=list(valid) or None, verbose=verbose)
    save(lm, output)
    click.echo(f"vocabulary size: {lm.vocab.num_words}")
    click.echo(f"training examples: {lm.info['examples']}")
    if lm.framing.recurrent:
        click.echo(f"predicted tokens: {lm.info['predicted_tokens']}")
    if lm.info.get("best_valid_ppl") is not None:
        click.echo(f"validation perplexity: {lm.info['best_valid_ppl']:.2f}")
    log(f"saved {output}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@handle_errors
def info(model, as_json):
    """Describe a saved model: framing, vocabulary, sizes, training corpus, validation perplexity."""
    from wordlm.model import ModelSize, count_parameters
    from wordlm.saving import read_config

    config = read_config(model)
    size = ModelSize.from_config(config["size"])
    vocab_size = len(config["vocab"]["words"]) + 4
    train_info = config.get("info") or {}
    summary = {
        "framing": config["framing"],
        "tokenizer": config["tokenizer"],
        "reverse": bool(train_info.get("reverse", False)),
        "vocab_words": vocab_size - 4,
        "vocab_size": vocab_size,
        "size": size.to_config(),
        "parameters": count_parameters(vocab_size, size),
        "corpus": train_info.get("corpus"),
        "examples": train_info.get("examples"),
        "epochs_run": train_info.get("epochs_run"),
        "best_epoch": train_info.get("best_epoch"),
        "valid_ppl": train_info.get("best_valid_ppl"),
        "format_version": config["format_version"],
    }
    if as_json:
        echo_json(summary)
        return
    fr = summary["framing"]
    extra = f", context {fr['context']}" if fr["name"] == "window" else ""
    extra += f", max length {fr['max_length']}" if fr["name"] == "line" else ""
    click.echo(f"framing:      {fr['name']}{extra}, boundaries {'on' if fr['boundaries'] else 'off'}"
               + (", reverse" if summary["reverse"] else ""))
    tok = summary["tokenizer"]
    click.echo(f"tokenizer:    {tok['mode']}{', lower-case' if tok['lower'] else ''}")
    click.echo(f"vocabulary:   {summary['vocab_words']} words (+4 reserved: <pad> <unk> <s> </s>)")
    click.echo(f"network:      embedding {size.embedding_dim}, {size.layers}x LSTM {size.units}, dropout {size.dropout}")
    click.echo(f"parameters:   {summary['parameters']:,}")
    corpus = summary["corpus"]
    if corpus:
        click.echo(f"corpus:       {corpus['lines']:,} lines, {corpus['tokens']:,} tokens, OOV rate {corpus['oov_rate']:.2%} "
                   f"({', '.join(corpus['files'])})")
    if summary["examples"] is not None:
        click.echo(f"training:     {summary['examples']:,} examples, {summary['epochs_run']} epochs")
    if summary["valid_ppl"] is not None:
        click.echo(f"validation:   perplexity {summary['valid_ppl']:.2f} (epoch {summary['best_epoch']})")


@cli.command()
@click.option("--epochs", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--seed", type=int, default=4, show_default=True)
@handle_errors
def demo(epochs, seed):
    """Train the tutorial's framings on the bundled rhyme and show what each learned."""
    import_tensorflow()
    from wordlm.demo import rhyme_path, run_demo

    log(f"training 4 models on the tutorial's rhyme ({rhyme_path()}), {epochs} epochs each ...")
    results = run_demo(epochs=epochs, seed=seed)
    for r in results:
        click.echo(f"{r.framing} framing: vocabulary {r.vocab_words}, {r.examples} training examples, "
                   f"trained in {r.seconds:.1f} s")
        nxt = ", ".join(f"{w} ({p:.2f})" for w, p in r.next_words)
        click.echo(f"  next after {r.next_prompt!r}: {nxt}")
        for prompt, line in r.lines.items():
            click.echo(f"  greedy from {prompt!r}: {line}")
