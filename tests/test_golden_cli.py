"""The CLI prints exactly what it printed before the inference-core redesign (recorded at cd1c4bf).

`tests/golden/models/` holds five tiny seeded models (word sequence, its backward twin, the
tutorial's line framing without boundaries, a window of 2, characters) and `expected.json` the
stdout of 44 commands on them, recorded by `tests/golden/make_golden.py`. The commands run in
this process (click's runner), so TensorFlow starts once.
"""

from __future__ import annotations

import json
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
    assert result.stdout.replace(str(data), "{D}").replace(str(MODELS), "{M}") == record["stdout"]
