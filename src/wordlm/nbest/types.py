"""The n-best data types (`Utterance`, `RecognizerHypothesis`) and the checks of their fields that
every format reader shares. Imports nothing of the readers: each format module imports only this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from wordlm.errors import InputError

# Hypotheses in one utterance: a recogniser's n-best list holds tens to thousands; a list beyond this
# is refused (naming the utterance) before it is scored or, for TSV, before more of it is read.
MAX_HYPS = 100_000


def check_hyps(name, place, count: int) -> None:
    """`InputError` naming the utterance when it holds more than `MAX_HYPS` hypotheses."""
    if count > MAX_HYPS:
        raise InputError(f"{name}: {place}: more than {MAX_HYPS:,} hypotheses in one utterance (an n-best list "
                         "holds tens to thousands): split it, or keep its best ones")


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
