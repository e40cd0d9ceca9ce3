"""progress.py: totals and ETA, in place on a terminal, full lines and a final summary otherwise."""

from __future__ import annotations

import gzip
import io

from wordlm import progress as progress_module
from wordlm.progress import Progress, count_lines


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_count_lines_plain_gz_and_a_last_line_without_newline(tmp_path):
    (tmp_path / "a.txt").write_text("x\ny\nz")
    with gzip.open(tmp_path / "b.txt.gz", "wt") as f:
        f.write("1\n2\n")
    assert count_lines([tmp_path / "a.txt"]) == 3
    assert count_lines([tmp_path / "a.txt", str(tmp_path / "b.txt.gz")]) == 5
    assert count_lines(["-"]) is None


def test_not_a_terminal_is_quiet_before_the_interval(monkeypatch):
    stream = io.StringIO()
    p = Progress("scored", ("lines", "words"), rate="words", stream=stream, total={"lines": 4})
    for _ in range(4):
        p.add(lines=1, words=5)
    p.close()
    assert stream.getvalue() == ""  # nothing before LOG_EVERY seconds; the command prints its summary


def test_count_lines_leaves_a_broken_file_to_the_reader(tmp_path):
    (tmp_path / "bad.txt.gz").write_bytes(b"not gzip")
    assert count_lines([tmp_path / "bad.txt.gz"]) is None and count_lines([tmp_path / "missing"]) is None


def test_not_a_terminal_logs_a_full_line_every_interval(monkeypatch):
    monkeypatch.setattr(progress_module, "LOG_EVERY", 0.0)
    stream = io.StringIO()
    p = Progress("scored", ("lines",), stream=stream, total={"lines": 10})
    p.add(lines=5)
    p.close()
    lines = stream.getvalue().splitlines()
    assert lines and lines[0].startswith("scored 5/10 lines (") and " left)" in lines[0]
    assert "\r" not in stream.getvalue()


def test_terminal_redraws_in_place_and_erases():
    stream = Terminal()
    p = Progress("reranking:", ("utterances", "hypotheses"), rate="hypotheses", stream=stream,
                 total={"utterances": 3, "hypotheses": 30})
    p.set(utterances=1, hypotheses=10)
    assert "\rreranking: 1/3 utterances, 10/30 hypotheses" not in stream.getvalue()  # erase code first
    assert "1/3 utterances, 10/30 hypotheses (" in stream.getvalue() and "left)" in stream.getvalue()
    p.close()
    assert stream.getvalue().endswith("\r\033[K") and "\n" not in stream.getvalue()
