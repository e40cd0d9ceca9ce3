"""The mixture file: a small JSON file naming the components (by path, relative to the file), their
weights, the tokenizer that splits text into the mixture's words, and the convention used.

    {"format": "wordlm-mixture", "format_version": 1,
     "convention": "linear: p(w | h) = sum_i weight_i * p_i(w | h) per word (SRILM -mix-lm) ...",
     "tokenizer": {"mode": "whitespace", "lower": false},
     "components": [{"path": "ptb-tied", "kind": "wordlm", "weight": 0.62},
                    {"path": "kn5.arpa", "kind": "kenlm", "weight": 0.38}],
     "tuned": {"on": "ptb.valid.txt", "iterations": 9, "ppl": 104.2}}      # written by --tune-on

Checked whole when read (one-line `ModelError`s naming the file): the format, a non-empty list of
components, each an existing wordlm model directory or KenLM file inside the mixture file's folder
(symlinks resolved; an absolute path or one that leaves the folder through `..` is refused unless
`allow_outside`, or the environment variable `WORDLM_MIXTURE_OUTSIDE=1` for the CLI and the service:
a mixture file handed over cannot make wordlm open any file on the machine), weights finite,
non-negative and summing to 1 (to 1e-6). `write` then `read` gives the same `MixtureSpec` (a test). Read through
`wordlm.jsonfile` (bounded nesting, no NaN). Not here: loading the components (`components.py`),
the interpolation (`model.py`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from wordlm.errors import ModelError
from wordlm.files import model_kind, write_atomic
from wordlm.jsonfile import parse

OUTSIDE_ENV = "WORDLM_MIXTURE_OUTSIDE"  # "1": components may lie outside the mixture file's folder
FORMAT = "wordlm-mixture"
FORMAT_VERSION = 1
KINDS = ("wordlm", "kenlm")
WEIGHT_TOLERANCE = 1e-6
CONVENTION = ("linear interpolation per word: p(w | h) = sum_i weight_i * p_i(w | h) (SRILM -mix-lm), in log "
              "space (logsumexp), natural log; a word in the mixture's vocabulary that a component does not know "
              "gets probability 0 from it (SRILM); a word no component knows is <unk> for every component; "
              "</s> predicted and counted, <s> never predicted")


@dataclass
class ComponentSpec:
    path: str  # as written in the file: relative to the file's folder (or absolute)
    kind: str  # "wordlm" (a model directory, word or char) or "kenlm" (ARPA or KenLM binary)
    weight: float

    def to_json(self) -> dict:
        return {"path": self.path, "kind": self.kind, "weight": self.weight}


@dataclass
class MixtureSpec:
    components: list[ComponentSpec]
    tokenizer: dict | None = None  # {"mode", "lower"}; None: from the first wordlm word model, else whitespace
    tuned: dict | None = None
    where: Path | None = field(default=None, compare=False)  # the file it was read from

    @property
    def weights(self) -> list[float]:
        return [c.weight for c in self.components]

    def resolve(self, component: ComponentSpec) -> Path:
        """The component's path on disk (relative paths are relative to the mixture file's folder)."""
        p = Path(component.path)
        return p if p.is_absolute() or self.where is None else self.where.parent / p

    def to_json(self) -> dict:
        out = {"format": FORMAT, "format_version": FORMAT_VERSION, "convention": CONVENTION}
        if self.tokenizer is not None:
            out["tokenizer"] = dict(self.tokenizer)
        out["components"] = [c.to_json() for c in self.components]
        if self.tuned is not None:
            out["tuned"] = self.tuned
        return out


def is_mixture_file(path) -> bool:
    """True for a path that names a mixture file (`files.model_kind`: a `.json` file)."""
    return model_kind(path) == "mixture"


def detect_kind(path) -> str:
    """A component's kind: "wordlm" for a model directory, "kenlm" for a file (ARPA text or KenLM binary)."""
    if not os.path.exists(path):
        raise ModelError(f"{path}: no such model directory or n-gram file")
    return "wordlm" if model_kind(path) == "directory" else "kenlm"


def check_weights(weights, where: str) -> list[float]:
    """Weights as floats, finite, non-negative, summing to 1 (to 1e-6); `ModelError` naming `where`."""
    out = []
    for i, w in enumerate(weights, 1):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise ModelError(f"{where}: weight {i} is {w!r}, expected a finite number")
        if w < 0:
            raise ModelError(f"{where}: weight {i} is {w:g}: weights must not be negative")
        out.append(float(w))
    total = sum(out)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ModelError(f"{where}: the weights sum to {total:.6g}, expected 1 (they are probabilities of a mixture)")
    return out


def outside_allowed(allow_outside: bool | None = None) -> bool:
    """`allow_outside` when given, else whether `WORDLM_MIXTURE_OUTSIDE=1` is set."""
    return os.environ.get(OUTSIDE_ENV, "") == "1" if allow_outside is None else bool(allow_outside)


def outside_folder(component_path, folder) -> bool:
    """True when `component_path` (relative to `folder`, or absolute) is not inside `folder` once
    symlinks and `..` are resolved."""
    base = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(folder, component_path))
    return os.path.commonpath([base, target]) != base


def read(path, allow_outside: bool | None = None) -> MixtureSpec:
    """The validated `MixtureSpec` of a mixture file (components checked to exist, and to lie inside
    the file's folder unless `outside_allowed(allow_outside)`)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such mixture file")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: cannot read the mixture file ({e})") from None
    data = parse(text, f"{path}", ModelError)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{path}: not a wordlm mixture file (expected \"format\": \"{FORMAT}\"; "
                         "write one with `wordlm mix`)")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelError(f"{path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelError(f"{path}: mixture format version {version} is newer than this wordlm supports "
                         f"({FORMAT_VERSION}); upgrade wordlm")
    raw = data.get("components")
    if not isinstance(raw, list) or not raw:
        raise ModelError(f"{path}: \"components\" must be a non-empty list")
    components = []
    for i, c in enumerate(raw, 1):
        if not isinstance(c, dict) or not isinstance(c.get("path"), str) or not c["path"]:
            raise ModelError(f"{path}: component {i} needs a \"path\" (a string)")
        kind = c.get("kind")
        if kind not in KINDS:
            raise ModelError(f"{path}: component {i} ({c['path']}): kind {kind!r}, expected one of {', '.join(KINDS)}")
        components.append(ComponentSpec(c["path"], kind, c.get("weight")))
    weights = check_weights([c.weight for c in components], str(path))
    for c, w in zip(components, weights):
        c.weight = w
    tokenizer = data.get("tokenizer")
    if tokenizer is not None and (not isinstance(tokenizer, dict) or tokenizer.get("mode") not in ("keras", "whitespace")
                                  or not isinstance(tokenizer.get("lower"), bool)):
        raise ModelError(f"{path}: \"tokenizer\" must be {{\"mode\": \"keras\"|\"whitespace\", \"lower\": true|false}}")
    tuned = data.get("tuned")
    spec = MixtureSpec(components, tokenizer, tuned if isinstance(tuned, dict) else None, where=path)
    outside = outside_allowed(allow_outside)
    for i, c in enumerate(components, 1):
        p = spec.resolve(c)
        if not outside and (Path(c.path).is_absolute() or outside_folder(c.path, path.parent)):
            raise ModelError(f"{path}: component {i} ({c.path}) lies outside the mixture file's folder: refused "
                             f"(a mixture names files beside or below it; to allow others, set {OUTSIDE_ENV}=1)")
        if c.kind == "wordlm" and not p.is_dir():
            raise ModelError(f"{path}: component {i}: {p}: no such model directory")
        if c.kind == "kenlm" and not p.is_file():
            raise ModelError(f"{path}: component {i}: {p}: no such n-gram file")
    return spec


def write(spec: MixtureSpec, path) -> None:
    """Write the mixture file atomically. Component paths are stored as given (make them relative
    to the file's folder first, `relative_to_file`)."""
    write_atomic(Path(path), (json.dumps(spec.to_json(), indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def relative_to_file(component_path, mixture_path) -> str:
    """A component's path as the mixture file at `mixture_path` should store it (relative to its folder)."""
    return os.path.relpath(os.path.abspath(component_path), os.path.dirname(os.path.abspath(mixture_path)))
