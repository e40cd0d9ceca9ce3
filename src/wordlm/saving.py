"""Loading a model directory as a `LanguageModel` (`load`), safely and consistently with a save running
at the same time. The directory's format (its files, `save`, `read_config`, the safety checks) is
`model_dir.py`, re-exported here; loading anything the CLI takes (a mixture, an n-gram file) is
`loading.py`; atomic writes are `files.py`.
"""

from __future__ import annotations

from pathlib import Path

from wordlm.errors import ModelError
from wordlm.files import check_output_path, write_atomic  # noqa: F401 (their former home)
from wordlm.lm import LanguageModel
from wordlm.model_dir import (ALLOWED_LAYERS, CONFIG_FILE, FORMAT, FORMAT_VERSION, _weights_file_named,  # noqa: F401
                              model_config, read_config, read_parts, save)


def load(directory, runtime: str | None = None) -> LanguageModel:
    """Load a model directory saved by `save`; raises ModelError for anything wrong with it (any
    model the CLI takes, a mixture or an n-gram file included: `wordlm.load`, `loading.py`).

    A save running at the same time replaces `wordlm.json` and then removes the weights file it
    named: when the file read is gone or changes underneath, `wordlm.json` is read again (while saves
    keep committing, up to `RETRIES` times), so the model loaded is the old one or the new one, never a mix.

    `runtime`: "tensorflow", "onnx" or "auto" (default: `$WORDLM_RUNTIME`, else auto: ONNX Runtime
    when installed; `wordlm.runtime`). Under ONNX Runtime no TensorFlow is imported and the model
    has no `keras_model` (its network is `lm.runtime`'s graph, `runtime/files.py`)."""
    for attempt in range(RETRIES):
        named = _weights_file_named(Path(directory))
        try:
            return _load_once(directory, runtime)
        except (ModelError, OSError):
            if attempt == RETRIES - 1 or _weights_file_named(Path(directory)) == named:
                raise  # not a concurrent save: the model really is broken


# Loads retried while saves keep replacing the model underneath (each retry follows a save seen to
# commit; a save under ONNX Runtime copies files and can commit many times during one load).
RETRIES = 100


def _load_once(directory, runtime: str | None) -> LanguageModel:
    parts = read_parts(directory, runtime)
    lm = LanguageModel(parts["tokenizer"], parts["vocab"], parts["framing"], parts["size"], parts["network"],
                       parts["info"])
    if parts["runtime"] == "onnx":  # the runtime hook (`wordlm/runtime/`): the ONNX graph beside the weights
        from wordlm.runtime import files as runtime_files

        lm.runtime = runtime_files.load_runtime(lm, directory, parts["weights_file"])
    lm.source = Path(directory)  # where it was loaded from: an export never replaces it
    return lm
