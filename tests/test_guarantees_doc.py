"""Every test that docs/guarantees.md names as holding a promise exists (a renamed or deleted test
would leave a promise held by nothing)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`(test_\w+\.py)(?:::(test_\w+))?`|`::(test_\w+)`")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.name.startswith("test_")}


def test_every_test_named_in_the_guarantees_exists():
    text = (ROOT / "docs" / "guarantees.md").read_text()
    missing, named = [], 0
    for line in text.splitlines():
        current = None  # `::test_x` continues the file named last on the same line
        for m in REFERENCE.finditer(line):
            file, test, continued = m.groups()
            if file:
                current = file
                if not (ROOT / "tests" / file).is_file():
                    missing.append(file)
                    continue
            if test or continued:
                named += 1
                if current is None or (test or continued) not in _tests_in(ROOT / "tests" / current):
                    missing.append(f"{current}::{test or continued}")
    assert named > 30
    assert not missing, f"docs/guarantees.md names tests that do not exist: {missing}"
