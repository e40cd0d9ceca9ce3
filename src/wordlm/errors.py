"""Typed errors. The library raises these; only the CLI turns them into exit codes.

`WordlmError` (and subclasses) mean "the input or the model is wrong" and map to exit code 1
with a one-line message; messages name the file and line (or utterance) where there is one.
"""


class WordlmError(Exception):
    """A clear, user-facing error: the message is shown as is, on one line."""


class InputError(WordlmError):
    """Bad input data: an unreadable, empty or malformed file, a bad prompt."""


class ModelError(WordlmError):
    """A model directory that is missing, corrupt, unsafe or of an unknown format."""


class TrainingDiverged(WordlmError):
    """Training stopped because the loss or the weights stopped being finite (never saved)."""


def where(path, line=None) -> str:
    """Format a location as `path:line` (or just `path`) for error messages."""
    path = "<stdin>" if path in (None, "-") else str(path)
    return f"{path}:{line}" if line is not None else path
