"""Before long work: can a destination be created here? Checked by trying, not by permission bits.

`check_writable(target, start, create, write)` walks up from `start` to the nearest existing
folder and creates (and removes) a hidden directory in it: permission bits say nothing for root,
`/proc` or a read-only mount. Errors are `InputError`s naming `target`. Used by `train -o`
(`training/checkpoint.py`) and `export` (`export/destination.py`); no TensorFlow needed.
"""

from __future__ import annotations

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
