"""The README's shell tour runs as written and prints what it shows (`tools/readme_tour.py`).

The default suite runs the blocks on the bundled rhyme; `-m slow` also runs those marked slow
(Mother Goose from `../shared/data`, the demo). Each command is a real process from a scratch
directory laid out as a fresh clone's root, so the README cannot show a file it never makes.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_tour", ROOT / "tools" / "readme_tour.py")
tour = importlib.util.module_from_spec(spec)
sys.modules["readme_tour"] = tour  # dataclasses look their module up
spec.loader.exec_module(tour)


def _run(tmp_path, slow: bool):
    blocks = [b for name in tour.DOCUMENTS for b in tour.parse(ROOT / name)]
    assert sum(b.mode == "run" for b in blocks) >= 4, "the tour lost its default blocks"
    lines = []
    results = tour.run_blocks(blocks, tour.scratch_directory(tmp_path), slow, log=lines.append)
    differing = [r for r in results if r.problems]
    assert not differing, "\n".join(lines)
    return results


def test_tour_blocks_on_the_bundled_rhyme_run_as_shown(tmp_path):
    assert len(_run(tmp_path, slow=False)) >= 10


@pytest.mark.slow
def test_whole_tour_runs_as_shown(tmp_path):
    if not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("the project's data folder ../shared/data is not here")
    _run(tmp_path, slow=True)


def test_the_tour_checker_can_fail(tmp_path):
    """A wrong number, a missing line and a wrong stderr line are each reported."""
    doc = tmp_path / "doc.md"
    doc.write_text("```\n$ printf '1.5 apples\\nb\\n'; echo oops >&2\n1.6 apples\nb\n"
                   "oops (stderr)\n```\n\n```\n$ echo a\na\nb\n```\n\n```\n$ echo x >&2\ny   (stderr)\n```\n")
    blocks = tour.parse(doc)
    scratch = tmp_path / "s"
    scratch.mkdir()
    results = tour.run_blocks(blocks, scratch, slow=False, log=lambda _: None)
    assert [bool(r.problems) for r in results] == [True, True, True]
    doc.write_text("<!-- tour: skip needs docker -->\n```\n$ false\n```\n\n```\n$ printf 'a\\nb\\nc\\n'\na\n...\n"
                   "```\n\n```\n$ cat > f <<'EOF'\n2.0001 s\nEOF\n$ cat f\n2.5 s\n```\n")
    results = tour.run_blocks(tour.parse(doc), scratch, slow=False, log=lambda _: None)
    assert [r.problems for r in results] == [[], [], []]
