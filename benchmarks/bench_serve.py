"""`wordlm serve` under load, on loopback: requests/s and latency for /v1/next and /v1/score.

    python benchmarks/bench_serve.py [--seconds 6] [--requests 3000] [--cli-runs 3]

A 2×200 sequence model over a synthetic 10k vocabulary (untrained: the cost of a request does not
depend on the weights) is saved to a temporary folder and served by a real `wordlm serve` process
on 127.0.0.1, with micro-batching on (the defaults) and, in a second process, off (`--max-batch 1`),
each configuration measured on both back to back. Closed-loop
clients (1, 8 and 64 at once, each with one keep-alive connection, asyncio, plain HTTP/1.1) send
requests back to back for `--seconds` or `--requests` per configuration, whichever comes first:
/v1/next with a random prompt of 1-8 words and top 10, /v1/score with one random line of 5-15
words. Side by side, the way without a service: one `wordlm next` process per request
(`--cli-runs` of them, one after the other). One JSON line per configuration, then the ratios:
service vs one process per request (target ≥ 100×), batching on vs off at 64 clients (target ≥ 3×).
Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

VOCAB, UNITS, LAYERS = 10_000, 200, 2
CLIENTS = (1, 8, 64)


def build_model(path: str, seed: int = 0) -> None:
    import keras

    from wordlm.framings import SequenceFraming
    from wordlm.lm import LanguageModel
    from wordlm.model import ModelSize, build_model as network
    from wordlm.text import Tokenizer
    from wordlm.vocab import Vocabulary

    keras.utils.set_random_seed(seed)
    vocab = Vocabulary([f"w{i}" for i in range(VOCAB - 4)])
    size = ModelSize(embedding_dim=UNITS, units=UNITS, layers=LAYERS, dropout=0.0)
    framing = SequenceFraming(boundaries=True)
    lm = LanguageModel(Tokenizer("whitespace", lower=False), vocab, framing, size,
                       network(len(vocab), framing.input_length, framing.recurrent, size))
    lm.save(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, model: str, *args: str):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "wordlm", "serve", model, "--port", str(self.port), *args],
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

    def stats(self) -> dict:
        return json.loads(asyncio.run(_get(self.port, "/v1/info"))[1])["serve"]["stats"]

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(60)


# -- a minimal HTTP/1.1 keep-alive client (httpx or aiohttp would cost more CPU than the server) --
async def _request(reader, writer, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    writer.write(head + body)
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(status_line.split()[1]), await reader.readexactly(length)


async def _get(port: int, path: str):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await _request(reader, writer, "GET", path)
    finally:
        writer.close()


def bodies(endpoint: str, n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if endpoint == "next":
            words = " ".join(f"w{rng.randrange(VOCAB - 4)}" for _ in range(rng.randint(1, 8)))
            out.append(json.dumps({"prompt": words, "top": 10}).encode())
        else:
            words = " ".join(f"w{rng.randrange(VOCAB - 4)}" for _ in range(rng.randint(5, 15)))
            out.append(json.dumps({"text": words}).encode())
    return out


async def load(port: int, endpoint: str, clients: int, seconds: float, limit: int) -> dict:
    """Closed loop: `clients` connections sending requests back to back; latencies of each."""
    pool = bodies(endpoint, 512, seed=clients)
    latencies: list[float] = []
    sent = 0
    stop_at = time.monotonic() + seconds

    async def client(k: int):
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            await _request(reader, writer, "POST", f"/v1/{endpoint}", pool[i % len(pool)])  # warm this connection
            while time.monotonic() < stop_at and sent < limit:
                sent += 1
                i += clients
                t = time.perf_counter()
                status, _ = await _request(reader, writer, "POST", f"/v1/{endpoint}", pool[i % len(pool)])
                if status != 200:
                    raise RuntimeError(f"/v1/{endpoint}: HTTP {status}")
                latencies.append(time.perf_counter() - t)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*[client(k) for k in range(clients)])
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(q):
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {"requests": len(latencies), "seconds": round(elapsed, 2), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(pct(0.50), 2), "p99_ms": round(pct(0.99), 2)}


def measure(services: dict, seconds: float, limit: int) -> dict:
    """Every (endpoint, clients) against each service in turn, back to back, so that the machine's
    load (shared) changes as little as possible between batching on and off."""
    results = {}
    for endpoint in ("next", "score"):
        for service in services.values():
            asyncio.run(load(service.port, endpoint, 8, 1.0, 200))  # warm-up: compile the shapes
        for clients in CLIENTS:
            for batching, service in services.items():
                before = service.stats().get(endpoint, {})
                row = asyncio.run(load(service.port, endpoint, clients, seconds, limit))
                after = service.stats()[endpoint]
                calls = after["batches"] - before.get("batches", 0)
                row["mean_batch"] = round((after["rows"] - before.get("rows", 0)) / max(1, calls), 2)
                row = {"endpoint": f"/v1/{endpoint}", "clients": clients, "batching": batching, **row}
                print(json.dumps(row), flush=True)
                results[(endpoint, clients, batching)] = row
    return results


def cli_per_request(model: str, runs: int) -> dict:
    """One `wordlm next` process per request, one after the other: what a request costs without a service."""
    times = []
    for i in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "wordlm", "next", model, "--prompt", f"w{i} w{i + 1}", "--top", "10",
                        "--json"], check=True, capture_output=True, timeout=300)
        times.append(time.perf_counter() - t)
    times.sort()
    row = {"endpoint": "wordlm next (a process per request)", "clients": 1, "requests": runs,
           "seconds": round(sum(times), 2), "rps": round(runs / sum(times), 3),
           "p50_ms": round(1000 * times[len(times) // 2], 1), "p99_ms": round(1000 * times[-1], 1)}
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per configuration (at most)")
    parser.add_argument("--requests", type=int, default=3000, help="per configuration (at most)")
    parser.add_argument("--cli-runs", type=int, default=3)
    args = parser.parse_args()

    import tensorflow as tf

    import wordlm

    print(json.dumps({"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
                      "tensorflow": tf.__version__, "wordlm": wordlm.__version__,
                      "model": f"{LAYERS}x{UNITS} LSTM sequence, {VOCAB} words (untrained)",
                      "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d")}), flush=True)
    folder = tempfile.mkdtemp(prefix="bench-serve-")
    try:
        model = os.path.join(folder, "model")
        build_model(model)
        cli = cli_per_request(model, args.cli_runs)
        services = {True: Service(model), False: Service(model, "--max-batch", "1")}
        try:
            got = measure(services, args.seconds, args.requests)
        finally:
            for service in services.values():
                service.stop()
        for endpoint in ("next", "score"):
            summary = {"endpoint": f"/v1/{endpoint}",
                       **{f"batching_on_vs_off_at_{c}": round(got[(endpoint, c, True)]["rps"] /
                                                               got[(endpoint, c, False)]["rps"], 2) for c in CLIENTS}}
            if endpoint == "next":
                for c in (1, 64):
                    summary[f"service_vs_process_per_request_{c}_clients"] = round(got[("next", c, True)]["rps"] /
                                                                                  cli["rps"], 1)
            print(json.dumps(summary), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
