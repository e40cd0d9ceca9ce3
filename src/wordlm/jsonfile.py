"""JSON read defensively: bounded nesting, no NaN/Infinity, one-line errors that name the file.

Every JSON file wordlm reads (a model's `wordlm.json`, summaries, tuned weights, n-best files) goes
through `parse`: Python's own parser recurses once per nesting level (a 100,000-deep `[[[…` is a
RecursionError) and accepts `NaN`, `Infinity` and `1e400` (inf), which no wordlm file contains. Both become the
caller's error class with the file (and line) named. Not here: what the fields mean (each reader).
"""

from __future__ import annotations

import json
import math
import re

from wordlm.errors import InputError

MAX_DEPTH = 64  # deeper than any file wordlm writes or reads (n-best files nest 4 levels)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped)."""
    depth = deepest = 0
    for c in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        depth += 1 if c in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as inf
        raise ValueError(f"{text} overflows a float")
    return value


MAX_INT_DIGITS = 300  # an integer no float can hold (10**309) would overflow wherever it is used


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-')):,} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def parse(text: str, where: str, error: type[Exception] = InputError, max_depth: int = MAX_DEPTH):
    """The value of JSON `text`; `error(f"{where}: …")` for invalid JSON, NaN/Infinity or deep nesting."""
    if nesting_depth(text) > max_depth:
        raise error(f"{where}: JSON nested deeper than {max_depth} levels: not a wordlm file")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except json.JSONDecodeError as e:
        raise error(f"{where}: invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except (ValueError, RecursionError) as e:  # ValueError: also an integer of over 4,300 digits
        raise error(f"{where}: invalid JSON ({e})") from None


def strict(obj):
    """`obj` with every non-finite float (an overflowed score) as None: `json.dumps(strict(x),
    allow_nan=False)` is always valid JSON (never `Infinity` or `NaN`)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def dumps(obj) -> str:
    """One line of strict JSON (UTF-8 text as is; non-finite numbers as null)."""
    return json.dumps(strict(obj), ensure_ascii=False, allow_nan=False)
