"""Helpers shared by the command modules: error conversion, model loading, output."""

from __future__ import annotations

import functools
import json
import sys

import click

from wordlm.errors import WordlmError


def handle_errors(fn):
    """Turn library errors into a one-line message and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WordlmError as e:
            raise click.ClickException(str(e).replace("\n", " ")) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def load_model(path):
    """Load a model directory (lazily importing TensorFlow)."""
    import_tensorflow()
    from wordlm.saving import load

    return load(path)


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


def log(message: str) -> None:
    click.echo(message, err=True)


def import_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up log lines (written before logging is set up) hidden.

    Called by commands that need TensorFlow, before the library imports it. Errors still show:
    only file descriptor 2 is silenced, and only during the import itself.
    """
    import os

    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
