"""Where an export may go, checked before TensorFlow starts: `check_destination`.

An export folder holds `saved_model.pb` and `assets.extra/wordlm.json` with `"format":
"wordlm-savedmodel"` (the marker every export writes). `--overwrite` replaces only such a folder,
or an empty one: never the model being exported (nor a folder inside it or holding it), never a
folder inside any model directory, never anything else — a user's folder of files is not an old
export, whatever it is called.
"""

from __future__ import annotations

from pathlib import Path

from wordlm.errors import InputError
from wordlm.files import check_writable

MARKER = Path("assets.extra") / "wordlm.json"
FORMAT = "wordlm-savedmodel"


def is_export(folder: Path) -> bool:
    """True when `folder` is a SavedModel that `wordlm export` wrote (its marker file says so)."""
    from wordlm.jsonfile import parse

    try:  # parse: a marker nested 100,000 deep is a RecursionError for json.loads
        meta = parse((folder / MARKER).read_text("utf-8"), str(folder / MARKER))
    except (OSError, ValueError, InputError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT and (folder / "saved_model.pb").is_file()


def check_destination(out_dir, overwrite: bool = False, model_dir=None) -> Path:
    """Raise `InputError` unless an export may be written to `out_dir` (and, with `overwrite`, replace it)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if model_dir is not None and Path(model_dir).exists():
        model, target = Path(model_dir).resolve(), out.resolve()
        if target == model or model in target.parents or target in model.parents:
            raise InputError(f"{out}: is the model being exported (or holds it, or lies inside it); "
                             f"export to another folder, e.g. models/NAME/1")
    for folder in out.absolute().parents:  # never into a model directory (its files are the model)
        if (folder / "wordlm.json").is_file() and not is_export(folder):
            raise InputError(f"{out}: lies inside the model directory {folder}; export to a folder of its own, "
                             f"e.g. models/NAME/1")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"{out}: already exists; pass --overwrite to replace a previous export, "
                             f"or export a new version folder")
        if not is_export(out):
            raise InputError(f"{out}: is not a wordlm export (no {MARKER} saying {FORMAT!r}); --overwrite "
                             f"replaces only a previous export or an empty folder, nothing else")
    check_writable(out, out.parent, "the export", "the export")  # its parent: the export is renamed into it
    return out
