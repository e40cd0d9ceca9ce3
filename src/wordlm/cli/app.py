"""The `wordlm` click group, `cli`, that every command module registers on, and `main`.

A leaf of the command line: it imports no command module (they import it; `cli/__init__.py` imports
them all, so the group is complete once `wordlm.cli` is imported).
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
