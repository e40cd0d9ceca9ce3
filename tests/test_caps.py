"""Bounded work: absurd options are refused up front with the limit named; huge inputs are refused
after a bounded read, not after the memory is gone (README "Guarantees")."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wordlm.cli import cli
from wordlm.decoding.options import MAX_BEAM, MAX_NUM, MAX_WORDS, DecodeOptions
from wordlm.errors import InputError
from wordlm.text import read_lines

MODEL = str(Path(__file__).parent / "golden" / "models" / "seq")


@pytest.mark.parametrize("args,message", [
    (["--max-words", "10000000"], "--max-words must be at most 10,000"),
    (["--strategy", "sample", "--num", "1000000"], "--num must be at most 10,000"),
    (["--strategy", "beam", "--beam-size", "100000"], "--beam-size must be at most 1,000"),
    (["--strategy", "sample", "--seed", "-1"], "--seed must be in [0, 2^32)"),
    (["--strategy", "sample", "--temperature", "inf"], "must be finite"),
])
def test_absurd_decoding_options_are_usage_errors_naming_the_limit(args, message):
    result = CliRunner().invoke(cli, ["generate", "/no/such/model", "--prompt", "jack", *args])
    assert result.exit_code == 2 and message in result.output  # before the model is even looked at


def test_each_cap_is_inclusive_and_one_more_is_refused():
    DecodeOptions(max_words=MAX_WORDS, num=MAX_NUM, strategy="sample").validate()
    DecodeOptions(num=MAX_BEAM, beam_size=MAX_BEAM, strategy="beam").validate()
    for too_much in (dict(max_words=MAX_WORDS + 1), dict(num=MAX_NUM + 1, strategy="sample"),
                     dict(beam_size=MAX_BEAM + 1, strategy="beam"), dict(seed=-1), dict(seed=2**32)):
        with pytest.raises(InputError):
            DecodeOptions(**too_much).validate()


@pytest.mark.parametrize("args", [["--context-tokens", "1000000000"], ["--batch-size", "1000000000"]])
def test_absurd_scoring_options_are_usage_errors(args):
    result = CliRunner().invoke(cli, ["perplexity", "/no/such/model", "-", *args])
    assert result.exit_code == 2 and "range" in result.output


def test_a_huge_line_in_a_small_gz_is_refused_after_a_bounded_read(tmp_path):
    path = tmp_path / "bomb.txt.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(b"first line\n")
        chunk = b"a " * (1 << 20)
        for _ in range(9):  # an 18 MiB line
            f.write(chunk)
    assert path.stat().st_size < 200_000
    lines = read_lines(path)
    assert next(lines) == (1, "first line")
    with pytest.raises(InputError, match=r"bomb.txt.gz:2: line longer than 16 MiB"):
        next(lines)
    code = ("import resource, subprocess, sys; p = subprocess.run([sys.executable, '-m', 'wordlm', 'score', sys.argv[1], "
            "sys.argv[2]], capture_output=True, text=True); print(p.returncode, p.stderr.strip().splitlines()[-1]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code, MODEL, str(path)], capture_output=True, text=True, check=True)
    status, peak_kib = done.stdout.splitlines()
    assert status.startswith("1 Error: ") and "line longer than 16 MiB" in status
    assert int(peak_kib) < 2_000_000  # TensorFlow alone is ~600 MB; the line was never read whole
