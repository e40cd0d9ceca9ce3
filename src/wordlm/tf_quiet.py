"""Import TensorFlow without its C++ start-up chatter, for the library and the CLI alike.

TensorFlow writes log lines to file descriptor 2 while it loads (oneDNN, CUDA stubs, absl), before
any Python logging setting applies. `import_tensorflow()` sets `TF_CPP_MIN_LOG_LEVEL` (unless the
user set it) and silences descriptor 2 during the import only, so errors after it still show.
Called by `wordlm.load`, `wordlm.train` and the commands that need a model, before TensorFlow is
imported anywhere else. Not here: anything that needs TensorFlow itself.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow() -> None:
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (closed stderr): nothing to silence
        import tensorflow  # noqa: F401
        import keras  # noqa: F401

        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
