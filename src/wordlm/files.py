"""File utilities, a leaf: atomic writes and the checks made on a destination before long work.

- `write_atomic(path, data)`: a temporary file in the same folder, fsync, rename (a device, a pipe or
  a symlink is written through instead);
- `check_output_path(path, what)`: a file can be written at `path` (checked before the work starts);
- `check_writable(target, start, create, write)`: a folder can be created beside/inside `start`'s
  nearest existing ancestor (tried, not read from permission bits);
- `naming(path)`: while writing, an operating-system error that names no file (a full disk) names
  `path`, so the CLI's one-line message says which file, never `<stdout>`.

Imports nothing of wordlm's but `errors`. Not here: model directories (`saving.py`), locks
(`locking.py`), mixture files (`mixture/file.py`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from wordlm.errors import InputError


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to `path` via a temporary file in the same folder, fsync, then rename.

    A symlink, a device or a pipe (`/dev/stdout`, `/dev/full`) is written through, opened and
    written in place, never replaced by a new file (the link, or whatever holds the other end of
    the descriptor, keeps its file); only a plain file or a new name gets the atomic rename.
    """
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        with naming(path), open(path, "wb") as f:
            f.write(data)
        return
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with naming(path), open(tmp, "wb") as f:  # a full disk names the file being written
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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


def check_output_path(path, what: str = "output") -> Path:
    """Raise InputError unless a file can be written at `path` (checked before the work starts)."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    if target.is_dir():
        raise InputError(f"{path}: is a directory (the {what} is a file)")
    if target.exists() and not target.is_file():
        if not os.access(target, os.W_OK):
            raise InputError(f"{path}: not writable")
        return path
    parent = target.parent
    if not parent.is_dir():
        reason = "is not a directory" if parent.exists() else "does not exist"
        raise InputError(f"{path}: cannot write the {what}: the folder {parent} {reason}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{path}: cannot write the {what}: the folder {parent} is not writable")
    return path


def check_writable(target, start, create: str, write: str) -> None:
    """Raise unless a folder can be made beside/inside `start`'s nearest existing ancestor: walks up
    from `start` to the nearest existing folder and creates (and removes) a hidden directory in it
    (permission bits say nothing for root, `/proc` or a read-only mount). Used by `train -o` and
    `export`. `create`/`write`: what the messages call the thing ("the model directory" / "the model")."""
    existing = Path(start)
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{target}: cannot create {create}: {existing} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".wordlm-check-", dir=existing))
    except OSError as e:
        raise InputError(f"{target}: cannot write {write} in {existing}: {e.strerror or e}") from None


def model_kind(path) -> str:
    """What kind of model a path names, from the path alone (no file is parsed): `"mixture"` for a
    `.json` file (`wordlm mix`), `"ngram"` for any other file (an ARPA or KenLM binary file),
    `"directory"` otherwise (a model directory; a path that does not exist is reported as a missing
    model directory when read). The one rule: `loading.load`, the mixture's components and the CLI ask it."""
    if os.path.isdir(path):
        return "directory"
    if str(path).endswith(".json"):
        return "mixture"
    return "ngram" if os.path.isfile(path) else "directory"
