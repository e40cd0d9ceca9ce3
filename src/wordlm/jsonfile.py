"""JSON read defensively: bounded nesting, no NaN/Infinity, one-line errors that name the file.

Every JSON file wordlm reads (a model's `wordlm.json`, summaries, tuned weights, n-best files) goes
through `parse`: Python's own parser recurses once per nesting level (a 100,000-deep `[[[…` is a
RecursionError), accepts `NaN` and `Infinity`, reads `1e999` as infinity and a 400-digit integer
as a number that overflows any float it meets later (OverflowError). None of them is in a wordlm
file: each becomes the caller's error class, one line naming the file and the field.
Not here: what the fields mean (each reader).
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


MAX_INT_DIGITS = 300  # an integer that no float can hold (10**309) would overflow where it is used


class _Bad:
    """A number no wordlm file may hold (NaN, Infinity, 1e999, a 400-digit integer), found after parsing."""

    def __init__(self, text: str):
        self.text = text if len(text) <= 30 else text[:27] + "..."


def _find_bad(value) -> tuple[str, _Bad] | None:
    """The path (`hyps[1].score`) and value of the first out-of-range number, depth-first."""
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Bad):
            return path or "(top level)", item
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


def parse(text: str, where: str, error: type[Exception] = InputError, max_depth: int = MAX_DEPTH,
          nonfinite: str = "refuse"):
    """The value of JSON `text`; `error(f"{where}: …")` for invalid JSON, deep nesting, or a number
    that is not finite or would overflow a float (NaN, Infinity, 1e999, 10**400): the message names
    the field (`field "hyps[1].score": 1e999 is not a finite number …`).

    `nonfinite="float"`: such numbers are read as float NaN or ±infinity instead, for a reader that
    checks every number it uses and names the place better than a JSON path (n-best files name the
    utterance and hypothesis). Either way no number that overflows later comes out.
    """
    if nesting_depth(text) > max_depth:
        raise error(f"{where}: JSON nested deeper than {max_depth} levels: not a wordlm file")
    flagged = []

    def bad(token: str):
        if nonfinite == "float":
            return math.nan if token == "NaN" else -math.inf if token.startswith("-") else math.inf
        flagged.append(True)
        return _Bad(token)

    def number(token: str):
        value = float(token)
        return value if math.isfinite(value) else bad(token)

    def integer(token: str):
        return bad(token) if len(token.lstrip("-")) > MAX_INT_DIGITS else int(token)

    try:
        value = json.loads(text, parse_constant=bad, parse_float=number, parse_int=integer)
    except json.JSONDecodeError as e:
        raise error(f"{where}: invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except (ValueError, RecursionError) as e:
        raise error(f"{where}: invalid JSON ({e})") from None
    if flagged and (found := _find_bad(value)) is not None:
        path, item = found
        raise error(f'{where}: field "{path}": {item.text} is not a finite number in range '
                    f"(NaN, Infinity and numbers beyond ±1.8e308 are refused)")
    return value


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
