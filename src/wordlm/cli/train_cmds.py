"""`wordlm train`, `wordlm info`, `wordlm demo`."""

from __future__ import annotations

import os

import click

from wordlm.cli.app import cli
from wordlm.cli.common import check_inputs, echo_json, handle_errors, import_tensorflow, log


@cli.command(epilog="Example: wordlm train src/wordlm/data/rhyme.txt -o rhyme --epochs 200 --units 32")
@click.argument("texts", nargs=-1, required=True, metavar="TEXT...")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Model directory to write (the best model so far is saved there after each epoch: without --valid at most once a second).")
@click.option("--framing", type=click.Choice(["sequence", "line", "window", "word", "char"]), default="sequence", show_default=True,
              help="What an example is: sequence (whole lines, one LSTM pass), line (growing prefixes), window (N words in), word (one word in), char.")
@click.option("--context", type=click.IntRange(min=1), default=2, show_default=True, help="Words of context for --framing window.")
@click.option("--tokenizer", type=click.Choice(["keras", "whitespace"]), default="keras", show_default=True,
              help="keras: Keras's old Tokenizer rules (punctuation dropped); whitespace: split on spaces only.")
@click.option("--lower/--no-lower", default=True, show_default=True, help="Lower-case the text.")
@click.option("--no-boundaries", is_flag=True, help="No <s>/</s> markers: the tutorial's data preparation.")
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True, help="Rarer words become <unk>.")
@click.option("--max-vocab", type=click.IntRange(min=1), default=None, help="Keep only the N most frequent words.")
@click.option("--embedding-dim", type=click.IntRange(min=1), default=64, show_default=True,
              help="Size of each word's embedding vector.")
@click.option("--units", type=click.IntRange(min=1), default=128, show_default=True,
              help="LSTM units per layer (the size of the hidden state).")
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Stacked LSTM layers.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="Dropout rate on the embedding and LSTM outputs during training, in [0, 1).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Passes over the training text.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Rows (lines, or examples) per global batch, split across replicas with --distribute.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.001, show_default=True,
              help="Adam's learning rate.")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True,
              help="cosine: decay to a tenth over the epochs (or --time-limit).")
@click.option("--lr-decay", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Multiply the learning rate by F after an epoch without a better validation perplexity.")
@click.option("--clipnorm", type=click.FloatRange(min=0, min_open=True), default=None, help="Clip the global gradient norm.")
@click.option("--valid", "valid", multiple=True, metavar="FILE", help="Held-out text (path, .gz or -): its exact perplexity after each epoch; repeatable.")
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
@click.option("--overwrite", is_flag=True, help="Replace a trained model already in -o (without it, that is an error).")
@click.option("--distribute", type=click.Choice(["mirrored", "multi-worker"]), default=None,
              help="tf.distribute: mirrored over local devices, or multi-worker configured by TF_CONFIG.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for initialisation and shuffling, in [0, 2^32): the same seed gives the same model on one machine.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@handle_errors
def train(texts, output, framing, context, tokenizer, lower, no_boundaries, min_count, max_vocab, embedding_dim,
          units, layers, dropout, epochs, batch_size, learning_rate, lr_schedule, lr_decay, clipnorm, valid, patience,
          time_limit, max_batch_tokens, jit, embeddings, freeze_embeddings, reverse, context_tokens, sampled_softmax,
          tie_embeddings, ema, resume, overwrite, distribute, seed, quiet):
    """Train a model on TEXT files (plain, .gz, or - for stdin) and save it to a directory.

    Ctrl-C or SIGTERM stop training and leave the best model so far in the directory; --resume
    continues it.
    """
    import sys

    from wordlm.errors import InputError
    from wordlm.model import ModelSize
    from wordlm.training.checkpoint import check_destination, has_model
    from wordlm.training.config import TrainConfig, check_resume

    config = TrainConfig(
        framing=framing, context=context, tokenizer=tokenizer, lower=lower, boundaries=not no_boundaries,
        min_count=min_count, max_vocab=max_vocab, size=ModelSize(embedding_dim, units, layers, dropout),
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, patience=patience,
        reverse=reverse, lr_decay=lr_decay, lr_schedule=lr_schedule, clipnorm=clipnorm, time_limit=time_limit,
        max_batch_tokens=max_batch_tokens, jit_compile=jit, embeddings=embeddings,
        freeze_embeddings=freeze_embeddings, distribute=distribute, context_tokens=context_tokens,
        sampled_softmax=sampled_softmax, tie_embeddings=tie_embeddings, ema=ema,
    )
    try:
        config.validate(spelling="cli")
    except InputError as e:  # a bad option value or combination: a usage error (exit 2)
        raise click.UsageError(str(e)) from None
    check_inputs([*texts, *valid, *([embeddings] if embeddings else [])])
    check_destination(output, resume=resume, overwrite=overwrite)
    if resume and has_model(output):
        from wordlm.saving import read_config

        ctx = click.get_current_context()
        given = {name: value for name, value in locals().items()
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
        check_resume(output, read_config(output), given)
    if os.path.isdir(output):  # another writer there is refused now, not after TensorFlow's start-up
        from wordlm.locking import hold

        click.get_current_context().with_resource(hold(output))
    import_tensorflow()
    from wordlm.training.loop import train as run_training

    verbose = 0 if quiet else (1 if sys.stderr.isatty() else 2)
    lm = run_training(list(texts), config, valid=list(valid) or None, verbose=verbose, output=output, resume=resume,
                      overwrite=overwrite, spelling="cli")
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


@cli.command(epilog="Example: wordlm info goose --json")
@click.argument("model", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@handle_errors
def info(model, as_json):
    """Describe a saved model: framing, vocabulary, sizes, training corpus, validation perplexity."""
    from wordlm.describe import describe, describe_lines
    from wordlm.mixture.file import is_mixture_file
    from wordlm.saving import read_config

    if is_mixture_file(model):  # a mixture: its components and weights, as the file says
        from wordlm.mixture import read

        spec = read(model)
        if as_json:
            echo_json(spec.to_json())
            return
        click.echo(f"mixture:      {len(spec.components)} components, linear interpolation per word")
        for c in spec.components:
            click.echo(f"  {c.weight:<10.6g}  {c.kind:7} {spec.resolve(c)}")
        if spec.tuned:
            click.echo(f"tuned:        EM on {spec.tuned.get('on')}: held-out ppl {spec.tuned.get('ppl'):.6g}")
        return
    summary = describe(read_config(model))
    if as_json:
        echo_json(summary)
        return
    for line in describe_lines(summary):
        click.echo(line)


@cli.command(epilog="Example: wordlm demo --epochs 100 --seed 4")
@click.option("--epochs", type=click.IntRange(min=1), default=500, show_default=True,
              help="Training epochs for each framing (the tutorial's 500).")
@click.option("--seed", type=int, default=4, show_default=True,
              help="Seed for every model (the shown outputs come from seed 4).")
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
