"""One writer at a time per model directory or export destination: `hold(path)`.

A writer (`train -o`, `save`, `export`) holds an exclusive `flock` on a lock file for as long as
it writes: `DIR/.wordlm.lock` for a model directory, `PARENT/.wordlm-export-NAME.lock` beside an
export destination. A second writer fails at once with `InputError` naming the holder's process
(its pid and command line, which the holder writes into the lock file). The lock is the kernel's:
it goes away with the process, however it dies, so there is no stale lock to clean up.
Holding is re-entrant within a process (a training run holds the directory; each checkpoint's
`save` inside it holds it again).

Readers take no lock: a save publishes its new weights file first, then replaces `wordlm.json`
(the commit point), then removes the previous weights file; `saving.load` re-reads `wordlm.json`
when the weights file it named is gone, so a reader sees the old model or the new, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
from pathlib import Path

from wordlm.errors import InputError

_HELD: dict[str, list] = {}  # lock file → [open file, depth] held by this process


def lock_file(path, export: bool = False) -> Path:
    path = Path(path)
    return path.parent / f".wordlm-export-{path.name}.lock" if export else path / ".wordlm.lock"


_NOTE = re.compile(r"pid \d+: [^\x00-\x1f\x7f]*")  # what a holder writes: `pid 123: wordlm train …`


def _holder(lock: Path) -> str:
    """The holder's note from the lock file (`pid 123: wordlm train …`), or words saying it left none:
    the file is anyone's to write, so anything but a note of the expected shape is not shown."""
    try:
        with open(lock, "rb") as f:
            first = f.read(4096).decode("utf-8", "replace").split("\n", 1)[0].strip()
    except OSError:
        first = ""
    return first if _NOTE.fullmatch(first) else "it left no readable note of its pid"


@contextlib.contextmanager
def hold(path, export: bool = False, what: str = "model"):
    """Hold the write lock of the model directory (or, `export`, the export destination) `path`.

    The directory (for an export, its parent) must exist. Raises `InputError` when another process holds it."""
    lock = lock_file(path, export)
    key = str(lock.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    try:
        f = open(lock, "a+", encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot create the lock file {lock.name}: {e.strerror or e}") from None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(lock)
        f.close()
        raise InputError(f"{path}: locked by another process ({holder}), which is writing this {what}; "
                         f"wait for it to finish, or write to another directory") from None
    try:
        try:
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()}: {' '.join(sys.argv)[:200]}\n")
            f.flush()
        except OSError as e:  # a full disk: say so now, naming the file, before any long work
            raise InputError(f"{lock}: cannot write the lock file: {e.strerror or e}") from None
        _HELD[key] = [f, 1]
        yield
    finally:
        _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            f.seek(0)
            f.truncate()  # no stale holder text for the next writer's message
        with contextlib.suppress(OSError):  # a note a full disk refused: the file closes all the same
            f.close()  # releases the flock
