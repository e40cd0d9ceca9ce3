"""The CLI prints exactly what it printed before the inference-core redesign (recorded at cd1c4bf).

`tests/golden/models/` holds five tiny seeded models (word sequence, its backward twin, the
tutorial's line framing without boundaries, a window of 2, characters) and `expected.json` the
stdout of 44 commands on them, recorded by `tests/golden/make_golden.py`. The commands run in
this process (click's runner), so TensorFlow starts once.

The text must be identical; the numbers in it equal to float32 rounding (relative 2e-5: the scores
now all come from one formula, `Network.target_logprobs`, where some paths used to gather from a
log-softmax, which rounds differently in the last bits of a float32).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from golden.make_golden import MODELS, write_data
from wordlm.cli import cli

RECORDS = json.loads((Path(__file__).parent / "golden" / "expected.json").read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden")
    write_data(folder)
    return folder


@pytest.mark.parametrize("record", RECORDS, ids=[" ".join(r["args"][:2] + r["args"][3:5]) for r in RECORDS])
def test_cli_output_is_unchanged(record, data):
    args = [a.replace("{M}", str(MODELS)).replace("{D}", str(data)) for a in record["args"]]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = result.stdout.replace(str(data), "{D}").replace(str(MODELS), "{M}")
    want = record["stdout"]
    assert NUMBER.sub("#", got) == NUMBER.sub("#", want)  # the same text, numbers aside
    for a, b in zip(NUMBER.findall(got), NUMBER.findall(want)):
        assert math.isclose(float(a), float(b), rel_tol=2e-5, abs_tol=1e-9), (a, b)


NUMBER = re.compile(r"-?\d+\.?\d*(?:e[-+]?\d+)?")
