"""The README's shell tour runs as written and prints what it shows (`tools/readme_tour.py`).

The default suite runs the blocks on the bundled rhyme; `-m slow` also runs those marked slow
(Mother Goose from `../shared/data`, the demo). Each command is a real process from a scratch
directory laid out as a fresh clone's root, so the README cannot show a file it never makes.
The serve block runs on a free port while a decoy answers on the README's port 8765 (issue 31):
the tour waits for its own server and checks that `/v1/info` describes the model it was given.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class Decoy(BaseHTTPRequestHandler):
    """Another server, as a user's own `wordlm serve` would be: it answers every route (`/healthz`
    included) with 200 and JSON about some other model."""

    def _answer(self):
        body = json.dumps({"status": "ok", "decoy": True, "words": [], "results": [], "hypotheses": [],
                           "vocab_words": 9999}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def serve_decoy(port: int):
    """A decoy on 127.0.0.1:`port`, or None when something already holds the port (as good a decoy)."""
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), Decoy)
    except OSError:
        return None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def decoy_on_the_readmes_port():
    """Another server on the README's port 8765 for the whole tour (issue 31: the tour's own server
    could not bind there, and its checks passed on the other server's answers)."""
    server = serve_decoy(8765)
    yield
    if server is not None:
        server.shutdown()
        server.server_close()


def test_tour_blocks_on_the_bundled_rhyme_run_as_shown(tmp_path, decoy_on_the_readmes_port):
    blocks = [b for name in tour.DOCUMENTS for b in tour.parse(ROOT / name)]
    assert any("--port 8765 &" in c.shell for b in blocks if b.mode == "run" for c in b.commands)
    assert len(_run(tmp_path, slow=False)) >= 10


def test_the_tour_checks_that_a_server_is_its_own(tmp_path):
    """A server block runs on a free port, not the one shown (a decoy holds that one); the tour
    waits for it to answer and refuses answers that describe another model than the command's."""
    decoy = serve_decoy(8765)
    try:
        scratch = tmp_path / "s"
        scratch.mkdir()
        shutil.copytree(ROOT / "tests" / "golden" / "models" / "seq", scratch / "m")
        (scratch / "fake.py").write_text(FAKE_SERVER)
        doc = tmp_path / "doc.md"
        for vocab, ok in ((None, True), (7, False)):  # the model's own description; another model's
            doc.write_text(f"```\n$ python fake.py serve m --port 8765 {vocab or ''} &\nup on 8765 (stderr)\n"
                           "$ curl -s localhost:8765/v1/next\n{\"from\": \"fake\"}\n$ kill %1\nstopped (stderr)\n```\n")
            lines = []
            results = tour.run_blocks(tour.parse(doc), scratch, slow=False, log=lines.append)
            problems = [p for r in results for p in r.problems]
            assert (problems == []) == ok, lines
            if not ok:
                assert any("is not this block's" in p for p in problems), problems
    finally:
        if decoy is not None:
            decoy.shutdown()
            decoy.server_close()


# `python fake.py serve MODEL --port N [VOCAB]`: a server that prints the port it took and describes
# MODEL in /v1/info as `wordlm info MODEL --json` does (or, given VOCAB, with another vocabulary)
FAKE_SERVER = """
import json, signal, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

model, port = sys.argv[2], int(sys.argv[4])
info = json.loads(subprocess.run(["wordlm", "info", model, "--json"], capture_output=True, text=True).stdout)
from wordlm.serve.app import without_paths  # as `wordlm serve` describes it: training files by name
info = without_paths(info)
if len(sys.argv) > 5:
    info["vocab_words"] = int(sys.argv[5])

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(info if self.path == "/v1/info" else {"from": "fake"}, separators=(",", ": ")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", port), H)
print(f"up on {port}", file=sys.stderr, flush=True)

def stop(*_):
    print("stopped", file=sys.stderr, flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
server.serve_forever()
"""


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
