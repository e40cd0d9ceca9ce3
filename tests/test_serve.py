"""`wordlm serve`: the real server (a subprocess on 127.0.0.1) against the library's own answers.

Every endpoint is checked against the Python API on the same model (and `next`/`score` against the
CLI); bad requests get a 4xx JSON error naming the field and the server keeps answering; concurrent
requests are batched and give what each gives alone; SIGTERM lets a request in flight finish and
exits 0; the command's checks that need no model run before TensorFlow is imported.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import RHYME_LINES, tiny_model
from serving import Server, free_port

TOL = 1e-5


def close(a, b, path="") -> None:
    """Equal JSON values, numbers to 1e-5 (nulls where the other side is not finite)."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:  # strict JSON writes a number that is not finite as null
            other = b if a is None else a
            assert other is None or not math.isfinite(other), f"{path}: {a} != {b}"
            return
        assert math.isclose(a, b, rel_tol=TOL, abs_tol=TOL), f"{path}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: {a} != {b}"
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def jsonable(obj):
    """What the library's result looks like once sent as JSON (tuples as lists, inf as null)."""
    from wordlm.jsonfile import strict

    return json.loads(json.dumps(strict(obj)))


# -- every endpoint against the library ---------------------------------------------------------
def test_health_info_and_schema(served, served_lm):
    assert served.get("/healthz").json() == {"status": "ok"}
    info = served.get("/v1/info").json()
    serve = info.pop("serve")
    from wordlm.serve.app import without_paths

    assert info == jsonable(without_paths(served_lm.describe()))  # the training files by name only
    assert serve["max_batch"] == 64 and serve["api_key"] is False and "stats" in serve
    schema = served.get("/openapi.json").json()
    for path in ("/v1/score", "/v1/perplexity", "/v1/next", "/v1/fill", "/v1/generate", "/v1/rerank"):
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert "$ref" in body, path
    assert {"/v1/info", "/healthz"} <= set(schema["paths"])
    generate = schema["components"]["schemas"]["GenerateRequest"]["properties"]
    from wordlm.decoding import DecodeOptions

    assert set(DecodeOptions.__dataclass_fields__) <= set(generate)  # every decoding option


def test_score_matches_library(served, served_lm):
    lm = served_lm
    one = served.ok("/v1/score", {"text": "Jack and Jill went up the hill", "per_token": True})
    close(one, jsonable(lm.score_lines(["Jack and Jill went up the hill"])[0].to_json(True)))
    lines = RHYME_LINES + ["jack fell down and broke his zebra", ""]
    for options in ({}, {"bos": False}, {"eos": False}, {"oov": "skip"}, {"context_tokens": 24}):
        got = served.ok("/v1/score", {"lines": lines, "per_token": True, **options})
        want = lm.score_lines(lines, **options)
        close(got, {"results": [jsonable(s.to_json(True)) for s in want]})
    assert "tokens" not in served.ok("/v1/score", {"text": "jack"})


def test_perplexity_matches_library(served, served_lm):
    for options in ({}, {"oov": "skip", "eos": False}):
        got = served.ok("/v1/perplexity", {"lines": RHYME_LINES + ["zebra jack"], **options})
        close(got, jsonable(served_lm.perplexity(RHYME_LINES + ["zebra jack"], **options).to_json()))


def test_next_matches_library(served, served_lm):
    lm = served_lm
    for prompt, top, prefix in [("jack and", 3, None), ("", 10, None), ("jack and", 10, "j"), ("jack", 100, None),
                                ("zebra", 5, "c"), ("jack", 5, "zzz")]:
        body = {"prompt": prompt, "top": top, **({"prefix": prefix} if prefix is not None else {})}
        got = served.ok("/v1/next", body)
        close(got, {"prompt": prompt, "words": [w.to_json() for w in lm.next_words(prompt, top, prefix=prefix)]})
    full = served.ok("/v1/next", {"prompt": "jack", "top": lm.vocab_size})["words"]
    assert abs(sum(w["prob"] for w in full) - 1) < 1e-5  # every token the model can predict
    cands = ["down", "down and broke", "up", "down </s>"]
    got = served.ok("/v1/next", {"prompt": "jack fell", "candidates": cands})
    want = sorted(lm.candidates("jack fell", cands), key=lambda w: -w.logprob)  # best first, as the CLI
    close(got, {"prompt": "jack fell", "words": [w.to_json() for w in want]})


def test_fill_matches_library(served, served_lm):
    got = served.ok("/v1/fill", {"text": "and jill came ___ after", "top": 4})
    close(got, {"words": [f.to_json() for f in served_lm.fill("and jill came ___ after", top=4)]})


@pytest.mark.parametrize("options", [
    {},
    {"strategy": "beam", "beam_size": 6, "num": 3, "length_norm": "gnmt", "length_penalty": 0.8},
    {"strategy": "beam", "num": 5, "min_words": 3, "max_words": 8},
    {"strategy": "sample", "num": 4, "seed": 7, "temperature": 0.7, "top_k": 5, "top_p": 0.9},
    {"no_repeat_ngram": 1, "forbid": ["and", "jill"], "allow_unk": True, "max_words": 5},
    {"strategy": "beam", "beam_size": 3, "length_norm": "avg"},
])
def test_generate_matches_library(served, served_lm, options):
    from dataclasses import replace

    got = served.ok("/v1/generate", {"prompt": "jack", **options})
    defaults = {"beam_size": max(4, options.get("num", 1)) if options.get("strategy") == "beam" else 4}
    decode = {**defaults, **options}
    if "forbid" in decode:
        decode["forbid"] = tuple(decode["forbid"])
    from wordlm.decoding import DecodeOptions

    want = served_lm.generate("jack", replace(DecodeOptions(), **decode))
    close(got, {"hypotheses": [h.to_json() for h in want], "warnings": []})


def test_generate_warns_about_unknown_prompt_words(served):
    got = served.ok("/v1/generate", {"prompt": "jack zebra", "max_words": 2})
    assert got["warnings"] == ["prompt: not in the vocabulary, read as <unk>: 'zebra'"]


def test_rerank_matches_library(served, served_lm):
    from wordlm.nbest import RecognizerHypothesis, Utterance

    hyps = [{"text": "jack and jill went up the hill", "score": -5.0, "ctc": -2.0},
            {"text": "jack an jill went up the hill", "score": -4.5, "ctc": -1.0},
            {"text": "jack and jill went up the hall", "score": -4.9, "ctc": -3.0}]
    utt = Utterance("u7", [RecognizerHypothesis(h["text"], {k: v for k, v in h.items() if k != "text"}) for h in hyps],
                    "jack and jill went up the hill")
    for weights in ({}, {"lm_weight": 0.5, "word_bonus": 0.25, "am": {"score": 0.6, "ctc": 0.4}, "all": True},
                    {"am": "score=0.6,ctc=0.4", "all": True}):
        got = served.ok("/v1/rerank", {"utt_id": "u7", "ref": utt.ref, "hyps": hyps, **weights})
        am = weights.get("am", {"score": 1.0})
        am = {"score": 0.6, "ctc": 0.4} if isinstance(am, str) else am
        want = served_lm.rerank([utt], lm_weight=weights.get("lm_weight", 1.0),
                                word_bonus=weights.get("word_bonus", 0.0), am=am, all_hyps=weights.get("all", False))
        close(got, jsonable(want[0]))


def test_next_and_score_match_the_cli(served, serve_model_dir):
    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "wordlm", *args], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines()]

    words = cli("next", str(serve_model_dir), "--prompt", "jack and", "--top", "5", "--prefix", "j", "--json")
    close(served.ok("/v1/next", {"prompt": "jack and", "top": 5, "prefix": "j"})["words"], words)
    text = "\n".join(RHYME_LINES + ["jack fell down and broke his zebra"]) + "\n"
    path = serve_model_dir.parent / "lines.txt"
    path.write_text(text)
    scores = cli("score", str(serve_model_dir), str(path), "--json", "--per-token")
    close(served.ok("/v1/score", {"lines": text.splitlines(), "per_token": True})["results"], scores)


# -- batching -----------------------------------------------------------------------------------
def _prompts():
    words = "jack and jill went up the hill to fetch a pail of water fell down broke his crown zebra".split()
    out = []
    for i in range(48):
        n = i % 7
        out.append({"prompt": " ".join(words[(i * 3 + k) % len(words)] for k in range(n)), "top": 1 + i % 12,
                    **({"prefix": "abcdefghijklmnopqrstuvwxyz"[i % 26]} if i % 4 == 3 else {})})
    return out


def test_concurrent_requests_are_batched_and_equal_alone(served, served_lm):
    nexts = _prompts()
    scores = [{"lines": [RHYME_LINES[i % 4], " ".join(RHYME_LINES[(i + 1) % 4].split()[: 1 + i % 6])],
               "per_token": True} for i in range(16)]
    alone_next = [served.ok("/v1/next", b) for b in nexts]  # one at a time: a batch of one each
    alone_score = [served.ok("/v1/score", b) for b in scores]
    before = served.get("/v1/info").json()["serve"]["stats"]

    jobs = [("/v1/next", b) for b in nexts] + [("/v1/score", b) for b in scores]
    barrier = threading.Barrier(len(jobs))
    sessions = threading.local()

    def send(job):
        if not hasattr(sessions, "s"):
            sessions.s = requests.Session()
        barrier.wait()
        r = sessions.s.post(served.url(job[0]), json=job[1], timeout=120)
        assert r.status_code == 200, r.text
        return r.json()

    with ThreadPoolExecutor(len(jobs)) as pool:
        together = list(pool.map(send, jobs))
    for got, want in zip(together, alone_next + alone_score):
        close(got, want)
    for got, b in zip(together, nexts):  # and the library's own answer
        close(got["words"], [w.to_json() for w in served_lm.next_words(b["prompt"], b["top"], prefix=b.get("prefix"))])
    after = served.get("/v1/info").json()["serve"]["stats"]
    assert after["next"]["requests"] - before["next"]["requests"] == len(nexts)
    calls = after["next"]["batches"] - before["next"]["batches"]
    assert calls < len(nexts), f"{len(nexts)} concurrent requests took {calls} model calls: no batching"
    assert after["next"]["largest_batch"] > 1


def test_batcher_gathers_requests_into_one_call(seq_lm):
    """In process: the batcher's calls of the primitive, counted; an error stays with its request."""
    from wordlm.serve.batching import MicroBatcher

    calls = []
    real = seq_lm.next_logprobs

    class Counting:
        def __getattr__(self, name):
            return getattr(seq_lm, name)

        def next_logprobs(self, histories, *a, **kw):
            calls.append(len(histories))
            return real(histories, *a, **kw)

    async def ask(batcher, n):
        return await asyncio.gather(*[batcher.next_words("jack" if i % 2 else "jill", 3, None) for i in range(n)])

    for max_batch, expected in ((64, [10]), (4, [4, 4, 2]), (1, [1] * 10)):
        calls.clear()
        batcher = MicroBatcher(Counting(), max_batch=max_batch, max_wait_ms=2000)
        batcher.arriving = 10  # ten requests on their way, as the Arrivals middleware would count them
        results = asyncio.run(ask(batcher, 10))
        batcher.close()
        assert calls == expected
        for i, words in enumerate(results):
            close([w.to_json() for w in words], [w.to_json() for w in seq_lm.next_words("jack" if i % 2 else "jill", 3)])


def test_batcher_keeps_an_error_with_its_request():
    from wordlm.errors import InputError
    from wordlm.serve.batching import MicroBatcher

    lm = tiny_model("sequence", boundaries=False)  # an empty prompt cannot be read: InputError

    async def ask(batcher):
        return await asyncio.gather(batcher.next_words("jack", 2, None), batcher.next_words("", 2, None),
                                    batcher.score_lines(["jack and jill"], _options()),
                                    batcher.call(lm.fill, "no blank"), return_exceptions=True)

    batcher = MicroBatcher(lm, max_batch=8, max_wait_ms=100)
    good, bad, scored, fill = asyncio.run(ask(batcher))
    batcher.close()
    assert [w.word for w in good] == [w.word for w in lm.next_words("jack", 2)]
    assert isinstance(bad, InputError) and isinstance(fill, InputError)
    assert abs(scored[0].logprob - lm.score("jack and jill")) < TOL


def _options():
    from wordlm.scoring import Options

    return Options()


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_in_process_app(seq_lm):
    """`wordlm.serve.app(lm)` is an ASGI application usable without the command."""
    from fastapi.testclient import TestClient

    import wordlm.serve

    with TestClient(wordlm.serve.app(seq_lm, max_wait_ms=0)) as client:
        r = client.post("/v1/next", json={"prompt": "jack and", "top": 2})
        assert r.status_code == 200
        close(r.json()["words"], [w.to_json() for w in seq_lm.next_words("jack and", 2)])
        assert client.get("/").headers["content-type"].startswith("text/html")


# -- bad requests -------------------------------------------------------------------------------
BAD = [
    # (path, body or raw bytes, headers, status, what the error must name)
    ("/v1/next", {}, None, 200, None),  # every field has a default: the next words of an empty prompt
    ("/v1/score", {}, None, 422, "text (one line) or lines"),
    ("/v1/fill", {}, None, 422, "text"),
    ("/v1/generate", {"max_words": 3}, None, 422, "prompt"),
    ("/v1/perplexity", {"lines": "jack and jill"}, None, 422, "lines"),
    ("/v1/next", {"prompt": 3}, None, 422, "prompt"),
    ("/v1/next", {"prompt": "jack", "top": "3"}, None, 422, "top"),
    ("/v1/score", {"text": "jack", "per_token": "yes"}, None, 422, "per_token"),
    ("/v1/score", {"text": "jack", "per-token": True}, None, 422, "per-token"),
    ("/v1/score", {"text": "jack", "oov": "drop"}, None, 422, "oov"),
    ("/v1/next", {"prompt": "jack", "top": 0}, None, 422, "top"),
    ("/v1/next", {"prompt": "jack", "top": 10_001}, None, 422, "top"),
    ("/v1/next", {"prompt": "a", "prefix": "j", "candidates": ["b"]}, None, 422, "candidates"),
    ("/v1/next", {"prompt": "a", "candidates": ["b </s> c"]}, None, 422, "candidates"),
    ("/v1/generate", {"prompt": "jack", "num": 10_001}, None, 422, "num"),
    ("/v1/generate", {"prompt": "jack", "max_words": 10_001}, None, 422, "max_words"),
    ("/v1/generate", {"prompt": "jack", "strategy": "beam", "beam_size": 1_001}, None, 422, "beam_size"),
    ("/v1/generate", {"prompt": "jack", "strategy": "beam", "num": 5, "beam_size": 2}, None, 422, "num"),
    ("/v1/generate", {"prompt": "jack", "num": 2}, None, 422, "num"),
    ("/v1/generate", {"prompt": "jack", "temperature": 0.5}, None, 422, "temperature"),
    ("/v1/generate", {"prompt": "jack", "strategy": "sample", "top_p": 1.5}, None, 422, "top_p"),
    ("/v1/generate", {"prompt": "jack", "min_words": 9, "max_words": 3}, None, 422, "min_words"),
    ("/v1/generate", {"prompt": "jack", "strategy": "wild"}, None, 422, "strategy"),
    ("/v1/generate", {"prompt": "jack", "seed": -1}, None, 422, "seed"),
    ("/v1/score", {"lines": ["jack"] * 1_001}, None, 422, "lines"),
    ("/v1/score", {"lines": ["a"], "text": "a"}, None, 422, "body"),
    ("/v1/score", {"text": "jack", "context_tokens": 5000}, None, 422, "context_tokens"),
    ("/v1/fill", {"text": "no blank here"}, None, 422, "text"),
    ("/v1/rerank", {"hyps": []}, None, 422, "hyps"),
    ("/v1/rerank", {"hyps": [{"text": "a"}]}, None, 422, "hyps"),
    ("/v1/rerank", {"hyps": [{"text": "a", "score": "1"}]}, None, 422, "hyps"),
    ("/v1/rerank", {"hyps": [{"score": 1}]}, None, 422, "hyps"),
    ("/v1/rerank", {"hyps": [{"text": "a", "score": 1}], "am": "score=x"}, None, 422, "am"),
    ("/v1/score", b'{"text": "jack"', None, 400, "JSON"),
    ("/v1/score", b'{"text": "jack \xff\xfe"}', None, 400, "UTF-8"),
    ("/v1/score", b'{"text": "jack", "bos": NaN}', None, 400, "NaN"),
    ("/v1/score", b"[" * 100 + b"]" * 100, None, 400, "nested"),
    ("/v1/score", b"", None, 400, "empty body"),
    ("/v1/score", b"[1, 2]", None, 422, "body"),
    ("/v1/score", b'{"text": "jack"}', {"Content-Type": "text/plain"}, 415, "Content-Type"),
    ("/v1/score", b'{"text": "' + b"a" * (1 << 20) + b'"}', None, 413, "limit"),
    ("/v1/nothing", {}, None, 404, "/v1/nothing"),
]


@pytest.mark.parametrize("path,body,headers,status,named", BAD)
def test_bad_request_is_a_json_error_naming_the_field(served, path, body, headers, status, named):
    if isinstance(body, bytes):
        r = served.session.post(served.url(path), data=body, timeout=60,
                                headers=headers or {"Content-Type": "application/json"})
    else:
        r = served.post(path, body, headers=headers)
    assert r.status_code == status, r.text
    if status != 200:
        error = r.json()
        assert named in error["error"], error
        assert error["detail"] and all({"loc", "msg", "type"} <= set(d) for d in error["detail"])
        if status == 422 and error["detail"][0]["loc"] != ["body"]:
            assert named in error["detail"][0]["loc"], error  # loc: ["body", field]
    assert served.get("/healthz").json() == {"status": "ok"}  # and the server goes on


def test_refuses_a_foreign_host_header(served):
    r = served.get("/healthz", headers={"Host": "attacker.example"})
    assert r.status_code == 421 and "Host" in r.json()["error"]


def test_body_without_content_length_is_limited_too(served):
    def chunks():  # sent chunked: the limit is enforced while reading
        yield b'{"text": "'
        for _ in range(20):
            yield b"a" * 65536
        yield b'"}'

    r = served.session.post(served.url("/v1/score"), data=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert served.get("/healthz").status_code == 200


# -- the command: API key, SIGTERM, checks before TensorFlow -----------------------------------
def test_api_key_then_sigterm_finishes_in_flight_and_exits_0(serve_model_dir):
    server = Server(serve_model_dir, "--max-wait-ms", "0", "--max-compute-seconds", "600", "--drain-seconds", "300",
                    env={"WORDLM_API_KEY": "s3cret"})  # a long request may finish after SIGTERM
    try:
        assert server.get("/healthz").status_code == 200  # health and the page need no key
        assert server.get("/").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = server.post("/v1/next", {"prompt": "jack"}, headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["error"]
            assert r.headers["www-authenticate"].startswith("Bearer")
        key = {"Authorization": "Bearer s3cret"}
        assert server.post("/v1/next", {"prompt": "jack"}, headers=key).status_code == 200
        assert "bearer" in server.get("/openapi.json").json()["components"]["securitySchemes"]

        slow = {"prompt": "jack", "strategy": "sample", "num": 10_000, "min_words": 100, "max_words": 100, "seed": 1}
        started = time.monotonic()
        answer = {}

        def send():
            r = requests.post(server.url("/v1/generate"), json=slow, headers=key, timeout=300)
            assert r.status_code == 200, r.text
            answer["status"], answer["n"], answer["at"] = r.status_code, len(r.json()["hypotheses"]), time.monotonic()

        thread = threading.Thread(target=send)
        thread.start()
        time.sleep(1.0)  # the request is in the model's worker by now
        signaled = time.monotonic()
        code = server.stop(signal.SIGTERM, timeout=300)
        thread.join(60)
        assert answer.get("status") == 200 and answer["n"] == 10_000, answer
        assert answer["at"] > signaled, "the request had finished before SIGTERM: make it slower"
        assert code == 0, server.stderr()
        assert "stopped" in server.stderr()
        assert started < signaled
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    """PYTHONPATH under which importing TensorFlow fails loudly: proof that a command did not."""
    root = tmp_path_factory.mktemp("no_tf")
    (root / "tensorflow").mkdir()
    (root / "tensorflow" / "__init__.py").write_text("raise ImportError('TensorFlow was imported')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}


def _serve(args, env, timeout=60):
    return subprocess.run([sys.executable, "-m", "wordlm", "serve", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_checks_that_need_no_model_come_before_tensorflow(tmp_path, serve_model_dir, no_tensorflow):
    out = _serve([str(tmp_path / "missing")], no_tensorflow)
    assert out.returncode == 1 and "missing" in out.stderr and "Traceback" not in out.stderr, out.stderr
    out = _serve([str(serve_model_dir), "--port", "70000"], no_tensorflow)
    assert out.returncode == 2 and "--port" in out.stderr
    out = _serve([str(serve_model_dir), "--host", "no-such-host.invalid"], no_tensorflow)
    assert out.returncode == 1 and "--host" in out.stderr, out.stderr
    out = _serve([str(serve_model_dir), "--max-batch", "0"], no_tensorflow)
    assert out.returncode == 2 and "--max-batch" in out.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        out = _serve([str(serve_model_dir), "--port", str(busy.getsockname()[1])], no_tensorflow)
    assert out.returncode == 1 and "in use" in out.stderr, out.stderr
    assert "TensorFlow was imported" not in out.stderr


def test_binding_elsewhere_than_loopback_warns():
    from wordlm.serve.limits import is_loopback
    from wordlm.serve.server import exposure_warning

    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host) and exposure_warning(host) is None
    for host in ("0.0.0.0", "::", "192.0.2.7", "example.org"):
        assert not is_loopback(host)
        assert exposure_warning(host).startswith("warning: serving on")


def test_cli_defaults_match_the_package():
    from wordlm.cli import serve_cmds
    from wordlm.serve import batching, limits

    assert serve_cmds.DEFAULT_MAX_BATCH == batching.DEFAULT_MAX_BATCH
    assert serve_cmds.DEFAULT_MAX_WAIT_MS == batching.DEFAULT_MAX_WAIT_MS
    assert serve_cmds.MAX_BATCH_LIMIT == batching.MAX_BATCH_LIMIT
    assert serve_cmds.DEFAULT_MAX_BODY == limits.DEFAULT_MAX_BODY


def test_free_port_helper():
    assert 0 < free_port() < 65536
