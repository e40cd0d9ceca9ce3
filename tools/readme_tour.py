"""The README's shell tour, run as written: check what it shows, or regenerate what it shows.

    python tools/readme_tour.py                 # run the default blocks, report differences
    python tools/readme_tour.py --slow          # also the blocks marked slow
    python tools/readme_tour.py --update        # rewrite the shown outputs from a real run

A tour block is a plain fenced block (no language) whose first line starts with `$ `. Each `$ `
line is one shell command (bash, in a scratch directory laid out as a fresh clone's root: the
package's `src/`, and `../shared` when the project's data folder exists); the lines up to the next
`$ ` are what it prints. A line ending in `(stderr)` is expected on stderr (anywhere, in order),
and from a line holding `(stderr from here)` every later line of that command is; the rest is
stdout, compared line by line. A line that is only `...` stands for any number of lines.
Numbers are compared to a relative `TOLERANCE` (training on another machine may round
differently), durations (a number followed by ` s`) not at all; the text around them exactly.
A command may carry a here-document (`$ cat > f <<'EOF'`, its lines, `EOF`). A `<!-- tour: slow -->` line before a block runs it
only with `--slow` (pytest `-m slow`); `<!-- tour: skip REASON -->` never runs it (a reason is
required: a service that needs docker, an hour of training). Blocks run in file order and share
the scratch directory, so a later block may use the files and models an earlier one made.

A command ending in ` &` is a background job, as in an interactive shell (a server): the tour starts
it, waits until it has printed the first line shown under it, and runs the next commands; `$ kill %N`
sends SIGTERM to the block's Nth job, which must then exit 0, and the lines shown under the `kill`
are what the job printed from then on. A job still running at the end of its block is an error.

A background job with `--port N` is a server: the block runs on a free port instead of the port the
document shows (every `N` in the block's commands is rewritten, and the port is written back as `N`
in what they print, so the document keeps showing `N`); the tour polls `GET /healthz` until the
server answers, and checks that it is the block's own server: the job still runs and `GET /v1/info`
describes the model its command names (`wordlm info MODEL --json`). Another server already on `N`
(a user's own, from following the tour) can neither break the tour nor answer in its place.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "docs/scaling.md"]
TOLERANCE = 1e-3  # relative, and absolute for numbers near 0
NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?")
STDERR = re.compile(r"\s*\(stderr\)\s*$")
STDERR_FROM_HERE = re.compile(r"\s*\(stderr from here\)\s*$")
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")
DURATION = re.compile(r"\d+(?:\.\d+)?(?= s\b)")  # seconds: not compared (machines differ)
MARKER = re.compile(r"<!--\s*tour:\s*(slow|skip)\b\s*(.*?)\s*-->")
KILL_JOB = re.compile(r"^kill %(\d+)$")
JOB_START_TIMEOUT = 180.0  # seconds for a background job to print its first line (a server: to answer)
PORT_OPTION = re.compile(r"--port[ =](\d+)\b")


@dataclass
class Line:
    text: str  # without its stream marker
    stderr: bool
    marker: str = ""  # the marker as written (with its padding), kept by --update
    source: int = -1  # index in the document's lines


@dataclass
class Command:
    shell: str
    source: int
    expected: list[Line] = field(default_factory=list)
    source_end: int = -1


@dataclass
class Block:
    document: Path
    start: int  # index of the opening fence
    end: int  # index of the closing fence
    mode: str  # "run", "slow" or "skip"
    reason: str
    commands: list[Command]

    @property
    def where(self) -> str:
        return f"{self.document.name}:{self.start + 1}"


def parse(document: Path) -> list[Block]:
    lines = document.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("```"):
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
        body = list(range(i + 1, end))
        if lines[i] == "```" and body and lines[body[0]].startswith("$ "):
            mode, reason = "run", ""
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marked = MARKER.search(before)
            if marked:
                mode, reason = marked.group(1), marked.group(2)
                if mode == "skip" and not reason:
                    raise SystemExit(f"{document.name}:{i}: `tour: skip` needs a reason")
            blocks.append(Block(document, i, end, mode, reason, _commands(lines, body)))
        i = end + 1
    return blocks


def _commands(lines: list[str], body: list[int]) -> list[Command]:
    commands: list[Command] = []
    from_here, heredoc = False, None
    for k in body:
        text = lines[k]
        if heredoc is not None:  # the body of a `<<'EOF'` command is part of the command
            commands[-1].shell += "\n" + text
            commands[-1].source_end = k
            if text == heredoc:
                heredoc = None
            continue
        if text.startswith("$ "):
            commands.append(Command(text[2:], k))
            from_here = False
            m = HEREDOC.search(text)
            heredoc = m.group(1) if m else None
            continue
        m = STDERR_FROM_HERE.search(text) or STDERR.search(text)
        if m and STDERR_FROM_HERE.search(text):
            from_here = True
        stderr = bool(m) or from_here
        commands[-1].expected.append(Line(text[: m.start()] if m else text, stderr, m.group(0) if m else "", k))
    return commands


def _numbers_close(want: str, got: str) -> bool:
    want, got = DURATION.sub("0", want), DURATION.sub("0", got)
    if NUMBER.sub("#", want).rstrip() != NUMBER.sub("#", got).rstrip():
        return False
    for a, b in zip(NUMBER.findall(want), NUMBER.findall(got)):
        x, y = float(a.replace(",", "")), float(b.replace(",", ""))
        if not math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            return False
    return True


def match_stdout(expected: list[Line], actual: list[str]) -> dict[int, int] | None:
    """Expected line index → actual line index, every expected line matched in order (`...` any
    number of lines), all actual lines used; None when the output differs."""
    want = [e.text for e in expected]

    def walk(i: int, j: int) -> dict[int, int] | None:
        if i == len(want):
            return {} if j == len(actual) else None
        if want[i].strip() == "...":
            for k in range(j, len(actual) + 1):
                rest = walk(i + 1, k)
                if rest is not None:
                    return rest
            return None
        if j < len(actual) and _numbers_close(want[i], actual[j]):
            rest = walk(i + 1, j + 1)
            if rest is not None:
                return {i: j, **rest}
        return None

    return walk(0, 0)


def match_stderr(expected: list[Line], actual: list[str]) -> tuple[dict[int, int], list[int]]:
    """Each expected stderr line found in the actual stderr, in order: (matched, missing indices)."""
    matched, missing, j = {}, [], 0
    for i, e in enumerate(expected):
        if e.text.strip() == "...":
            continue
        k = next((k for k in range(j, len(actual)) if _numbers_close(e.text.rstrip(), actual[k].rstrip())), None)
        if k is None:  # a line whose numbers drifted: the same text with other numbers, for --update
            shape = NUMBER.sub("#", e.text).rstrip()
            k2 = next((k for k in range(j, len(actual)) if NUMBER.sub("#", actual[k]).rstrip() == shape), None)
            missing.append(i)
            if k2 is not None:
                matched[i] = k2
                j = k2 + 1
            continue
        matched[i] = k
        j = k + 1
    return matched, missing


def scratch_directory(base: Path) -> Path:
    """A fresh clone's root as the tour sees it: `src/` (the package and its data) and `../shared`."""
    clone = base / "clone"
    clone.mkdir(parents=True)
    shutil.copytree(ROOT / "src", clone / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (base / "shared").symlink_to(shared)
    return clone


def environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("COLUMNS", None)
    return env


@dataclass
class Result:
    command: Command
    stdout: list[str]
    stderr: list[str]
    returncode: int
    problems: list[str]
    stdout_map: dict[int, int] | None
    stderr_map: dict[int, int]


class Ports:
    """The port a block shows (`shown`) and the free port it runs on (`used`): rewritten in the
    commands run, and back in what they print."""

    def __init__(self, shown: str | None = None, used: str | None = None):
        self.shown, self.used = shown, used

    @classmethod
    def of(cls, block: "Block") -> "Ports":
        for command in block.commands:
            m = PORT_OPTION.search(command.shell)
            if m and command.shell.rstrip().endswith(" &"):
                return cls(m.group(1), str(free_port()))
        return cls()

    @staticmethod
    def _swap(text: str, a: str | None, b: str | None) -> str:
        return re.sub(rf"(?<![\d.]){a}(?![\d.])", b, text) if a and b else text

    def run(self, shell: str) -> str:
        return self._swap(shell, self.shown, self.used)

    def shown_lines(self, lines: list[str]) -> list[str]:
        return [self._swap(line, self.used, self.shown) for line in lines]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_command(command: Command, cwd: Path, env: dict, timeout: float, ports: Ports = Ports()) -> Result:
    done = subprocess.run(["bash", "-c", ports.run(command.shell)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return check(command, ports.shown_lines(done.stdout.splitlines()), ports.shown_lines(done.stderr.splitlines()),
                 done.returncode)


def check(command: Command, stdout: list[str], stderr: list[str], returncode: int) -> Result:
    """Compare what a command printed with what the document shows under it."""
    out = [e for e in command.expected if not e.stderr]
    err = [e for e in command.expected if e.stderr]
    problems = []
    shows_error = any(e.text.startswith(("Error:", "Usage:")) for e in command.expected)
    if returncode != 0 and not shows_error:
        problems.append(f"exit code {returncode}; stderr: {' | '.join(stderr[-3:])}")
    stdout_map = match_stdout(out, stdout)
    if stdout_map is None:
        problems.append("stdout differs:\n" + _diff([e.text for e in out], stdout))
    stderr_map, missing = match_stderr(err, stderr)
    for i in missing:
        problems.append(f"not on stderr: {err[i].text.rstrip()!r}")
    return Result(command, stdout, stderr, returncode, problems, stdout_map, stderr_map)


class Job:
    """A background command (`CMD &`): its output goes to files read as it runs."""

    def __init__(self, command: Command, cwd: Path, env: dict, ports: Ports = Ports()):
        self.command, self.cwd, self.env, self.ports = command, cwd, env, ports
        self.shell = ports.run(command.shell[:-1].rstrip())
        self.out = tempfile.TemporaryFile("w+")
        self.err = tempfile.TemporaryFile("w+")
        # `exec`: the signal reaches the command itself, not a shell waiting for it
        self.process = subprocess.Popen(["bash", "-c", "exec " + self.shell], cwd=cwd, env=env,
                                        stdout=self.out, stderr=self.err, text=True)
        self.read_out = self.read_err = 0  # lines already given to a command's check

    def lines(self) -> tuple[list[str], list[str]]:
        def read(f):
            f.seek(0)
            return self.ports.shown_lines(f.read().splitlines())

        return read(self.out), read(self.err)

    def started(self) -> Result:
        """Wait until the job printed as many lines as its command shows (or exited), and a server
        until it answers on its port as the block's own server; then check what it printed."""
        shown = len(self.command.expected)
        give_up = time.monotonic() + JOB_START_TIMEOUT
        while time.monotonic() < give_up and self.process.poll() is None:
            out, err = self.lines()
            if len(out) + len(err) >= shown:
                break
            time.sleep(0.1)
        problems = self.serving(give_up) if self.ports.used else []
        out, err = self.lines()
        self.read_out, self.read_err = len(out), len(err)
        code = self.process.poll()
        result = check(self.command, out, err, 0 if code is None else code)
        result.problems[:0] = problems
        if code is not None:
            result.problems.insert(0, f"the background job exited (code {code}) before the next command")
        return result

    def _get(self, path: str):
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for 127.0.0.1
        with opener.open(f"http://127.0.0.1:{self.ports.used}{path}", timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")

    def serving(self, give_up: float) -> list[str]:
        """Poll `/healthz` until the server answers; then check that the answers are this job's: the
        job still runs, and `/v1/info` describes the model its command names."""
        while True:
            if self.process.poll() is not None:
                return []  # reported by the caller, with what it printed
            try:
                if self._get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > give_up:
                return [f"no answer on port {self.ports.used} (shown as {self.ports.shown}) after "
                        f"{JOB_START_TIMEOUT:.0f} s"]
            time.sleep(0.2)
        words = shlex.split(self.shell)
        if "serve" not in words or words.index("serve") + 1 >= len(words):
            return []
        model = words[words.index("serve") + 1]
        try:
            served = json.loads(self._get("/v1/info")[1])
            served.pop("serve", None)
        except (OSError, ValueError, AttributeError) as e:
            return [f"port {self.ports.used}: GET /v1/info failed ({e}): not the block's server?"]
        info = subprocess.run(["bash", "-c", f"wordlm info {shlex.quote(model)} --json"], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True)
        try:
            expected = json.loads(info.stdout)
        except ValueError:
            return [f"`wordlm info {model} --json` failed: {info.stderr.strip()[-300:]}"]
        from wordlm.serve.app import without_paths  # the service names training files without their folders

        if self.process.poll() is not None or served != without_paths(expected):
            return [f"the server on port {self.ports.used} is not this block's: /v1/info describes another "
                    f"model than {model} ({json.dumps(served)[:200]})"]
        return []

    def stop(self, command: Command, timeout: float) -> Result:
        """SIGTERM, wait; what it printed since it started is checked against `command`'s lines."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        out, err = self.lines()
        return check(command, out[self.read_out :], err[self.read_err :], code)


def _diff(want: list[str], got: list[str]) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(want, got, "shown", "printed", lineterm="", n=1))


def run_blocks(blocks: list[Block], scratch: Path, slow: bool, timeout: float = 900, log=print) -> list[Result]:
    env, results = environment(), []
    for block in blocks:
        if block.mode == "skip" or (block.mode == "slow" and not slow):
            log(f"{block.where}: not run ({block.mode}{': ' + block.reason if block.reason else ''})")
            continue
        jobs: list[Job] = []
        ports = Ports.of(block)
        for command in block.commands:
            kill = KILL_JOB.match(command.shell.strip())
            if command.shell.rstrip().endswith(" &"):
                jobs.append(Job(command, scratch, env, ports))
                result = jobs[-1].started()
            elif kill and 1 <= int(kill.group(1)) <= len(jobs):
                result = jobs[int(kill.group(1)) - 1].stop(command, timeout=60)
            else:
                result = run_command(command, scratch, env, timeout, ports)
            results.append(result)
            status = "ok" if not result.problems else "DIFFERS"
            log(f"{block.where}: $ {command.shell[:90]}  {status}")
            for p in result.problems:
                log("    " + p.replace("\n", "\n    "))
        for job in jobs:
            if job.process.poll() is None:
                job.stop(job.command, timeout=60)
                results[-1].problems.append(f"background job still running at the end of the block: {job.command.shell}")
                log(f"{block.where}: {results[-1].problems[-1]}")
    return results


def update(document: Path, results: list[Result]) -> int:
    """Rewrite the shown outputs of `document` from `results`; returns how many lines changed."""
    lines = document.read_text().splitlines()
    replacements: dict[int, list[str]] = {}
    for r in results:
        c = r.command
        if any(p.startswith("exit code") for p in r.problems):
            continue  # a command that failed shows nothing worth keeping: fix it, then update
        out = [e for e in c.expected if not e.stderr]
        err = [e for e in c.expected if e.stderr]
        if r.stdout_map is not None:  # same shape: refresh the numbers of the lines shown
            for i, j in r.stdout_map.items():
                replacements[out[i].source] = [r.stdout[j]]
        elif out and all(e.text.strip() != "..." for e in out):  # different: show what it printed now
            replacements[out[0].source] = r.stdout
            for e in out[1:]:
                replacements[e.source] = []
        elif not out and r.stdout:  # printed data where none was shown: show it after the command
            anchor = c.source_end if c.source_end >= 0 else c.source
            replacements[anchor] = [lines[anchor], *r.stdout]
        for i, j in r.stderr_map.items():
            e = err[i]
            text = r.stderr[j]
            pad = len(e.text) + len(e.marker) - len(e.marker.lstrip()) - len(text)
            replacements[e.source] = [text + (" " * max(pad, 1) + e.marker.lstrip() if e.marker else "")]
    changed, new = 0, []
    for k, line in enumerate(lines):
        if k in replacements:
            if replacements[k] != [line]:
                changed += 1
            new.extend(replacements[k])
        else:
            new.append(line)
    document.write_text("\n".join(new) + "\n")
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="also run the blocks marked slow")
    parser.add_argument("--update", action="store_true", help="rewrite the shown outputs from this run")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (its path is printed)")
    parser.add_argument("--document", action="append", help="only these documents (default: all of DOCUMENTS)")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="wordlm-tour-"))
    try:
        scratch = scratch_directory(base)
        failed = 0
        for name in args.document or DOCUMENTS:
            document = ROOT / name
            results = run_blocks(parse(document), scratch, args.slow)
            failed += sum(bool(r.problems) for r in results)
            if args.update:
                print(f"{name}: {update(document, results)} lines rewritten")
        print(f"{failed} command(s) differ" if failed else "the tour runs as shown")
        return 1 if failed and not args.update else 0
    finally:
        if args.keep:
            print(f"scratch directory: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
