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
| `srilm`, `kaldi`, `nemo` | SRILM's NBestList1.0/2.0 and its own format (a file per utterance, or a directory), a Kaldi n-best directory (`text` + cost files), NeMo's beam TSV: see `nbest_formats.py` |

`auto` looks at the first line: an `NBestList` header → srilm; a directory → kaldi (with a `text` file) or srilm; `[` → hyporadise; a JSON object with `"hyps"` or `"utt_id"` → jsonl; another
`{` → mlm; a line with tabs → tsv. JSON lines and TSV are read incrementally (constant memory);
the two whole-file JSON formats are parsed at once. Files may be gzipped (`.gz`) or `-` (stdin).

Validation: every problem raises `InputError` naming the file and the utterance (and the line for
the line-based formats): a missing id or text, duplicate utterance ids, an empty hypothesis list,
scores that are strings, NaN or infinite, and a missing required field (`required`, the fields
the score combination reads). An empty hypothesis *text* is valid (a recogniser may output nothing).

Not here: scoring or choosing hypotheses (`rerank.py`), WER (`wer.py`).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from wordlm.errors import InputError, where
from wordlm.jsonfile import parse
from wordlm.text import read_lines

FORMATS = ("auto", "jsonl", "hyporadise", "mlm", "tsv", "srilm", "kaldi", "nemo")
# Hypotheses in one utterance: a recogniser's n-best list holds tens to thousands; a list beyond this
# is refused (naming the utterance) before it is scored or, for TSV, before more of it is read.
MAX_HYPS = 100_000


@dataclass
class RecognizerHypothesis:
    """One recogniser hypothesis of an n-best list: its text and numeric first-pass fields."""

    text: str
    fields: dict[str, float] = field(default_factory=dict)


@dataclass
class Utterance:
    utt_id: str
    hyps: list[RecognizerHypothesis]
    ref: str | None = None


def read_nbest(path, fmt: str = "auto", required: Iterable[str] = ("score",), refs=None,
               beam_size: int | None = None) -> Iterator[Utterance]:
    """Yield the utterances of an n-best file in file order, validated (see the module docstring).

    `refs`: a references file (Kaldi `text` format, `UTT w1 w2 …`) or a dict, for utterances that
    have none in the n-best file; `beam_size`: hypotheses per utterance of the `nemo` format.
    The SRILM, Kaldi and NeMo formats are read by `nbest_formats.py`.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown n-best format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if refs is not None and not isinstance(refs, dict):
        from wordlm.nbest_formats import read_refs

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
    from wordlm import nbest_formats as other

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
        if len(utt.hyps) > MAX_HYPS:
            raise InputError(_too_many(name, place))
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


def _number(name, place, key, value) -> float | None:
    """A field's value as a float; None for non-numeric values; errors for NaN/inf and strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InputError(f"{name}: {place}: field {key!r} is {value}, expected a finite number "
                             "(NaN, Infinity and numbers beyond ±1.8e308 are refused)")
        return float(value)
    return None


def _fields(name, place, h: dict, skip=("text",)) -> dict[str, float]:
    out = {}
    for key, value in h.items():
        if key in skip:
            continue
        num = _number(name, place, key, value)
        if num is not None:
            out[key] = num
    return out


def _check_required(name, place, utt: Utterance, required) -> None:
    for i, h in enumerate(utt.hyps, 1):
        for key in required:
            if key not in h.fields:
                have = ", ".join(sorted(h.fields)) or "none"
                raise InputError(
                    f"{name}: {place}: hypothesis {i} has no numeric field {key!r} (numeric fields: {have}); "
                    "check --am"
                )


def _text(name, place, value, what="text") -> str:
    if not isinstance(value, str):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise InputError(f"{name}: {place}: {what} is {got}, expected a string")
    return value


def _ref(name, place, value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("text")
    return _text(name, place, value, "the reference")


def _utt_id(name, place, value) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise InputError(f"{name}: {place}: missing or invalid utterance id ({value!r})")
    return str(value)


def _scores_of(name, place, key, h: dict) -> None:
    """Reject a score given as a string (a common export mistake) instead of silently dropping it."""
    value = h.get(key)
    if isinstance(value, str):
        raise InputError(f"{name}: {place}: field {key!r} is the string {value[:30]!r}, expected a number")


def finite_number(name, number, value: str, what: str = "score") -> float:
    """`value` (text from line `number` of file `name`) as a finite float, or a one-line InputError."""
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"{name}:{number}: {what} {value[:30]!r} is not a number") from None
    if not math.isfinite(x):
        raise InputError(f"{name}:{number}: {what} is {value}, expected a finite number")
    return x


# -- the formats ------------------------------------------------------------------------------
def _read_jsonl(name, lines) -> Iterator[tuple[str, Utterance]]:
    for number, line in lines:
        obj = parse(line, f"{name}:{number}", nonfinite="float")
        if not isinstance(obj, dict):
            raise InputError(f"{name}:{number}: expected a JSON object per line, got {type(obj).__name__}")
        yield _jsonl_utterance(name, obj, f"line {number}")


def _jsonl_utterance(name, obj: dict, at: str) -> tuple[str, Utterance]:
    """One `jsonl` utterance object, validated; `at` says where it is (`line 3`)."""
    raw_id = obj.get("utt_id", obj.get("id"))
    place = at or "the utterance" if raw_id is None else f"utterance {raw_id!s}" + (f" ({at})" if at else "")
    utt_id = _utt_id(name, place, raw_id)
    hyps = obj.get("hyps")
    if not isinstance(hyps, list):
        raise InputError(f"{name}: {place}: \"hyps\" is {'missing' if hyps is None else 'not a list'}")
    if not hyps:
        raise InputError(f"{name}: {place}: \"hyps\" is empty")
    out = []
    for i, h in enumerate(hyps, 1):
        if not isinstance(h, dict):
            raise InputError(f"{name}: {place}: hypothesis {i} is not an object")
        where_h = f"{place}: hypothesis {i}"
        for key in ("score",):
            _scores_of(name, where_h, key, h)
        out.append(RecognizerHypothesis(_text(name, where_h, h.get("text")), _fields(name, where_h, h)))
    return place, Utterance(utt_id, out, _ref(name, place, obj.get("ref")))


def utterance_from_json(obj: dict, required: Iterable[str] = ("score",), name: str = "request") -> Utterance:
    """One utterance given as a `jsonl` object (`{"utt_id", "ref"?, "hyps": [{"text", "score", ...}]}`),
    validated as a file's would be (errors name `name` and the hypothesis); `required`: the numeric
    fields every hypothesis must have (the score combination's)."""
    if not isinstance(obj, dict):
        raise InputError(f"{name}: expected a JSON object, got {type(obj).__name__}")
    place, utt = _jsonl_utterance(name, obj, "")
    _check_required(name, place, utt, tuple(required))
    return utt


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_ESCAPED = re.compile(r"[\\\t\n\r]")
_UNESCAPED = re.compile(r"\\([\\tnr])")
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def tsv_escape(field: str) -> str:
    """A TSV field on one line: backslash, tab, newline and carriage return as `\\\\`, `\\t`, `\\n`, `\\r`
    (the convention of PostgreSQL's and MySQL's text formats; what `wordlm rerank` writes)."""
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group()], field)


def tsv_unescape(field: str) -> str:
    """The inverse of `tsv_escape`; a backslash before any other character is kept as written."""
    return _UNESCAPED.sub(lambda m: _UNESCAPES[m.group(1)], field) if "\\" in field else field


def _read_tsv(name, lines) -> Iterator[tuple[str, Utterance]]:
    current: Utterance | None = None
    place = ""
    done: set[str] = set()
    for number, line in lines:
        parts = line.split("\t")
        if len(parts) != 3:  # more: not a tab inside the text, which would be scored as words
            extra = " (a tab inside an id or a text is written \\t)" if len(parts) > 3 else ""
            raise InputError(f"{name}:{number}: expected 3 columns utt_id<TAB>score<TAB>text, got {len(parts)}{extra}")
        utt_id, score, text = tsv_unescape(parts[0].strip()), parts[1].strip(), tsv_unescape(parts[2])
        if number == 1 and score.lower() == "score":
            continue  # header
        if not utt_id:
            raise InputError(f"{name}:{number}: empty utterance id")
        value = finite_number(name, number, score, f"utterance {utt_id}: score")
        if current is None or utt_id != current.utt_id:
            if current is not None:
                yield place, current
                done.add(current.utt_id)
            if utt_id in done:
                raise InputError(
                    f"{name}:{number}: utterance {utt_id}: its lines are not together (duplicate utterance id)"
                )
            current, place = Utterance(utt_id, []), f"utterance {utt_id} (line {number})"
        if len(current.hyps) == MAX_HYPS:
            raise InputError(_too_many(name, place))
        current.hyps.append(RecognizerHypothesis(text, {"score": value}))
    if current is not None:
        yield place, current


def _too_many(name, place) -> str:
    return (f"{name}: {place}: more than {MAX_HYPS:,} hypotheses in one utterance (an n-best list holds tens to "
            "thousands): split it, or keep its best ones")


def _read_hyporadise(name, data) -> Iterator[tuple[str, Utterance]]:
    if not isinstance(data, list):
        raise InputError(f"{name}: expected a JSON list of utterances (HyPoradise), got {type(data).__name__}")
    for index, obj in enumerate(data, 1):
        place = f"utterance {index}"
        if not isinstance(obj, dict):
            raise InputError(f"{name}: {place}: expected an object, got {type(obj).__name__}")
        raw_id = obj.get("id", obj.get("utt_id"))
        utt_id = str(index) if raw_id is None else _utt_id(name, place, raw_id)
        if raw_id is not None:
            place = f"utterance {index} ({utt_id})"
        texts = obj.get("input")
        if not isinstance(texts, list):
            raise InputError(f"{name}: {place}: \"input\" is {'missing' if texts is None else 'not a list'}")
        if not texts:
            raise InputError(f"{name}: {place}: \"input\" (the hypotheses) is empty")
        key = "am_score" if "am_score" in obj else "score" if "score" in obj else None
        scores = obj.get(key) if key else None
        if key and (not isinstance(scores, list) or len(scores) != len(texts)):
            got = f"{len(scores)} scores" if isinstance(scores, list) else f"a {type(scores).__name__}"
            raise InputError(f"{name}: {place}: {key!r} must be a list of {len(texts)} numbers, got {got}")
        hyps = []
        for i, t in enumerate(texts, 1):
            where_h = f"{place}: hypothesis {i}"
            fields = {}
            if key:
                value = scores[i - 1]
                if isinstance(value, str):
                    raise InputError(f"{name}: {where_h}: {key} is the string {value[:30]!r}, expected a number")
                num = _number(name, where_h, key, value)
                if num is None:
                    raise InputError(f"{name}: {where_h}: {key} is {value!r}, expected a number")
                fields = {"score": num, key: num}
            hyps.append(RecognizerHypothesis(_text(name, where_h, t), fields))
        yield place, Utterance(utt_id, hyps, _ref(name, place, obj.get("output")))


_HYP_KEY = re.compile(r"hyp_(\d+)$")


def _read_mlm(name, data) -> Iterator[tuple[str, Utterance]]:
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected a JSON object {{utt: {{hyp_1: ...}}}} (mlm-scoring), got {type(data).__name__}")
    for utt_id, entry in data.items():
        place = f"utterance {utt_id}"
        if not isinstance(entry, dict):
            raise InputError(f"{name}: {place}: expected an object of hyp_1, hyp_2, ... entries")
        keyed = sorted(((int(m.group(1)), k) for k in entry if (m := _HYP_KEY.match(k))))
        if not keyed:
            raise InputError(f"{name}: {place}: no hypotheses (expected keys hyp_1, hyp_2, ...)")
        hyps = []
        for _, k in keyed:
            h = entry[k]
            where_h = f"{place}: {k}"
            if not isinstance(h, dict):
                raise InputError(f"{name}: {where_h}: expected an object {{\"score\", \"text\"}}")
            _scores_of(name, where_h, "score", h)
            hyps.append(RecognizerHypothesis(_text(name, where_h, h.get("text")), _fields(name, where_h, h)))
        yield place, Utterance(_utt_id(name, place, utt_id), hyps, _ref(name, place, entry.get("ref")))
