"""`wordlm COMMAND --help` explains every option in a line and shows one real example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from wordlm.cli import cli

ROOT = Path(__file__).resolve().parents[1]
TOUR = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_option_has_help_and_the_command_an_example(name):
    command = cli.commands[name]
    bare = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not bare, f"wordlm {name}: options without help: {bare}"
    assert command.epilog and command.epilog.startswith(f"Example: wordlm {name} "), name
    # the example is a command the tour (README, docs/) shows (so it is known to run)
    example = command.epilog.removeprefix("Example: ")
    words = example.split()[:2] + ([] if name == "demo" else example.split()[2:3])
    assert re.search(r"\$ " + re.escape(" ".join(words)), TOUR), f"the tour has no `{' '.join(words)} …`"


def test_help_needs_no_tensorflow():
    code = "import sys; from wordlm.cli import cli; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
