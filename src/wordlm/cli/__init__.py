"""The `wordlm` command line: a thin layer of options → one library call → output.

Data goes to stdout (text, or one JSON object per line with `--json`); progress, summaries and
logs go to stderr. Exit codes: 0 success, 1 a clear error about the input or the model (one line
on stderr, no traceback), 2 bad usage. TensorFlow is imported lazily, inside commands, so
`wordlm --help` answers at once. The group is `app.py`'s `cli`; each command group lives in its own
module, which registers on it (`from wordlm.cli.app import cli`, never `from wordlm.cli import cli`:
that would be an import circle, `tests/test_import_graph.py`); importing this package imports them all.
"""

from __future__ import annotations

from wordlm.cli import (decode_cmds, export_cmds, lattice_cmds, mix_cmds, rerank_cmds,  # noqa: F401
                        score_cmds, serve_cmds, train_cmds)
from wordlm.cli.app import cli, main

__all__ = ["cli", "main"]
