"""The `wordlm` command line: a thin layer of options → one library call → output.

Data goes to stdout (text, or one JSON object per line with `--json`); progress, summaries and
logs go to stderr. Exit codes: 0 success, 1 a clear error about the input or the model (one line
on stderr, no traceback), 2 bad usage. TensorFlow is imported lazily, inside commands, so
`wordlm --help` answers at once. Each command group lives in its own module of this package.
"""

from __future__ import annotations

import os
import warnings

import click

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
warnings.filterwarnings("ignore", category=UserWarning, module=r"keras(\.|$)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wordlm")
def cli():
    """Word-based neural language models: train, score, rerank n-best lists, generate."""


def main():
    from wordlm.cli.common import ensure_standard_streams

    ensure_standard_streams()
    cli()


# Command modules register themselves on `cli` when imported.
from wordlm.cli import decode_cmds, export_cmds, mix_cmds, rerank_cmds, score_cmds, serve_cmds, train_cmds  # noqa: E402,F401,E501
from wordlm.cli import lattice_cmds  # noqa: E402,F401
