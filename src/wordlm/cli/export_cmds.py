"""`wordlm export`: a saved model → a TensorFlow SavedModel for TensorFlow Serving (see `export/`), or
(`--format onnx`) its network as one ONNX file for other runtimes (`wordlm/runtime/onnx_graph.py`)."""

from __future__ import annotations

import os

import click

from wordlm.cli.app import cli
from wordlm.cli.common import handle_errors, import_tensorflow, load_model, log


@cli.command(epilog="Example: wordlm export atis-model models/atis/1")
@click.argument("model", type=click.Path())
@click.argument("out_dir", type=click.Path())
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many next words the next_words signature returns.")
@click.option("--format", "out_format", type=click.Choice(["savedmodel", "onnx"]), default="savedmodel",
              show_default=True, help="savedmodel: a TensorFlow SavedModel folder; onnx: the network as one "
                                      "ONNX file OUT_DIR (ids, lengths, state in; log-probs, state out).")
@click.option("--overwrite", is_flag=True,
              help="Replace OUT_DIR if it is a previous wordlm export (or empty), atomically; never anything else.")
@handle_errors
def export(model, out_dir, top, out_format, overwrite):
    """Write MODEL as a TensorFlow SavedModel with raw-string signatures `score` and `next_words`.

    The tokenizer and vocabulary are inside the graph: a client sends text. For TensorFlow
    Serving, export to a numbered version folder, e.g. `models/wordlm/1`. The export is checked
    against the library on a few probe sentences before it is renamed into place.
    """
    if out_format == "onnx":
        return _export_onnx(model, out_dir, overwrite)
    from wordlm.export.destination import check_destination

    check_destination(out_dir, overwrite, model_dir=model)  # before TensorFlow starts
    lm = load_model(model)
    if not lm.has_network:
        from wordlm.errors import InputError

        raise InputError(f"{model}: a mixture (or an n-gram file) cannot be exported as a SavedModel: its "
                         "components are not one network; export a wordlm model directory")
    import_tensorflow()
    if lm.keras_model is None:  # loaded under ONNX Runtime: the SavedModel is built from Keras
        from wordlm.loading import load

        lm = load(model, runtime="tensorflow")
    from wordlm.export import describe
    from wordlm.export import export as run_export

    summary = run_export(lm, out_dir, top=top, overwrite=overwrite)
    for line in describe(summary["top"]):
        click.echo(line)
    click.echo(f"checked against the library on {summary['probes']} probe sentences: "
               f"max |logprob difference| {summary['max_difference']:.2g}")
    log(f"exported {out_dir}")


def _export_onnx(model, out, overwrite) -> None:
    """The network as one ONNX file at `out` (no TensorFlow when the model loads under ONNX Runtime)."""
    from wordlm.errors import InputError
    from wordlm.files import check_output_path
    from wordlm.runtime.files import export_graph

    if os.path.exists(out) and not overwrite:
        raise InputError(f"{out}: exists; pass --overwrite to replace it")
    check_output_path(out, "ONNX file")
    lm = load_model(model)
    if not lm.has_network:
        raise InputError(f"{model}: a mixture (or an n-gram file) is not one network; export a wordlm model directory")
    export_graph(lm, out)
    log(f"exported {out} (ONNX opset 17; inputs ids, lengths, state, score_rows, targets, dist_rows)")
