"""A random-request fuzzer against the service (issue 30): hypothesis writes requests of every
endpoint — the real fields with values of any JSON type (huge, tiny, negative and overflowing
numbers, lone surrogates, byte-order marks, line breaks, markers, empty and deep values), unknown
fields, bodies that are not objects, bytes that are not JSON — and sends them all on ONE keep-alive
connection to the service under uvicorn (`serve_thread.ThreadServer`, `wordlm serve`'s own protocol
and limits). No answer may be a 500, every answer is JSON (an error names what is wrong), and the
connection is never dropped. Bounded: a fixed number of examples, derandomised (the same requests
every run), a small compute budget so that an expensive request is cut (504) instead of waited for.
"""

from __future__ import annotations

import http.client
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serve_thread import ThreadServer

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

FIELDS = {
    "/v1/score": ["text", "lines", "per_token", "bos", "eos", "oov", "context_tokens"],
    "/v1/perplexity": ["lines", "bos", "eos", "oov", "context_tokens"],
    "/v1/next": ["prompt", "top", "prefix", "candidates"],
    "/v1/fill": ["text", "top"],
    "/v1/generate": ["prompt", "strategy", "max_words", "min_words", "num", "beam_size", "temperature", "top_k",
                     "top_p", "length_norm", "length_penalty", "no_repeat_ngram", "forbid", "allow_unk", "seed"],
    "/v1/rerank": ["utt_id", "ref", "hyps", "utterances", "nbest", "format", "beam_size", "am", "lm_weight",
                   "word_bonus", "all"],
}
WORDS = ["jack", "jill", "and", "went", "up", "the", "hill", "zebra", "___", "</s>", "<unk>", "<s>", "Jack,", ""]
SPECIAL = ["\ud800", "\udfff", "\ufeffjack", "jack\njill", "jack\r\njill", "a\tb", "\x00", "j" * 3000,
           "\u2028", "𝔧𝔞𝔠𝔨", "score=1,ctc=x", "score=0.5", "greedy", "beam", "sample", "gnmt", "avg", "unk", "skip",
           "jsonl", "tsv", "nemo", "auto", "u1\t-1.5\tjack and jill", '{"utt_id": 1, "hyps": [{"text": "a", "score": 1}]}']

texts = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
    st.sampled_from(SPECIAL),
    st.text(max_size=20),
)
numbers = st.one_of(
    st.integers(-3, 40), st.integers(), st.sampled_from([0, 1, 2, 10_000, 10_001, 2**32, -(2**63), 10**30]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, 0.5, 1.0]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
hyp = st.fixed_dictionaries({"text": texts}, optional={"score": numbers, "ctc": scalars})
values = st.one_of(
    scalars,
    st.lists(texts, max_size=5),
    st.lists(hyp, max_size=4),
    st.lists(st.fixed_dictionaries({"utt_id": st.one_of(texts, numbers), "hyps": st.lists(hyp, max_size=3)}),
             max_size=3),
    st.dictionaries(texts, numbers, max_size=3),
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                 max_leaves=6),
)


@st.composite
def requests(draw):
    path = draw(st.sampled_from(sorted(FIELDS)))
    kind = draw(st.sampled_from(["fields"] * 8 + ["unknown", "not_object", "bytes"]))
    if kind == "bytes":
        return path, draw(st.binary(max_size=60))
    if kind == "not_object":
        return path, json.dumps(draw(values)).encode()
    names = draw(st.lists(st.sampled_from(FIELDS[path]), unique=True, max_size=5))
    body = {name: draw(values) for name in names}
    if kind == "unknown":
        body[draw(texts)] = draw(values)
    return path, json.dumps(body).encode()


@pytest.fixture(scope="module")
def server(seq_lm):
    import wordlm.serve

    app = wordlm.serve.app(seq_lm, max_wait_ms=0, max_compute_s=0.3)
    with ThreadServer(app) as s:
        yield s


EXAMPLES = int(os.environ.get("WORDLM_SERVE_FUZZ_EXAMPLES", "200"))  # more for a longer hunt, e.g. 5000
RANDOM = os.environ.get("WORDLM_SERVE_FUZZ_RANDOM") == "1"  # new requests each run (default: the same ones)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(request=requests())
def test_random_requests_get_no_500_and_keep_the_connection(server, request):
    path, body = request
    conn = _connection(server)
    sock = conn.sock
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    raw = r.read()
    assert r.status != 500 and r.status < 600, (path, body, r.status, raw)
    answer = json.loads(raw)  # JSON, always
    if r.status >= 400:
        assert isinstance(answer["error"], str) and answer["error"], answer
    assert not r.will_close, (path, body, r.status, "the server closed the connection")
    assert conn.sock is sock, "the connection was dropped"


_CONN: dict = {}


def _connection(server) -> http.client.HTTPConnection:
    """One keep-alive connection for the whole run (opened on first use)."""
    if _CONN.get("port") != server.port:
        _CONN.update(port=server.port, conn=http.client.HTTPConnection("127.0.0.1", server.port, timeout=30))
        _CONN["conn"].connect()
    return _CONN["conn"]
