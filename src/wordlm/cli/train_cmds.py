"""`wordlm train`, `wordlm info`, `wordlm demo`."""

from __future__ import annotations

import click

from wordlm.cli import cli
from wordlm.cli.common import echo_json, handle_errors, import_tensorflow, log


# Options that decide the network and vocabulary: with --resume the saved model's own values apply.
ARCHITECTURE = {
    "framing": lambda c: c["framing"]["name"],
    "context": lambda c: c["framing"].get("context", 2),
    "tokenizer": lambda c: c["tokenizer"]["mode"],
    "lower": lambda c: c["tokenizer"]["lower"],
    "no_boundaries": lambda c: not c["framing"]["boundaries"],
    "embedding_dim": lambda c: c["size"]["embedding_dim"],
    "units": lambda c: c["size"]["units"],
    "layers": lambda c: c["size"]["layers"],
    "dropout": lambda c: c["size"]["dropout"],
    "reverse": lambda c: bool((c.get("info") or {}).get("reverse", False)),
}


@cli.command()
@click.argument("texts", nargs=-1, required=True, metavar="TEXT...")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Model directory to write (the best model so far is saved there after each epoch).")
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
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Rows (lines, or examples) per global batch, split across replicas with --distribute.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.001, show_default=True)
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True,
              help="cosine: decay to a tenth over the epochs (or --time-limit).")
@click.option("--lr-decay", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Multiply the learning rate by F after an epoch without a better validation perplexity.")
@click.option("--clipnorm", type=click.FloatRange(min=0, min_open=True), default=None, help="Clip the global gradient norm.")
@click.option("--valid", "valid", multiple=True, help="Validation text: perplexity each epoch.")
@click.option("--patience", type=click.IntRange(min=1), default=None, help="Stop after N epochs without a better validation perplexity (keeps the best).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop training after this long (the best model so far is kept).")
@click.option("--max-batch-tokens", type=click.IntRange(min=1), default=None,
              help="Bound rows x length of a batch of long lines (default: a 256 MiB logits tensor).")
@click.option("--jit/--no-jit", default=False, show_default=True, help="XLA-compile the training step.")
@click.option("--embeddings", type=click.Path(dir_okay=False), default=None, metavar="VECTORS",
              help="Initialise the embedding rows of covered words from a GloVe/word2vec text file (.gz too).")
@click.option("--freeze-embeddings", is_flag=True, help="Keep the --embeddings vectors fixed during training.")
@click.option("--reverse", is_flag=True, help="Train a backward model (predicts the previous word).")
@click.option("--context-tokens", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Running text: train on runs of consecutive lines of up to N tokens, so a line is read after "
                   "the lines before it (score with perplexity/score --context-tokens N). 0: lines are independent.")
@click.option("--sampled-softmax", type=click.IntRange(min=0), default=0, show_default=True, metavar="K",
              help="Train with a softmax over the targets and K sampled words (about 2x faster for K ~ 10% of a 10k "
                   "vocabulary), the full softmax for the last quarter of training. 0: full softmax throughout.")
@click.option("--tie-embeddings", is_flag=True,
              help="Use the embedding matrix as the output layer's weights (needs --embedding-dim = --units): "
                   "fewer parameters, better perplexity on small corpora.")
@click.option("--ema", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True, metavar="M",
              help="Validate, keep and save a moving average of the weights (momentum M per step, e.g. 0.999). "
                   "0: the weights as trained.")
@click.option("--resume", is_flag=True,
              help="Continue training the model in -o (its vocabulary, framing and network; new words become <unk>).")
@click.option("--distribute", type=click.Choice(["mirrored", "multi-worker"]), default=None,
              help="tf.distribute: mirrored over local devices, or multi-worker configured by TF_CONFIG.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@handle_errors
def train(texts, output, framing, context, tokenizer, lower, no_boundaries, min_count, max_vocab, embedding_dim,
          units, layers, dropout, epochs, batch_size, learning_rate, lr_schedule, lr_decay, clipnorm, valid, patience,
          time_limit, max_batch_tokens, jit, embeddings, freeze_embeddings, reverse, context_tokens, sampled_softmax,
          tie_embeddings, ema, resume,
          distribute, seed, quiet):
    """Train a model on TEXT files (plain, .gz, or - for stdin) and save it to a directory.

    Ctrl-C or SIGTERM stop training and leave the best model so far in the directory; --resume
    continues it.
    """
    import sys

    from wordlm.checkpoint import has_model
    from wordlm.errors import InputError

    if freeze_embeddings and not embeddings:
        raise click.UsageError("--freeze-embeddings needs --embeddings VECTORS")
    if resume and has_model(output):
        _check_resume_options(output, locals())
    import_tensorflow()
    from wordlm.model import ModelSize
    from wordlm.training import TrainConfig
    from wordlm.training import train as run_training

    if resume and has_model(output) and embeddings:
        raise InputError("--embeddings initialises a new model; a resumed model keeps its trained embeddings")
    config = TrainConfig(
        framing=framing, context=context, tokenizer=tokenizer, lower=lower, boundaries=not no_boundaries,
        min_count=min_count, max_vocab=max_vocab, size=ModelSize(embedding_dim, units, layers, dropout),
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, patience=patience,
        reverse=reverse, lr_decay=lr_decay, lr_schedule=lr_schedule, clipnorm=clipnorm, time_limit=time_limit,
        max_batch_tokens=max_batch_tokens, jit_compile=jit, embeddings=embeddings,
        freeze_embeddings=freeze_embeddings, distribute=distribute, context_tokens=context_tokens,
        sampled_softmax=sampled_softmax, tie_embeddings=tie_embeddings, ema=ema,
    )
    verbose = 0 if quiet else (1 if sys.stderr.isatty() else 2)
    lm = run_training(list(texts), config, valid=list(valid) or None, verbose=verbose, output=output, resume=resume)
    click.echo(f"vocabulary size: {lm.vocab.num_words}")
    click.echo(f"training examples: {lm.info['examples']}")
    if lm.framing.recurrent:
        click.echo(f"predicted tokens: {lm.info['predicted_tokens']}")
    if lm.info.get("best_valid_ppl") is not None:
        click.echo(f"validation perplexity: {lm.info['best_valid_ppl']:.2f}")
    if has_model(output):
        log(f"saved {output}")
    else:
        log("not saved here: in multi-worker training the chief (worker 0) writes the model")


def _check_resume_options(output, values) -> None:
    """With --resume, an architecture option given on the command line must match the saved model."""
    from wordlm.errors import InputError
    from wordlm.saving import read_config

    config = read_config(output)
    ctx = click.get_current_context()
    for name, saved in ARCHITECTURE.items():
        if ctx.get_parameter_source(name) != click.core.ParameterSource.COMMANDLINE:
            continue
        if values[name] != saved(config):
            option = "--" + name.replace("_", "-")
            raise InputError(f"{output}: {option} {values[name]} differs from the saved model's {saved(config)}; "
                             f"--resume continues the saved network (drop {option}, or train into a new directory)")


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
        "context_tokens": int((train_info.get("train_config") or {}).get("context_tokens") or 0),
        # The last run's choice: the output layer was trained as the embedding's transpose.
        "tied_embeddings": bool(((train_info.get("runs") or [{}])[-1]).get(
            "tie_embeddings", (train_info.get("train_config") or {}).get("tie_embeddings", False))),
        "vocab_words": vocab_size - 4,
        "vocab_size": vocab_size,
        "size": size.to_config(),
        "parameters": count_parameters(vocab_size, size),
        "corpus": train_info.get("corpus"),
        "examples": train_info.get("examples"),
        "epochs_run": train_info.get("epochs_run"),
        "epochs_total": train_info.get("epochs_total", train_info.get("epochs_run")),
        "runs": len(train_info.get("runs") or []) or None,
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
               + (", reverse" if summary["reverse"] else "")
               + (f", running text ({summary['context_tokens']} tokens)" if summary["context_tokens"] else ""))
    tok = summary["tokenizer"]
    click.echo(f"tokenizer:    {tok['mode']}{', lower-case' if tok['lower'] else ''}")
    click.echo(f"vocabulary:   {summary['vocab_words']} words (+4 reserved: <pad> <unk> <s> </s>)")
    click.echo(f"network:      embedding {size.embedding_dim}, {size.layers}x LSTM {size.units}, dropout {size.dropout}"
               + (", output layer tied to the embedding" if summary["tied_embeddings"] else ""))
    distinct = summary["parameters"] - size.units * vocab_size  # tied: the output kernel is a copy
    click.echo(f"parameters:   {summary['parameters']:,}"
               + (f" ({distinct:,} distinct: the output kernel is the embedding's transpose)"
                  if summary["tied_embeddings"] else ""))
    corpus = summary["corpus"]
    if corpus:
        click.echo(f"corpus:       {corpus['lines']:,} lines, {corpus['tokens']:,} tokens, OOV rate {corpus['oov_rate']:.2%} "
                   f"({', '.join(corpus['files'])})")
    runs = summary["runs"] or 1
    if summary["examples"] is not None:
        total = f"{summary['epochs_total']} epochs" + (f" in {runs} runs (last: {summary['epochs_run']})" if runs > 1 else "")
        click.echo(f"training:     {summary['examples']:,} examples, {total}")
    if summary["valid_ppl"] is not None:
        click.echo(f"validation:   perplexity {summary['valid_ppl']:.2f} (epoch {summary['best_epoch']}"
                   + (" of the last run)" if runs > 1 else ")"))


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
