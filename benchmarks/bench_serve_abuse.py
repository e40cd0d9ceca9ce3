"""`wordlm serve` under abuse, on loopback: slow clients, huge and expensive requests, SIGTERM mid-load,
while normal clients are measured (latency percentiles) and the server's RSS and descriptors sampled.

    python benchmarks/bench_serve_abuse.py [--seconds 10] [--slow 1000] [--normal 64] [--model DIR]

A real `wordlm serve` process on 127.0.0.1 (the default limits) serves a 2×200 sequence model over
a 10k vocabulary (untrained, as `bench_serve.py`; or `--model`). Phases, each bounded in time and
count, each one JSON line:
- `baseline`: `--normal` closed-loop clients (one keep-alive connection each) ask /v1/next
  (prompts of 1-8 words) back to back;
- `slow_clients`: the same, while `--slow` slowloris connections (in a separate process) send a
  request head one byte every 2 s, reconnecting when the server closes them;
- `huge_requests`: the same, while 24 clients send bodies at the limits (/v1/next prompts of 20,000
  characters, /v1/score bodies near 1 MiB) back to back;
- `expensive_requests`: the same, while 4 clients send /v1/generate requests inside every cap that
  would take hours (sample, num 400, max_words 10,000; num 10,000 is refused at once on a 10k
  vocabulary, `schemas.MAX_CELLS`): each is cut at the compute budget (504);
- `sigterm`: all of the above at once, then SIGTERM: the time to exit, the exit code, and how many
  in-flight requests got a JSON answer versus a dropped connection (`Dropped`: closed or reset after
  the request was sent; a connection the server closed after an answer with `Connection: close` is
  reopened, and `ConnectionRefusedError` after the exit means nothing listens any more).
For each: normal requests answered, their p50/p99/max latency, error statuses, the abusive side's
statuses, the server's peak RSS (MiB) and peak open descriptors. Only 127.0.0.1; every loop is
bounded by --seconds and by counts.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_serve import VOCAB, build_model, free_port  # noqa: E402

HOST = "127.0.0.1"


class Dropped(Exception):
    """The connection closed (or was reset) after a request was sent and before its answer."""


async def _request(reader, writer, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, bool]:
    """One request on a keep-alive connection: (status, body, whether the server closes the connection)."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    try:
        writer.write(head + body)
        status_line = await reader.readline()
        if not status_line:
            raise Dropped()
        length, close = 0, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        return int(status_line.split()[1]), await reader.readexactly(length), close
    except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError):
        raise Dropped() from None


class Service:
    def __init__(self, model: str, *args: str):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "wordlm", "serve", model, "--host", HOST,
                                      "--port", str(self.port), *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode())
            try:
                if asyncio.run(_get(self.port, "/healthz"))[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the service did not start")


async def _get(port: int, path: str):
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        return await _request(reader, writer, "GET", path)
    finally:
        writer.close()


class Sampler:
    """The server's RSS and open descriptors, sampled every 0.1 s in a thread: the peaks."""

    def __init__(self, pid: int):
        self.pid, self.rss, self.fds, self._stop = pid, 0, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.wait(0.1):
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.rss = max(self.rss, int(line.split()[1]) // 1024)
                self.fds = max(self.fds, len(os.listdir(f"/proc/{self.pid}/fd")))
            except OSError:
                return

    def reset(self):
        self.rss = self.fds = 0

    def stop(self):
        self._stop.set()


def next_bodies(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps({"prompt": " ".join(f"w{rng.randrange(VOCAB - 4)}" for _ in range(rng.randint(1, 8))),
                        "top": 10}).encode() for _ in range(n)]


async def normal_clients(port: int, clients: int, seconds: float, limit: int = 100_000) -> dict:
    """Closed loop, one keep-alive connection each; latencies of every request, errors counted."""
    pool = next_bodies(512, seed=clients)
    latencies: list[float] = []
    errors: collections.Counter = collections.Counter()
    stop_at = time.monotonic() + seconds

    async def client(k: int):
        i = k
        reader = writer = None
        fresh = False
        while time.monotonic() < stop_at and len(latencies) < limit:
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
                    fresh = True
                i += clients
                t = time.perf_counter()
                status, _, close = await asyncio.wait_for(_request(reader, writer, "POST", "/v1/next",
                                                                   pool[i % len(pool)]), 30)
                latencies.append(time.perf_counter() - t)
                fresh = False
                if status != 200:
                    errors[str(status)] += 1
                if close:
                    writer.close()
                    reader = writer = None
            except (Dropped, OSError, asyncio.TimeoutError, ValueError) as e:
                # a drop on a connection that never carried an answer: reset before the server took it
                # (the kernel resets the listener's backlog when it closes); on a used one: a lost answer
                name = type(e).__name__
                errors[name + ("_new_connection" if isinstance(e, Dropped) and fresh else "")] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.05)
        if writer is not None:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*[client(k) for k in range(clients)])
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(q):
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None

    return {"normal_requests": len(latencies), "rps": round(len(latencies) / elapsed, 1), "p50_ms": pct(0.5),
            "p99_ms": pct(0.99), "max_ms": pct(1.0), "normal_errors": dict(errors)}


async def abusive_clients(port: int, kind: str, clients: int, seconds: float) -> dict:
    """Clients sending huge or expensive requests back to back: the statuses they got."""
    statuses: collections.Counter = collections.Counter()
    stop_at = time.monotonic() + seconds
    rng = random.Random(7)

    def body(k: int) -> tuple[str, bytes]:
        if kind == "expensive":
            return "/v1/generate", json.dumps({"prompt": "w1 w2", "strategy": "sample", "num": 400,
                                               "max_words": 10_000, "min_words": 10_000, "seed": k}).encode()
        if k % 2:
            words = " ".join(f"w{rng.randrange(VOCAB - 4)}" for _ in range(3_000))[:20_000]
            return "/v1/next", json.dumps({"prompt": words}).encode()
        line = " ".join(f"w{rng.randrange(VOCAB - 4)}" for _ in range(150))[:1_000]
        return "/v1/score", json.dumps({"lines": [line] * 1_000}).encode()

    async def client(k: int):
        reader = writer = None
        while time.monotonic() < stop_at:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                path, data = body(k)
                status, _, close = await asyncio.wait_for(_request(reader, writer, "POST", path, data), 120)
                statuses[str(status)] += 1
                if close:
                    writer.close()
                    reader = writer = None
            except (Dropped, OSError, asyncio.TimeoutError, ValueError) as e:
                statuses[type(e).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.1)
        if writer is not None:
            writer.close()

    await asyncio.gather(*[client(k) for k in range(clients)])
    return dict(statuses)


# -- slow clients: a separate process, so that their 1,000 sockets do not slow the measuring loop ----
async def _slowloris(port: int, n: int, seconds: float) -> dict:
    head = b"POST /v1/next HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 1000
    counts: collections.Counter = collections.Counter()
    stop_at = time.monotonic() + seconds

    async def one(k: int):
        await asyncio.sleep(k * 0.002)  # ramp up over 2 s
        while time.monotonic() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
                counts["connections"] += 1
            except OSError:
                counts["connect_errors"] += 1
                await asyncio.sleep(0.5)
                continue
            try:
                for i in range(len(head)):
                    if time.monotonic() >= stop_at:
                        break
                    writer.write(head[i : i + 1])
                    await writer.drain()
                    try:  # the server's answer (408) and close, or nothing for 2 s
                        data = await asyncio.wait_for(reader.read(4096), 2.0)
                    except asyncio.TimeoutError:
                        continue
                    counts["closed_with_" + (data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "nothing")] += 1
                    break
            except OSError:
                counts["reset"] += 1
            finally:
                writer.close()

    await asyncio.gather(*[one(k) for k in range(n)])
    return dict(counts)


def slow_process(port: int, n: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--slowloris", str(port), str(n), str(seconds)],
                            stdout=subprocess.PIPE, text=True)


# -- the phases -------------------------------------------------------------------------------------
async def phase(service: Service, sampler: Sampler, name: str, args, abuse: list[tuple[str, int]]) -> dict:
    sampler.reset()
    slow = slow_process(service.port, args.slow, args.seconds + 2) if name in ("slow_clients",) else None
    if slow is not None:
        await asyncio.sleep(2.5)  # let the slow connections pile up first
    tasks = [asyncio.ensure_future(abusive_clients(service.port, kind, n, args.seconds)) for kind, n in abuse]
    normal = await normal_clients(service.port, args.normal, args.seconds)
    abusive = dict(zip([k for k, _ in abuse], await asyncio.gather(*tasks)))
    row = {"phase": name, **normal, "abusive": abusive, "peak_rss_mib": sampler.rss, "peak_fds": sampler.fds}
    if slow is not None:
        out, _ = slow.communicate(timeout=args.seconds + 60)
        row["slow_clients"] = json.loads(out)
    return row


async def sigterm_phase(service: Service, sampler: Sampler, args) -> dict:
    sampler.reset()
    slow = slow_process(service.port, args.slow, args.seconds + 20)
    await asyncio.sleep(2.5)
    abuse = [asyncio.ensure_future(abusive_clients(service.port, "expensive", 4, args.seconds + 20)),
             asyncio.ensure_future(abusive_clients(service.port, "huge", 8, args.seconds + 20))]
    normal = asyncio.ensure_future(normal_clients(service.port, args.normal, args.seconds + 20))
    await asyncio.sleep(args.seconds / 2)
    signaled = time.monotonic()
    service.proc.send_signal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, service.proc.wait, 120)
    exited = time.monotonic() - signaled
    got = await asyncio.gather(normal, *abuse)
    slow.kill()
    slow.wait()
    return {"phase": "sigterm", "exit_code": code, "exit_seconds": round(exited, 2), **got[0],
            "abusive": {"expensive": got[1], "huge": got[2]}, "peak_rss_mib": sampler.rss, "peak_fds": sampler.fds,
            "note": "after the exit, clients see connection errors (nothing listens): counted in the errors"}


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--slowloris":
        print(json.dumps(asyncio.run(_slowloris(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (at most)")
    parser.add_argument("--slow", type=int, default=1000, help="slowloris connections")
    parser.add_argument("--normal", type=int, default=64, help="normal clients measured")
    parser.add_argument("--model", default=None, help="a model directory (default: a 2x200 LSTM, 10k words)")
    parser.add_argument("--phases", default="baseline,slow_clients,huge_requests,expensive_requests,sigterm")
    args = parser.parse_args()
    phases = args.phases.split(",")

    import tensorflow as tf

    import wordlm

    print(json.dumps({"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
                      "tensorflow": tf.__version__, "wordlm": wordlm.__version__, "load_average": os.getloadavg(),
                      "slow": args.slow, "normal": args.normal, "seconds": args.seconds,
                      "date": time.strftime("%Y-%m-%d")}), flush=True)
    folder = tempfile.mkdtemp(prefix="bench-serve-abuse-")
    try:
        model = args.model
        if model is None:
            model = os.path.join(folder, "model")
            build_model(model)
        service = Service(model)
        sampler = Sampler(service.proc.pid)
        try:
            asyncio.run(normal_clients(service.port, 8, 2.0))  # warm-up: compile the shapes
            plan = {"baseline": [], "slow_clients": [], "huge_requests": [("huge", 24)],
                    "expensive_requests": [("expensive", 4)]}
            for name in phases:
                if name in plan:
                    print(json.dumps(asyncio.run(phase(service, sampler, name, args, plan[name]))), flush=True)
            if "sigterm" in phases:
                print(json.dumps(asyncio.run(sigterm_phase(service, sampler, args))), flush=True)
        finally:
            sampler.stop()
            if service.proc.poll() is None:
                service.proc.kill()
                service.proc.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
