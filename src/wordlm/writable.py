"""Before long work: can a destination be created here? Checked by trying, not by permission bits.
And while writing: an operating-system error names the file being written (`naming`).

`check_writable(target, start, create, write)` walks up from `start` to the nearest existing
folder and creates (and removes) a hidden directory in it: permission bits say nothing for root,
`/proc` or a read-only mount. Errors are `InputError`s naming `target`. Used by `train -o`
(`training/checkpoint.py`) and `export` (`export/destination.py`); no TensorFlow needed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from wordlm.errors import InputError


def check_writable(target, start, create: str, write: str) -> None:
    """Raise unless a folder can be made beside/inside `start`'s nearest existing ancestor.

    `create`/`write`: what the messages call the thing ("the model directory" / "the model")."""
    existing = Path(start)
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{target}: cannot create {create}: {existing} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".wordlm-check-", dir=existing))
    except OSError as e:
        raise InputError(f"{target}: cannot write {write} in {existing}: {e.strerror or e}") from None


@contextlib.contextmanager
def naming(path):
    """Inside: an `OSError` that names no file gets `path` as its file name. A write that fails on a
    full disk (`ENOSPC`) raises from `write`, which knows no name; the CLI's one-line message then
    names the file being written (`goose/model-1a2b.keras: No space left on device`), never `<stdout>`."""
    try:
        yield
    except OSError as e:
        if e.filename is not None:
            raise
        raise type(e)(e.errno, e.strerror or str(e) or type(e).__name__, str(path)) from None
