"""The tests' shared helpers, in one place: the tiny rhyme models (committed fixtures, loaded instead
of trained), one in-process CLI runner, one check of the CLI's one-line errors.

`tiny_model(framing, ...)` returns the model that `train()` makes on the bundled rhyme with these
settings (seed 0). The settings the suite uses are trained once by `tests/golden/make_golden.py
--tiny` and committed under `tests/golden/tiny/<name>/` (tens of KB each); `tiny_model` loads those
and trains only settings that have no fixture (a new test's, until the script is rerun).
`tests/test_fixture_models.py` checks that the script still reproduces the committed models.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
TINY = HERE / "golden" / "tiny"

RHYME_LINES = [
    "Jack and Jill went up the hill",
    "To fetch a pail of water",
    "Jack fell down and broke his crown",
    "And Jill came tumbling after",
]

# fixture name -> the tiny_model settings it was trained with (every setting the default suite uses)
TINY_MODELS = {
    "seq": {},
    "seq-e1": {"epochs": 1},
    "seq-e2-rev": {"epochs": 2, "reverse": True},
    "seq-e5": {"epochs": 5},
    "seq-e20-ctx24": {"epochs": 20, "context_tokens": 24},
    "seq-rev": {"reverse": True},
    "seq-rev-e200-u32": {"epochs": 200, "units": 32, "reverse": True, "learning_rate": 0.01},
    "seq-nb": {"boundaries": False},
    "seq-l2": {"layers": 2},
    "seq-l2-e1": {"layers": 2, "epochs": 1},
    "seq-u8-l2": {"units": 8, "layers": 2},
    "line": {"framing": "line"},
    "line-nb": {"framing": "line", "boundaries": False},
    "line-nb-e5": {"framing": "line", "boundaries": False, "epochs": 5},
    "window": {"framing": "window"},
    "window-e5": {"framing": "window", "epochs": 5},
    "word": {"framing": "word"},
    "word-e5": {"framing": "word", "epochs": 5},
    "char-e5": {"framing": "char", "epochs": 5},
}


def tiny_key(framing="sequence", boundaries=True, epochs=30, context=2, units=16, layers=1, **kw):
    return (framing, boundaries, epochs, context, units, layers, tuple(sorted(kw.items())))


FIXTURE_OF = {tiny_key(**settings): name for name, settings in TINY_MODELS.items()}
_MODELS: dict = {}


def train_tiny(framing="sequence", boundaries=True, epochs=30, context=2, units=16, layers=1, **kw):
    """Train the tiny rhyme model with these settings (what the committed fixtures were made by)."""
    from wordlm.demo import rhyme_path
    from wordlm.model import ModelSize
    from wordlm.training import TrainConfig, train

    config = TrainConfig(framing=framing, boundaries=boundaries, context=context, epochs=epochs,
                         size=ModelSize(8, units, layers, 0.0), batch_size=8, seed=0, **kw)
    return train([rhyme_path()], config, verbose=0)


def load_tiny(name: str):
    """The committed fixture `name`, loaded as if just trained (no source directory; a Keras network,
    as `train()` returns: `tiny_model` moves it onto ONNX Runtime under `WORDLM_RUNTIME=onnx`)."""
    from wordlm import saving

    lm = saving.load(TINY / name, runtime="tensorflow")
    lm.source = None  # a save elsewhere never touches the committed files
    return lm


def tiny_model(framing="sequence", boundaries=True, epochs=30, context=2, units=16, layers=1, **kw):
    """A tiny model trained on the rhyme (cached per process: same arguments, same object).

    Loaded from its committed fixture when there is one (`TINY_MODELS`), else trained here. Under
    `WORDLM_RUNTIME=onnx` (`pytest --runtime onnx`) its inference runs through ONNX Runtime
    (`runtime.files.use_onnx`: the Keras network stays for training and saving)."""
    key = tiny_key(framing, boundaries, epochs, context, units, layers, **kw)
    if key not in _MODELS:
        name = FIXTURE_OF.get(key)
        if name is not None and (TINY / name / "wordlm.json").is_file():
            lm = load_tiny(name)
        else:
            lm = train_tiny(framing, boundaries, epochs, context, units, layers, **kw)
        if os.environ.get("WORDLM_RUNTIME") == "onnx":
            from wordlm.runtime.files import use_onnx

            use_onnx(lm)
        _MODELS[key] = lm
    return _MODELS[key]


# the texts whose scores pin each fixture (tests/golden/tiny/scores.json)
PROBE = RHYME_LINES + ["jack fell down the hill", "zebra water after", ""]


def probe_scores(lm) -> list[float]:
    from wordlm.scoring import score_sentences

    return [s.logprob for s in score_sentences(lm, PROBE)]


def committed_scores() -> dict:
    return json.loads((TINY / "scores.json").read_text())


# -- the CLI in-process --------------------------------------------------------------------------
def cli_run(*args, input=None, **kw):
    """`wordlm ARGS...` in this process (click's CliRunner); stdout and stderr apart."""
    from click.testing import CliRunner

    from wordlm.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], input=input, **kw)


def one_line_error(result, *needles, code=1, ignore=(), only=True, error_prefix=False, stdout_empty=False):
    """An error as the CLI promises it; returns its line. Takes a CliRunner result or a
    subprocess.CompletedProcess.

    Always: exit `code`, no traceback, each needle in the error line. `only`: the error is the one
    line on stderr (lines starting with an `ignore` prefix are logs; for code 2, click's usage lines
    before `Error: ` are left out); else it is the last line and the only `Error:` line (logs may
    come before it). `error_prefix`: the line starts with `Error: `. `stdout_empty`: nothing on stdout.
    """
    process = hasattr(result, "returncode")
    exit_code = result.returncode if process else result.exit_code
    output = result.stderr if process else result.output
    assert exit_code == code, (exit_code, output)
    assert "Traceback" not in output and "Traceback" not in result.stderr, output
    if not process:
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith(tuple(ignore))]
    if code == 2:  # click's usage errors: the usage line, a hint, then the one error line
        lines = [line for line in lines if line.startswith("Error: ")]
    if only:
        assert len(lines) == 1, result.stderr
    else:
        errors = [line for line in lines if line.startswith("Error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    line = lines[-1]
    if error_prefix:
        assert line.startswith("Error: "), line
    for needle in needles:
        assert needle in line, line
    if stdout_empty:
        assert result.stdout == "", result.stdout
    return line
