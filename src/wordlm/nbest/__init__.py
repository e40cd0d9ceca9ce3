"""N-best lists in: four file formats, auto-detected, validated, read as a stream of utterances.

An *utterance* is an id, an optional reference transcript and a non-empty list of hypotheses in
the recogniser's order; a *hypothesis* is a text and its numeric fields (first-pass scores such as
`score`, `decoder`, `ctc`, `lm`, `rank`, ...). Every numeric field a file gives is kept (non-numeric
ones other than the text are dropped) so that a combination such as `decoder=0.6,ctc=0.4` can use
them.

| format       | layout                                                                             |
|--------------|------------------------------------------------------------------------------------|
| `jsonl`      | one object per line: `{"utt_id", "ref"?, "hyps": [{"text", "score", ...}, ...]}`   |
| `hyporadise` | a JSON list of `{"id"?, "input": [texts], "output"?: ref, "am_score"|"score": [floats]}` (the list of scores becomes the field `score`, also kept under its own name) |
| `mlm`        | mlm-scoring's JSON dict `{utt: {"ref"?: text or {"text"}, "hyp_1": {"score", "text"}, ...}}` (hypotheses in `hyp_N` number order) |
| `tsv`        | `utt_id<TAB>score<TAB>text`, exactly three columns, one hypothesis per line, an utterance's lines together (an optional header line `utt_id<TAB>score<TAB>text` is skipped); `\\t`, `\\n`, `\\r` and `\\\\` in an id or text stand for a tab, a newline, a carriage return and a backslash (`tsv_escape`, what `wordlm rerank` writes) |
| `srilm`, `kaldi`, `nemo` | SRILM's NBestList1.0/2.0 and its own format (a file per utterance, or a directory), a Kaldi n-best directory (`text` + cost files), NeMo's beam TSV: see `nbest/recognizers.py` |

`auto` looks at the first line: an `NBestList` header → srilm; a directory → kaldi (with a `text` file) or srilm; `[` → hyporadise; a JSON object with `"hyps"` or `"utt_id"` → jsonl; another
`{` → mlm; a line with tabs → tsv. JSON lines and TSV are read incrementally (constant memory);
the two whole-file JSON formats are parsed at once. Files may be gzipped (`.gz`) or `-` (stdin).

Validation: every problem raises `InputError` naming the file and the utterance (and the line for
the line-based formats): a missing id or text, duplicate utterance ids, an empty hypothesis list,
scores that are strings, NaN or infinite, and a missing required field (`required`, the fields
the score combination reads). An empty hypothesis *text* is valid (a recogniser may output nothing).

Modules: `types` (the data types and field checks), `native` (jsonl, hyporadise, mlm, tsv),
`recognizers` (srilm, kaldi, nemo, references); each format module imports only `types`.
Not here: scoring or choosing hypotheses (`rerank.py`), WER (`wer.py`).
"""

from __future__ import annotations

import json
import os
from typing import Iterable, Iterator

from wordlm.errors import InputError, where
from wordlm.jsonfile import parse
from wordlm.nbest import recognizers as other
from wordlm.nbest.native import (_read_hyporadise, _read_jsonl, _read_mlm, _read_tsv, tsv_escape, tsv_unescape,
                                 utterance_from_json)
from wordlm.nbest.recognizers import read_refs
from wordlm.nbest.types import MAX_HYPS, RecognizerHypothesis, Utterance, _check_required, check_hyps, finite_number  # noqa: F401
from wordlm.text import read_lines

FORMATS = ("auto", "jsonl", "hyporadise", "mlm", "tsv", "srilm", "kaldi", "nemo")


def read_nbest(path, fmt: str = "auto", required: Iterable[str] = ("score",), refs=None,
               beam_size: int | None = None) -> Iterator[Utterance]:
    """Yield the utterances of an n-best file in file order, validated (see the module docstring).

    `refs`: a references file (Kaldi `text` format, `UTT w1 w2 …`) or a dict, for utterances that
    have none in the n-best file; `beam_size`: hypotheses per utterance of the `nemo` format.
    The SRILM, Kaldi and NeMo formats are read by `nbest/recognizers.py`.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown n-best format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if refs is not None and not isinstance(refs, dict):
        refs = read_refs(refs)
    utterances = _read(path, fmt, tuple(required), beam_size)
    if refs is None:
        yield from utterances
        return
    for utt in utterances:
        if utt.ref is None:
            utt.ref = refs.get(utt.utt_id)
        yield utt


def _read(path, fmt, required, beam_size) -> Iterator[Utterance]:
    name = where(path)
    if fmt == "auto" and other.is_directory(path):
        fmt = "kaldi" if os.path.isfile(os.path.join(path, "text")) else "srilm"
    if fmt in ("srilm", "kaldi", "nemo"):
        source = (other.read_srilm(path) if fmt == "srilm" else other.read_kaldi(path) if fmt == "kaldi"
                  else other.read_nemo(path, beam_size))
        yield from _validated(name, source, required)
        return
    lines = read_lines(path)
    head = []  # lines up to the first non-blank one
    for number, text in lines:
        head.append((number, text))
        if text.strip():
            break
    if not head or not head[-1][1].strip():
        raise InputError(f"{name}: empty n-best file")
    if fmt == "auto":
        fmt = _detect(name, head[-1][1])
    if fmt == "srilm":
        yield from _validated(name, other.read_srilm(path), required)
        return
    source = ((n, t) for n, t in _chain(head, lines) if t.strip())
    if fmt == "jsonl":
        utterances = _read_jsonl(name, source)
    elif fmt == "tsv":
        utterances = _read_tsv(name, source)
    else:
        text = "\n".join(t for _, t in _chain(head, lines))
        data = parse(text, f"{name}: the {fmt} n-best format", nonfinite="float")
        utterances = _read_hyporadise(name, data) if fmt == "hyporadise" else _read_mlm(name, data)
    yield from _validated(name, utterances, required)


def _validated(name, utterances, required) -> Iterator[Utterance]:
    seen: dict[str, str] = {}
    count = 0
    for place, utt in utterances:
        if not utt.hyps:
            raise InputError(f"{name}: {place}: no hypotheses")
        check_hyps(name, place, len(utt.hyps))
        if utt.utt_id in seen:
            raise InputError(f"{name}: {place}: duplicate utterance id {utt.utt_id!r} (first at {seen[utt.utt_id]})")
        seen[utt.utt_id] = place
        _check_required(name, place, utt, required)
        count += 1
        yield utt
    if count == 0:
        raise InputError(f"{name}: no utterances found")


def detect_format(path) -> str:
    """The format `auto` would choose for a file (from its first non-blank line)."""
    name = where(path)
    for _, text in read_lines(path):
        if text.strip():
            return _detect(name, text)
    raise InputError(f"{name}: empty n-best file")


# -- plumbing ---------------------------------------------------------------------------------
def _chain(head, rest):
    yield from head
    yield from rest


def _detect(name: str, line: str) -> str:
    s = line.lstrip()
    if s.startswith("NBestList1.0") or s.startswith("NBestList2.0"):
        return "srilm"
    if s.startswith("["):
        return "hyporadise"
    if s.startswith("{"):
        try:  # the shape only: what the line holds is checked by the format's reader
            obj = json.loads(s)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so is a 5,000-digit integer
            return "mlm"  # a multi-line JSON object
        return "jsonl" if isinstance(obj, dict) and ("hyps" in obj or "utt_id" in obj) else "mlm"
    if "\t" in s:
        return "tsv"
    raise InputError(
        f"{name}:1: cannot tell the n-best format (expected a JSON object or list, or utt_id<TAB>score<TAB>text); "
        "give --format"
    )



__all__ = ["FORMATS", "RecognizerHypothesis", "Utterance", "detect_format", "finite_number", "read_nbest", "read_refs",
           "tsv_escape", "tsv_unescape", "utterance_from_json"]
