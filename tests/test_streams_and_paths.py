"""The CLI boundary under hostile streams and paths: one-line errors, exit 0/1/2, nothing replaced.

Real processes and a real shell, because closed descriptors, full disks and broken pipes only
exist there. Errors that need no model come before TensorFlow starts (fast).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import helpers

MODEL = Path(__file__).parent / "golden" / "models" / "seq"
WORDLM = f"{sys.executable} -m wordlm"


def sh(command: str, stdin: str | None = "jack and jill\n", timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], input=stdin, capture_output=True, text=True, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess, code: int = 1) -> str:
    helpers.one_line_error(done, code=code)
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_closed_stdin_is_a_one_line_error():
    assert "standard input is closed" in one_line_error(sh(f"{WORDLM} score {MODEL} - <&-", stdin=None))


def test_a_full_disk_is_a_one_line_error():
    assert "<stdout>: No space left on device" in one_line_error(sh(f"{WORDLM} score {MODEL} - > /dev/full"))


def test_a_reader_that_stops_early_ends_the_command_quietly():
    lines = "jack and jill\n" * 20_000
    done = sh(f"{WORDLM} score {MODEL} - --batch-size 64 | head -1; exit ${{PIPESTATUS[0]}}", stdin=lines)
    assert done.returncode == 0 and done.stdout.count("\n") == 1 and "Error" not in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_closed_stdout_and_closed_stderr_still_run():
    done = sh(f"{WORDLM} score {MODEL} - >&-")
    assert done.returncode == 0 and "logprob=" in done.stderr  # the summary still reaches stderr
    done = sh(f"{WORDLM} score {MODEL} - 2>&-")
    assert done.returncode == 0 and "jack and jill" in done.stdout
    done = sh(f"{WORDLM} score {MODEL} missing.txt 2>&-")
    assert done.returncode == 1  # the error has nowhere to go, but the exit code says it


def test_missing_inputs_and_models_fail_before_tensorflow_starts(tmp_path):
    for command, message in [(f"{WORDLM} score {tmp_path / 'nope'} -", "no such model directory"),
                             (f"{WORDLM} score {MODEL} {tmp_path / 'missing.txt'}", "missing.txt: no such file"),
                             (f"{WORDLM} perplexity {MODEL} {tmp_path}", "is a directory")]:
        start = time.perf_counter()
        assert message in one_line_error(sh(command))
        assert time.perf_counter() - start < 5  # TensorFlow alone takes longer to import on this machine


@pytest.mark.parametrize("where,message,code", [("missing-dir/s.json", "does not exist", 1),
                                                ("a-file/s.json", "is not a directory", 1),
                                                ("read-only/s.json", "is not writable", 1),
                                                (".", "is a directory", 2)])  # click's own check: usage
def test_an_unwritable_summary_is_refused_before_scoring(tmp_path, where, message, code):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "read-only").mkdir(mode=0o500)
    if where.startswith("read-only") and os.geteuid() == 0:
        pytest.skip("root can write into a read-only folder")
    done = sh(f"cd {tmp_path} && {WORDLM} score {MODEL} - --summary {where}")
    assert done.returncode == code and message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # nothing was scored


def test_a_symlinked_or_device_output_is_written_through(tmp_path):
    target = tmp_path / "target.json"
    target.write_text("old\n")
    (tmp_path / "link.json").symlink_to(target)
    done = sh(f"{WORDLM} score {MODEL} - --summary {tmp_path / 'link.json'}")
    assert done.returncode == 0 and (tmp_path / "link.json").is_symlink()
    assert '"sentences": 1' in target.read_text()
    done = sh(f"{WORDLM} score {MODEL} - --summary /dev/stdout")
    assert done.returncode == 0 and '"sentences": 1' in done.stdout and "jack and jill" in done.stdout
