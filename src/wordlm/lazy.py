"""Package attributes imported on first use (PEP 562), so a light import stays light.

    __getattr__ = lazy_attributes(__name__, {"train": "wordlm.training.loop", ...})

Used by the subpackages whose modules import TensorFlow (`training`, `export`); the front door
(`wordlm/__init__.py`) has its own, which also quiets TensorFlow's start-up.
"""

from __future__ import annotations

import importlib
import sys


def lazy_attributes(package: str, table: dict[str, str]):
    """A module `__getattr__` that imports `table[name]` on first use and keeps the value."""

    def __getattr__(name: str):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name]), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    return __getattr__
