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
    """Import TensorFlow quietly (`wordlm.tf_quiet`), before the library imports it."""
    from wordlm.tf_quiet import import_tensorflow as quiet

    quiet()
