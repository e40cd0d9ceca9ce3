"""The JSON and TSV n-best formats: `jsonl`, `hyporadise`, `mlm`, `tsv` (see `wordlm.nbest`), and
TSV's escapes (`tsv_escape`, `tsv_unescape`, what `wordlm rerank` writes). Imports only the data types.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from wordlm.errors import InputError
from wordlm.jsonfile import parse
from wordlm.nbest.types import (RecognizerHypothesis, Utterance, _check_required, _fields, _number, _ref,
                                _scores_of, _text, _utt_id, check_hyps, finite_number)


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
        check_hyps(name, place, len(current.hyps) + 1)  # while reading: a huge list is never held whole
        current.hyps.append(RecognizerHypothesis(text, {"score": value}))
    if current is not None:
        yield place, current


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
