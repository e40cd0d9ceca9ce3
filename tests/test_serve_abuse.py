"""The service under abuse (issue 30): nothing a client sends stalls, exhausts or poisons the others.

Mostly in process: `wordlm.serve.app(lm)` under FastAPI's TestClient, or under uvicorn in a thread
with `wordlm serve`'s own configuration (`serve_thread.ThreadServer`: real connections, keep-alive,
slow clients, disconnects). The stop on SIGTERM needs a real process (`serving.Server`). Every
bound is set small here so each case takes well under a second or two; load runs are in
`benchmarks/bench_serve_abuse.py`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import signal
import socket
import threading
import time

import pytest

from conftest import RHYME_LINES
from serve_thread import ThreadServer, raw_request, read_response

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

SLOW_GENERATE = {"prompt": "jack", "strategy": "sample", "num": 2_000, "min_words": 200, "max_words": 200, "seed": 1}


def client(lm, **kw):
    from fastapi.testclient import TestClient

    import wordlm.serve

    return TestClient(wordlm.serve.app(lm, max_wait_ms=0, **kw))


def is_json_error(r, status=None) -> dict:
    assert status is None or r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body["error"], str) and body["detail"], body
    return body


# -- 1. compute budget, cancellation, readiness ------------------------------------------------
def test_a_request_over_its_compute_budget_is_cut_with_a_json_504(seq_lm):
    with client(seq_lm, max_compute_s=0.3) as c:
        start = time.monotonic()
        r = c.post("/v1/generate", json={**SLOW_GENERATE, "num": 16, "min_words": 2_000, "max_words": 2_000})
        body = is_json_error(r, 504)
        assert "0.3 s of model time" in body["error"] and time.monotonic() - start < 8
        assert c.post("/v1/next", json={"prompt": "jack"}).status_code == 200  # the model is free again
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/v1/info").json()["serve"]["stats"]["cut"] == 1


def _spin(lm, calls: list, n: int = 1_000_000):
    """Model calls until cut (each goes through the watched primitive)."""
    for _ in range(n):
        lm.next_logprobs([[1, 2]])
        calls.append(1)


def test_work_for_a_client_that_went_away_is_cancelled(seq_lm):
    from wordlm.serve.batching import MicroBatcher

    calls: list = []

    async def scenario(batcher):
        task = asyncio.ensure_future(batcher.call(_spin, seq_lm, calls))
        await asyncio.sleep(0.3)
        task.cancel()  # what limits.Guard does when the client disconnects
        await asyncio.sleep(0.2)
        done_at = len(calls)
        await asyncio.sleep(0.3)
        assert len(calls) == done_at, "the model went on working for a client that has gone"
        start = time.monotonic()
        words = await batcher.next_words("jack", 3, None)  # and the worker is free at once
        return words, time.monotonic() - start

    batcher = MicroBatcher(seq_lm, max_compute_s=60)
    words, seconds = asyncio.run(scenario(batcher))
    batcher.close(5)
    assert len(words) == 3 and seconds < 3.0  # not the minutes the abandoned work would take
    assert batcher.stats.dropped == 1 and batcher.stats.cut == 0 and calls


def test_small_requests_wait_for_one_step_of_a_long_one_not_all_of_it(seq_lm):
    from wordlm.serve.batching import MicroBatcher

    calls: list = []

    async def scenario(batcher):
        long = asyncio.ensure_future(batcher.call(_spin, seq_lm, calls))
        await asyncio.sleep(0.3)
        waits = []
        for prompt in ("jack", "jill went", "up the"):
            start = time.monotonic()
            words, scored = await asyncio.gather(batcher.next_words(prompt, 2, None),
                                                 batcher.score_lines([prompt], _options()))
            waits.append(time.monotonic() - start)
            assert [w.word for w in words] == [w.word for w in seq_lm.next_words(prompt, 2)]
            assert abs(scored[0].logprob - seq_lm.score(prompt)) < 1e-5
        assert not long.done()  # the long one is still going: the small ones were answered in its gaps
        long.cancel()
        return waits

    for prompt in ("jack", "jill went", "up the"):  # compile the shapes first: the waits measured are the turns
        seq_lm.next_words(prompt, 2)
        seq_lm.score_lines([prompt])
    batcher = MicroBatcher(seq_lm, max_compute_s=60)
    waits = asyncio.run(scenario(batcher))
    batcher.close(5)
    assert max(waits) < 2.0, waits  # one step (milliseconds here), not the long one's 60 s


def test_a_decoding_step_too_large_for_memory_is_refused(seq_lm, monkeypatch):
    from wordlm.serve import schemas

    monkeypatch.setattr(schemas, "MAX_CELLS", 100 * seq_lm.vocab_size)
    with client(seq_lm) as c:
        r = c.post("/v1/generate", json={"prompt": "jack", "strategy": "sample", "num": 101, "seed": 1})
        body = is_json_error(r, 422)
        assert "num" in body["error"] and "ask for fewer" in body["error"]
        r = c.post("/v1/generate", json={"prompt": "jack", "strategy": "beam", "beam_size": 200, "num": 2})
        assert r.status_code == 422 and "beam_size" in r.json()["error"]
        assert c.post("/v1/generate", json={"prompt": "jack", "strategy": "sample", "num": 100, "seed": 1,
                                            "max_words": 2}).status_code == 200


def _options():
    from wordlm.scoring import Options

    return Options()


def test_a_disconnecting_client_cancels_its_request(seq_lm):
    import wordlm.serve

    app = wordlm.serve.app(seq_lm, max_wait_ms=0, max_compute_s=60)
    with ThreadServer(app) as server:
        sock = server.connect()
        sock.sendall(raw_request("POST", "/v1/generate", json.dumps(SLOW_GENERATE).encode(),
                                 {"Content-Type": "application/json"}))
        time.sleep(0.5)
        sock.close()  # gone before the answer
        time.sleep(0.5)
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", "/v1/next", json.dumps({"prompt": "jack"}), {"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        assert time.monotonic() - start < 3, "the next request waited for the abandoned one"
        assert app.state.batcher.stats.dropped == 1


def test_healthz_is_readiness_stuck_and_full(seq_lm, monkeypatch):
    from wordlm.serve import batching

    monkeypatch.setattr(batching, "STUCK_GRACE_S", 0.1)
    release = threading.Event()

    def stuck():  # one model call that cannot be interrupted
        release.wait(10)
        return []

    app_kw = {"max_compute_s": 0.2, "max_queue": 2, "queue_timeout_s": 0.5}
    import wordlm.serve

    app = wordlm.serve.app(seq_lm, max_wait_ms=0, **app_kw)
    with ThreadServer(app) as server:
        import requests

        results = {}

        def ask(name, body):
            results[name] = requests.post(server.url("/v1/fill"), json=body, timeout=30)

        app.state.batcher.lm.fill = lambda *a, **k: stuck()  # the next fill hangs in "the model"
        first = threading.Thread(target=ask, args=("stuck", {"text": "jack ___"}))
        first.start()
        time.sleep(0.6)  # past the budget and the grace: stuck
        h = requests.get(server.url("/healthz"), timeout=5)
        assert h.status_code == 503 and "stuck" in h.json()["reason"], h.text
        second = threading.Thread(target=ask, args=("queued", {"text": "jill ___"}))
        second.start()
        time.sleep(0.2)
        full = requests.post(server.url("/v1/next"), json={"prompt": "jack"}, timeout=5)
        is_json_error(full, 503)
        assert "busy" in full.json()["error"] and full.headers["retry-after"] == "1"
        first.join(10)
        second.join(10)
        # the event loop answered the stuck caller itself (504), and the queued one (503: waited too long)
        assert results["stuck"].status_code == 504, results["stuck"].text
        assert results["queued"].status_code in (503, 504), results["queued"].text
        del app.state.batcher.lm.fill
        release.set()
        deadline = time.monotonic() + 5
        while requests.get(server.url("/healthz"), timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the stuck call returned"
            time.sleep(0.05)


# -- 3. bounded resources: slow clients, heads, connections --------------------------------------
def test_slow_clients_are_timed_out_with_json_408(seq_lm):
    import wordlm.serve

    app = wordlm.serve.app(seq_lm, max_wait_ms=0, client_timeout=0.5)
    with ThreadServer(app, client_timeout=0.5) as server:
        silent = server.connect()  # connects, sends nothing
        dribble = server.connect()  # slowloris: an unfinished head
        dribble.sendall(b"POST /v1/next HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        body_slow = server.connect()  # a head, then half a body
        body_slow.sendall(raw_request("POST", "/v1/next", b"", {"Content-Type": "application/json"}).replace(
            b"Content-Length: 0", b"Content-Length: 40") + b'{"prompt":')
        time.sleep(1.0)
        for sock in (silent, dribble, body_slow):
            status, headers, body = read_response(sock)
            assert status == 408 and headers["content-type"] == "application/json", (status, body)
            assert "did not arrive within 0.5 s" in json.loads(body)["error"]
            assert sock.recv(10) == b""  # and closed
            sock.close()
        ok = server.connect()  # a normal client is served as before
        ok.sendall(raw_request("POST", "/v1/next", b'{"prompt": "jack"}', {"Content-Type": "application/json"}))
        assert read_response(ok)[0] == 200
        ok.close()


def test_oversized_head_and_excess_connections_get_json(seq_lm):
    import wordlm.serve

    app = wordlm.serve.app(seq_lm, max_wait_ms=0)
    with ThreadServer(app, max_connections=2) as server:
        big = server.connect()  # an unfinished head that goes on growing (no blank line yet)
        big.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (64 << 10))
        status, headers, body = read_response(big)
        assert status == 400 and "16,384 bytes" in json.loads(body)["error"]
        big.close()
        time.sleep(0.1)
        held = [server.connect(), server.connect()]
        extra = server.connect()
        extra.sendall(raw_request("GET", "/healthz"))
        status, headers, body = read_response(extra)
        assert status == 503 and "--max-connections" in json.loads(body)["error"]
        for s in (*held, extra):
            s.close()


def test_a_prompt_over_the_text_cap_is_refused_before_the_model(seq_lm):
    from wordlm.serve.schemas import MAX_TEXT_CHARS

    with client(seq_lm) as c:
        before = c.get("/v1/info").json()["serve"]["stats"]
        r = c.post("/v1/next", json={"prompt": "jack " * (MAX_TEXT_CHARS // 5 + 1)})
        body = is_json_error(r, 422)
        assert "prompt" in body["error"] and "at most 20,000" in body["error"]
        assert c.get("/v1/info").json()["serve"]["stats"] == before  # no model work


# -- 4. isolation --------------------------------------------------------------------------------
class ResourceExhaustedError(Exception):
    """Named as TensorFlow's: what a batch too large for the device raises."""


def _poisoned(lm, poison_len=6):
    """`lm` whose next_logprobs fails like TensorFlow out of memory when a history is long."""
    real = lm.next_logprobs

    class Poisoned:
        def __getattr__(self, name):
            return getattr(lm, name)

        def next_logprobs(self, histories, *a, **kw):
            if any(len(h) >= poison_len for h in histories):
                raise ResourceExhaustedError("OOM when allocating tensor /secret/path/file.py")
            return real(histories, *a, **kw)

    return Poisoned()


def test_a_failing_request_does_not_fail_its_batch(seq_lm):
    from wordlm.serve.batching import MicroBatcher

    lm = _poisoned(seq_lm)
    prompts = ["jack", "jill went", "jack and jill went up the hill", "up the", ""]

    async def ask(batcher):
        batcher.arriving = len(prompts)
        return await asyncio.gather(*[batcher.next_words(p, 3, None) for p in prompts], return_exceptions=True)

    batcher = MicroBatcher(lm, max_batch=64, max_wait_ms=500)
    got = asyncio.run(ask(batcher))
    batcher.close(5)
    assert batcher.stats.largest["next"] == len(prompts)  # they were one batch
    for prompt, words in zip(prompts, got):
        if prompt.count(" ") >= 5:
            assert isinstance(words, ResourceExhaustedError)
        else:
            assert [w.word for w in words] == [w.word for w in seq_lm.next_words(prompt, 3)]


def test_out_of_memory_is_a_json_503_without_the_stack(seq_lm):
    with client(_poisoned(seq_lm)) as c:
        r = c.post("/v1/next", json={"prompt": "jack and jill went up the hill"})
        body = is_json_error(r, 503)
        assert "more memory" in body["error"] and "/secret" not in r.text and "Traceback" not in r.text
        assert c.post("/v1/next", json={"prompt": "jack"}).status_code == 200


def test_a_500_keeps_the_keep_alive_connection(seq_lm):
    import wordlm.serve

    app = wordlm.serve.app(seq_lm, max_wait_ms=0)

    @app.get("/v1/boom")
    async def boom():
        raise RuntimeError("a bug, with a path: /home/server/secret.py")

    with ThreadServer(app) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/v1/boom")
        r = conn.getresponse()
        body = json.loads(r.read())
        assert r.status == 500 and "RuntimeError" in body["error"] and "secret" not in body["error"]
        sock = conn.sock
        for _ in range(3):  # the same connection answers the next requests
            conn.request("POST", "/v1/next", json.dumps({"prompt": "jack"}), {"Content-Type": "application/json"})
            r = conn.getresponse()
            assert r.status == 200
            r.read()
            assert conn.sock is sock


BAD_TEXT = [
    # (path, body with a lone surrogate or an overflowing number, the status, what the error names)
    ("/v1/score", '{"text": "jack \\ud800"}', 400, "text"),
    ("/v1/score", '{"lines": ["jack", "\\udfff jill"]}', 400, "lines[1]"),
    ("/v1/next", '{"prompt": "\\ud83d"}', 400, "prompt"),
    ("/v1/next", '{"prompt": "jack", "candidates": ["\\ud800"]}', 400, "candidates[0]"),
    ("/v1/fill", '{"text": "___ \\ud800"}', 400, "text"),
    ("/v1/generate", '{"prompt": "jack", "forbid": ["\\udc00"]}', 400, "forbid[0]"),
    ("/v1/rerank", '{"hyps": [{"text": "\\ud800", "score": 1}]}', 400, "hyps[0].text"),
    ("/v1/rerank", '{"hyps": [{"text": "a", "score": 1}], "\\ud800": 1}', 400, "key"),
    ("/v1/score", '{"text": "jack", "context_tokens": 1e999}', 400, "context_tokens"),
    ("/v1/rerank", '{"hyps": [{"text": "jack", "score": 1e308}, {"text": "jill", "score": 1e308}], "lm_weight": 1e308}',
     422, "hyps"),
    ("/v1/rerank", '{"hyps": [{"text": "jack", "score": 1e308}], "am": {"score": 1e308}}', 422, "hyps"),
    ("/v1/generate", '{"prompt": "jack", "strategy": "sample", "temperature": 1e308, "seed": 1, "max_words": 2}',
     200, None),
]


@pytest.mark.parametrize("path,raw,status,named", BAD_TEXT)
def test_every_input_error_is_a_json_4xx(seq_lm, path, raw, status, named):
    with client(seq_lm) as c:
        r = c.post(path, content=raw.encode(), headers={"Content-Type": "application/json"})
        if status == 200:
            assert r.status_code == 200, r.text
            for h in r.json()["hypotheses"]:
                assert math.isfinite(h["logprob"])
            return
        body = is_json_error(r, status)
        assert named in body["error"], body


def test_text_rule_bom_dropped_newline_refused(seq_lm):
    with client(seq_lm) as c:
        plain = c.post("/v1/score", json={"text": "jack and jill"}).json()
        bom = c.post("/v1/score", json={"text": "\ufeffjack and jill"}).json()
        assert bom["logprob"] == pytest.approx(plain["logprob"], abs=1e-6) and bom["oovs"] == 0
        assert bom["text"] == "jack and jill"
        r = c.post("/v1/score", json={"text": "jack and\njill went"})
        body = is_json_error(r, 422)
        assert "line break" in body["error"] and body["detail"][0]["loc"] == ["body", "text"]
        r = c.post("/v1/score", json={"lines": ["jack", "jill\nwent"]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "lines", 1]
        r = c.post("/v1/rerank", json={"hyps": [{"text": "jack\njill", "score": 0}]})
        assert r.status_code == 422 and "line break" in r.json()["error"]
        trailing = c.post("/v1/score", json={"text": "jack and jill\r\n"}).json()  # one line end: a file's line
        assert trailing["text"] == "jack and jill" and trailing["logprob"] == pytest.approx(plain["logprob"], abs=1e-6)
        nexts = c.post("/v1/next", json={"prompt": "\ufeffjack and", "top": 3}).json()
        assert [w["word"] for w in nexts["words"]] == [w.word for w in seq_lm.next_words("jack and", 3)]


# -- 6. keys and hosts -----------------------------------------------------------------------------
def test_keys_empty_refused_and_compared_as_configured(seq_lm):
    import wordlm.serve

    for bad in ("", "   ", "two words", "caf\u00e9"):
        with pytest.raises(ValueError, match="API key"):
            wordlm.serve.app(seq_lm, api_key=bad)
    with client(seq_lm, api_key=" k3y ") as c:
        assert c.post("/v1/next", json={"prompt": "jack"}, headers={"Authorization": "Bearer k3y"}).status_code == 200
        assert c.post("/v1/next", json={"prompt": "jack"}).status_code == 401
        assert c.get("/v1/info", headers={"Authorization": "Bearer k3y"}).json()["serve"]["api_key"] is True


def test_the_command_refuses_an_empty_key_before_loading(tmp_path):
    from click.testing import CliRunner

    from wordlm.cli import cli

    for key in ("", "  "):
        out = CliRunner().invoke(cli, ["serve", str(tmp_path / "missing"), "--api-key", key])
        assert out.exit_code == 2 and "API key is empty" in out.output, out.output


def test_loopback_recognised_by_address():
    from wordlm.serve.limits import is_loopback
    from wordlm.serve.server import bind, bound_loopback, exposure_warning

    for host in ("127.1", "0x7f.1", "2130706433", "127.0.0.9", "[::1]", "::1", "::ffff:127.0.0.1", "localhost",
                 "LOCALHOST.", "0177.0.0.1"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "128.1", "127.1.example", "0x7f.1 x", "example.org", ""):
        assert not is_loopback(host), host
    for host in ("127.1", "0x7f.1"):
        sock = bind(host, 0)
        try:
            assert bound_loopback(sock) and exposure_warning(host, sock) is None
        finally:
            sock.close()
    try:
        sock = bind("[::1]", 0)  # the form the ready line prints
    except Exception as e:  # no IPv6 on this machine
        assert "::1" in str(e)
    else:
        assert bound_loopback(sock)
        sock.close()


def test_loopback_host_header_by_address(seq_lm):
    with client(seq_lm, loopback_only=True) as c:
        for host in ("127.1:8000", "0x7f.1", "[::1]:8000", "localhost:8000"):
            assert c.get("/healthz", headers={"Host": host}).status_code == 200, host
        assert c.get("/healthz", headers={"Host": "evil.example"}).status_code == 421


# -- latency after a burst ---------------------------------------------------------------------
def test_a_lone_client_after_a_burst_waits_once_at_most(seq_lm):
    from wordlm.serve.batching import MicroBatcher

    async def lone(batcher):
        times = []
        for _ in range(4):
            start = time.monotonic()
            await batcher.next_words("jack", 2, None)
            times.append(time.monotonic() - start)
        return times

    batcher = MicroBatcher(seq_lm, max_batch=64, max_wait_ms=1000)
    batcher.busy = 64.0  # as after a burst of full batches
    times = asyncio.run(lone(batcher))
    batcher.close(5)
    assert times[0] >= 0.95 and max(times[1:]) < 0.5, times  # one wait of 1 s, then none


# -- the page, info --------------------------------------------------------------------------------
def test_info_shows_no_paths_and_the_favicon_is_there(seq_lm):
    with client(seq_lm) as c:
        info = c.get("/v1/info").json()
        assert "/" not in json.dumps(info["corpus"]["files"])
        assert info["serve"]["max_compute_seconds"] == 10.0
        assert c.get("/favicon.ico").status_code == 200
        assert c.get("/static/favicon.svg").status_code == 200


def test_cli_defaults_match_the_package():
    from wordlm.cli import serve_cmds
    from wordlm.serve import batching, limits, server

    assert serve_cmds.DEFAULT_MAX_COMPUTE_S == batching.DEFAULT_MAX_COMPUTE_S
    assert serve_cmds.DEFAULT_MAX_QUEUE == batching.DEFAULT_MAX_QUEUE
    assert serve_cmds.DEFAULT_DRAIN_SECONDS == server.DEFAULT_DRAIN_SECONDS
    assert serve_cmds.DEFAULT_MAX_CONNECTIONS == server.DEFAULT_MAX_CONNECTIONS
    assert serve_cmds.DEFAULT_CLIENT_TIMEOUT == limits.DEFAULT_CLIENT_TIMEOUT


# -- 2. the stop: SIGTERM with requests in flight and queued, of every endpoint ------------------------
def test_sigterm_answers_every_client_in_json_within_the_bound_and_exits_0(serve_model_dir):
    import requests

    from serving import Server

    drain = 3.0
    server = Server(serve_model_dir, "--max-wait-ms", "0", "--drain-seconds", str(drain), "--max-compute-seconds", "60")
    try:
        hyps = [{"text": line, "score": -1.0} for line in RHYME_LINES]
        slow = {**SLOW_GENERATE, "min_words": 2_000, "max_words": 2_000}  # minutes, even on a tiny model
        jobs = [("/v1/generate", slow),  # in flight: longer than the drain
                ("/v1/generate", {"prompt": "jill", "strategy": "beam", "num": 3}),
                ("/v1/score", {"lines": RHYME_LINES}), ("/v1/perplexity", {"lines": RHYME_LINES}),
                ("/v1/next", {"prompt": "jack and"}), ("/v1/fill", {"text": "jack ___ jill"}),
                ("/v1/rerank", {"hyps": hyps}), ("/v1/generate", slow)]
        answers: dict = {}

        def send(i, path, body):
            try:
                r = requests.post(server.url(path), json=body, timeout=60)
                answers[i] = (r.status_code, r.json(), time.monotonic())
            except Exception as e:  # a dropped connection: what must not happen
                answers[i] = (None, repr(e), time.monotonic())

        threads = [threading.Thread(target=send, args=(i, p, b)) for i, (p, b) in enumerate(jobs)]
        threads[0].start()
        time.sleep(0.5)  # the first is in the model; the others queue behind it
        for t in threads[1:]:
            t.start()
        time.sleep(0.5)
        signaled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(drain + 15)
        exited = time.monotonic() - signaled
        for t in threads:
            t.join(10)
        assert code == 0, server.stderr()
        assert exited < drain + 5, f"exit {exited:.1f} s after SIGTERM (drain {drain} s)"
        for i, (path, _) in enumerate(jobs):
            status, body, at = answers[i]
            assert status in (200, 503), (path, status, body)
            if status == 503:
                assert "stopping" in body["error"], body
            assert at - signaled < drain + 3, (path, at - signaled)
        assert answers[0][0] == 503 and answers[7][0] == 503  # the long ones were cut
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url("/healthz"), timeout=2)
    finally:
        server.stop(signal.SIGKILL)
