"""Every Python example in README.md runs, and prints what the README shows (doctest).

The README's ```python blocks are written as interactive sessions (`>>>` lines and their output);
they run in a scratch directory laid out as a fresh clone's root (the bundled rhyme at
`src/wordlm/data/rhyme.txt`), in order, sharing one namespace. Shown numbers are checked to a
relative 1e-3 (training on another machine may round differently); everything else exactly.
"""

from __future__ import annotations

import doctest
import math
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


class NumbersClose(doctest.OutputChecker):
    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        if NUMBER.sub("#", want) != NUMBER.sub("#", got):
            return False
        return all(math.isclose(float(a), float(b), rel_tol=1e-3, abs_tol=1e-3)
                   for a, b in zip(NUMBER.findall(want), NUMBER.findall(got)))


def test_readme_has_python_examples():
    assert len(python_blocks((ROOT / "README.md").read_text())) >= 1


def test_readme_python_examples_run_as_shown(tmp_path, monkeypatch):
    (tmp_path / "src" / "wordlm" / "data").mkdir(parents=True)
    shutil.copy(ROOT / "src" / "wordlm" / "data" / "rhyme.txt", tmp_path / "src" / "wordlm" / "data" / "rhyme.txt")
    monkeypatch.chdir(tmp_path)
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(checker=NumbersClose(), optionflags=doctest.ELLIPSIS)
    namespace: dict = {}
    for i, block in enumerate(python_blocks((ROOT / "README.md").read_text())):
        test = parser.get_doctest(block, namespace, f"README.md python block {i + 1}", "README.md", 0)
        runner.run(test, clear_globs=False)
        namespace = test.globs  # the next block sees what this one defined
    if runner.failures:
        pytest.fail(f"{runner.failures} README example(s) printed something else (see the output above)")
