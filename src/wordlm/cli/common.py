"""Helpers shared by the command modules: error conversion, model loading, output."""

from __future__ import annotations

import functools
import gc
import os
import sys

import click

from wordlm.errors import WordlmError


def handle_errors(fn):
    """The one place where errors become exit codes: library errors and operating-system errors on
    any file or stream are one line on stderr and exit code 1 (no traceback); a reader that closed
    stdout (`| head -1`) ends the command quietly with exit code 0; Ctrl-C (and SIGTERM
    during training) is 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
            sys.stdout.flush()  # a full disk shows here, not after the message could be written
            return result
        except WordlmError as e:
            raise click.ClickException(str(e).replace("\n", " ")) from None
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(0)
        except OSError as e:
            raise click.ClickException(os_error_message(e)) from None
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM during training: what was kept, in one line
            click.echo(str(e) or "interrupted", err=True)
            sys.exit(130)

    return wrapper


def os_error_message(e: OSError) -> str:
    """`path: reason` for an operating-system error (`<stdout>` when no file is named)."""
    name = e.filename if e.filename is not None else "<stdout>"
    return f"{name}: {e.strerror or e}"


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def ensure_standard_streams() -> None:
    """A closed stdout or stderr (`>&-`, `2>&-`) becomes /dev/null, so commands run and report
    through the other stream instead of failing silently; a closed stdin is reported when read."""
    for fd, name, mode in ((1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
            setattr(sys, name, open(fd, mode, closefd=False))


def check_inputs(paths) -> None:
    """Input files exist (`-` is stdin): checked before TensorFlow is imported, so errors are instant."""
    from wordlm.errors import InputError

    for path in paths:
        if path == "-" or os.path.isfile(path):
            continue
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, expected a text file")
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        # a device or a pipe (`/dev/null`, `<(zcat corpus.gz)`): read as a stream, like stdin


def load_model(path):
    """Load any model (`loading.load`: a model directory, a mixture file, a KenLM n-gram file),
    the files checked before TensorFlow starts; its network (a mixture's too) run by the runtime
    `--runtime` (else `$WORDLM_RUNTIME`) asks for (`wordlm.runtime`)."""
    from wordlm.loading import load

    lm = load(path, runtime=_runtime())
    # TensorFlow, Keras and the model are ~300,000 objects that live as long as the command: out of
    # the garbage collector's sight, its passes cost nothing per line scored (0.79 s → 0.49 s for
    # 50,000 one-word lines, benchmarks/robustness.md)
    gc.freeze()
    return lm


def _runtime() -> str:
    """The runtime `--runtime` (else `$WORDLM_RUNTIME`) asks for, "auto" resolved (`wordlm.runtime`)."""
    from wordlm.runtime import resolve

    ctx = click.get_current_context(silent=True)
    return resolve(ctx.meta.get("wordlm.runtime") if ctx is not None else None)


def runtime_option(fn):
    """`--runtime tensorflow|onnx|auto` on a command that loads a model (kept in the click context,
    where `load_model` reads it; nothing global changes)."""

    def remember(ctx, param, value):
        if value is not None:
            ctx.meta["wordlm.runtime"] = value
        return value

    return click.option("--runtime", type=click.Choice(["auto", "tensorflow", "onnx"]), default=None,
                        expose_value=False, callback=remember, is_eager=True,
                        help="What runs the network: ONNX Runtime (no TensorFlow start-up), TensorFlow, or "
                             "auto (ONNX Runtime when installed; default, or $WORDLM_RUNTIME).")(fn)


def echo_json(obj) -> None:
    """One JSON line on stdout: strict JSON, so a number that overflowed (inf, nan) is written as null."""
    from wordlm.jsonfile import dumps

    click.echo(dumps(obj))


def log(message: str) -> None:
    click.echo(message, err=True)


def import_tensorflow() -> None:
    """Import TensorFlow quietly (`wordlm.tf_quiet`), before the library imports it."""
    from wordlm.tf_quiet import import_tensorflow as quiet

    quiet()
