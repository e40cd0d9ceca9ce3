"""Many short lines are scored as fast as long ones, and exactly as before (issue 17).

`tests/golden/short_lines.json` holds what `wordlm score --json --per-token` printed for a mixed
file (empty lines, one-word lines, OOVs, lines of 2 to 300 words, a typed `<unk>`) on the golden
models before the per-sentence overhead was removed (recorded at be7ba22 with
`PYTHONPATH=<checkout of be7ba22>/src python tests/test_short_lines.py --record`). Today's output must be the same text with the same
counts, tokens and OOV flags; the numbers equal to float32 rounding (a forward pass now holds more
short rows, and a float32 matmul of another shape may round a last bit differently: at most
1e-6 per token, documented as batching invariance in DESIGN.md).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
RECORD = HERE / "golden" / "short_lines.json"
MODELS = HERE / "golden" / "models"
WORDS = "jack and jill went up the hill to fetch a pail of water fell down broke his crown zebra Jack <unk>".split()
RUNS = {  # model, extra options
    "seq": ("seq", []),
    "seq-skip-nobos": ("seq", ["--oov", "skip", "--no-bos"]),
    "seq-context": ("seq", ["--context-tokens", "40"]),
    "back": ("back", []),
    "char": ("char", []),
    "win": ("win", ["--oov", "skip"]),
    "line": ("line", []),
}


def mixed_lines(n: int = 250) -> list[str]:
    rng = random.Random(17)
    sizes = [0, 1, 1, 1, 1, 2, 3, 5, 8, 13, 21, 40, 70]
    return [" ".join(rng.choice(WORDS) for _ in range(rng.choice(sizes))) for _ in range(n)]


def run(name: str, folder: Path, runtime: str = "tensorflow") -> list[dict]:
    from click.testing import CliRunner

    from wordlm.cli import cli

    model, extra = RUNS[name]
    text = folder / "mixed.txt"
    text.write_text("\n".join(mixed_lines()) + "\n")
    result = CliRunner().invoke(cli, ["score", str(MODELS / model), str(text), "--json", "--per-token", *extra,
                                      "--batch-size", "97", "--runtime", runtime], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [_compact(json.loads(line)) for line in result.stdout.splitlines()]


def _compact(row: dict) -> dict:
    """A score line with its tokens as three parallel fields (the record stays small)."""
    tokens = row.pop("tokens")
    row["token"] = " ".join(t["token"].replace(" ", "_") for t in tokens)
    row["oov"] = "".join("1" if t["oov"] else "0" for t in tokens)
    row["lp"] = [t["logprob"] for t in tokens]
    return row


@pytest.mark.parametrize("runtime", ["tensorflow", "onnx"])
@pytest.mark.parametrize("name", list(RUNS))
def test_per_line_scores_are_the_same_as_before(name, runtime, tmp_path):
    """Recorded under TensorFlow: bit-identical there for 95% of lines; ONNX Runtime's float32 sums
    round differently, so under it each token agrees to 1e-6 and each line to 1e-5."""
    want = json.loads(RECORD.read_text())[name]
    got = run(name, tmp_path, runtime)
    assert len(got) == len(want)
    exact = 0
    for g, w in zip(got, want):
        assert (g["text"], g["words"], g["oovs"], g["token"], g["oov"]) == \
            (w["text"], w["words"], w["oovs"], w["token"], w["oov"])
        assert [a is None for a in g["lp"]] == [b is None for b in w["lp"]]
        for a, b in zip(g["lp"], w["lp"]):
            if a is not None:
                assert abs(a - b) <= 1e-6, (g["text"], a, b)
        assert g["logprob"] == pytest.approx(w["logprob"], abs=1e-5)
        exact += g["logprob"] == w["logprob"]
    if runtime == "tensorflow":
        assert exact >= 0.95 * len(got), f"only {exact} of {len(got)} lines bit-identical"


def record() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        RECORD.write_text(json.dumps({name: run(name, Path(tmp)) for name in RUNS}, separators=(",", ":")) + "\n")
    print(f"wrote {RECORD}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    if sys.argv[1:] == ["--record"]:
        record()


def _reference_lines(data: bytes, name: str):
    """The reader as it was (one `readline` per line, each checked): what the block reader must equal."""
    import io

    from wordlm.errors import InputError

    out = []
    try:
        for number, raw in enumerate(iter(io.BytesIO(data).readline, b""), 1):
            if raw.startswith(b"\xef\xbb\xbf"):  # the text rule: every line drops its BOM
                raw = raw[3:]
            if b"\x00" in raw:
                raise InputError(f"{name}:{number}: binary data (NUL byte), expected UTF-8 text")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{name}:{number}: invalid UTF-8 at byte {e.start} of the line; "
                                 "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
            out.append((number, text.rstrip("\r\n")))
    except InputError as e:
        out.append(("error", str(e)))
    return out


PIECES = [b"a", b"b c", b"\n", b"\r\n", b"\r", b"\xef\xbb\xbf", b"\xc3\xa9", b"\xc3", b"\x00", b" ", b"\xe2\x80\xa8",
          b"\x0b", b"\x1c", b"\x85"]


@pytest.mark.parametrize("block", [1, 3, 7, 1 << 20])
def test_the_block_reader_reads_what_the_line_reader_read(tmp_path, monkeypatch, block):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from wordlm import text as text_module
    from wordlm.errors import InputError

    monkeypatch.setattr(text_module, "BLOCK_BYTES", block)
    path = tmp_path / "f.txt"

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.sampled_from(PIECES), max_size=30))
    def check(pieces):
        data = b"".join(pieces)
        path.write_bytes(data)
        got = []
        try:
            got.extend(text_module.read_lines(path))
        except InputError as e:
            got.append(("error", str(e)))
        assert got == _reference_lines(data, str(path))

    check()


@pytest.mark.slow
def test_short_lines_score_at_half_the_tokens_per_second_of_long_lines():
    """Issue 17's target, measured side by side (benchmarks/bench_short_lines.py, medians of 3):
    one-word lines at >= 50% of the tokens/s of 100-word lines, same model, same words."""
    sys.path.insert(0, str(HERE.parent / "benchmarks"))
    from bench_short_lines import measure

    *files, summary = measure(lines=100_000, repeats=3)
    assert summary["ratio_short_to_long_tokens_per_s"] >= 0.5, files
