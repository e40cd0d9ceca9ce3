"""The ASGI application: one loaded model behind JSON endpoints that mirror the CLI, and the web page.

    app = wordlm.serve.app(lm)            # a FastAPI application; run it with any ASGI server
    uvicorn.run(app, host="127.0.0.1", port=8000)

| endpoint            | the same as                                  | answer                                   |
|---------------------|----------------------------------------------|------------------------------------------|
| POST /v1/score      | `wordlm score --json [--per-token]`          | a score object, or {"results": [...]}    |
| POST /v1/perplexity | `wordlm perplexity --json`                   | the summary                              |
| POST /v1/next       | `wordlm next --json [--prefix] [--candidates]` | {"prompt", "words": [{"word","logprob","prob"}]} |
| POST /v1/fill       | `wordlm fill --json`                         | {"words": [{"word","text","logprob","prob"}]} |
| POST /v1/generate   | `wordlm generate --json`                     | {"hypotheses": [...], "warnings": [...]} |
| POST /v1/rerank     | `wordlm rerank --json [--all]`               | one utterance's record, or {"results": [...]} for a batch (`utterances`, or `nbest`: a file's text in any format) |
| GET /v1/info        | `wordlm info --json` (`lm.describe()`)       | the description (no file paths), plus "serve": limits and counters |
| GET /healthz        |                                              | readiness: {"status": "ok"}, or 503 {"status": "unavailable", "reason"} |
| GET /               | the next-word page (`static/`)               |                                          |

Every endpoint calls the library's own functions (`lm.score_lines`, `lm.next_logprobs` and
`scoring.rank_next_words`, `lm.candidates`, `lm.fill`, `lm.generate`, `lm.rerank`), in the model's
worker thread (`batching.MicroBatcher`; next words and scores are batched across requests), so its
numbers are the CLI's. Natural log, `</s>` predicted and counted, `<s>` context only. Errors are
JSON, `{"error": "<field>: <problem>", "detail": [{"loc", "msg", "type"}]}` (`limits.error_body`):
422 for a field out of range or input the model refuses, 400/401/408/413/415/421 from the guard
(`limits.py`), 503 when the service is busy, stopping or out of memory for a request, 504 when a
request was cut after its compute budget (`batching.Unavailable`), 500 for a bug (its type and a
reference; the traceback in the server's log; the connection and the server go on).

Not here: the batching (`batching.py`), the compute budget (`budget.py`), batch n-best lists
(`reranking.py`), the checks before the endpoints (`limits.py`), the request fields (`schemas.py`),
starting a server (`server.py`).
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from wordlm.errors import WordlmError
from wordlm.jsonfile import strict
from wordlm.serve import schemas as s
from wordlm.serve.batching import (DEFAULT_MAX_BATCH, DEFAULT_MAX_COMPUTE_S, DEFAULT_MAX_QUEUE, DEFAULT_MAX_WAIT_MS,
                                   DEFAULT_QUEUE_TIMEOUT_S, Arrivals, MicroBatcher)
from wordlm.serve.budget import Unavailable
from wordlm.serve.limits import (DEFAULT_CLIENT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_MAX_BUFFERED, Guard, api_key_bytes,
                                 error_body)
from wordlm.serve.reranking import read_nbest_text, rerank_in_parts, utterances_of

log = logging.getLogger("wordlm.serve")
DECODING_FIELDS = tuple(name for name in s.GenerateRequest.model_fields if name != "prompt")
ERRORS = {422: {"model": s.ErrorOut, "description": "A field out of range, or input the model refuses"}}


class ServiceError(Exception):
    """A request the library refused: `status`, the field (`loc`), the message."""

    def __init__(self, status: int, field: str | None, message: str):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def refused(e: WordlmError, field: str, infer: bool = True, fields=()) -> ServiceError:
    """A library error about a request's input, as a 422 naming `field` (or, with `infer`, the option
    the message names, `--beam-size` → `beam_size`, or else the first of `fields` it names)."""
    message = str(e)
    named = re.search(r"--([a-z][a-z-]*)", message)
    if named and infer:
        field = named.group(1).replace("-", "_")
    elif infer and fields:  # a Python-worded message names the argument as Python spells it: `num (5) …`
        found = [(m.start(), name) for name in fields if (m := re.search(rf"(?<![\w-]){name}(?![\w-])", message))]
        if found:
            field = min(found)[1]
    message = re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), message)
    return ServiceError(422, field, message)


def create_app(lm, *, max_batch: int = DEFAULT_MAX_BATCH, max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
               api_key: str | None = None, max_body: int = DEFAULT_MAX_BODY, loopback_only: bool = False,
               max_compute_s: float = DEFAULT_MAX_COMPUTE_S, max_queue: int = DEFAULT_MAX_QUEUE,
               queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S, client_timeout: float = DEFAULT_CLIENT_TIMEOUT,
               max_buffered: int = DEFAULT_MAX_BUFFERED):
    """The service for one loaded model `lm` (a `wordlm.LanguageModel`), as an ASGI application.

    `max_batch` rows per model call (1: no batching) gathered for at most `max_wait_ms`;
    `api_key`: required as `Authorization: Bearer KEY` on `/v1/...` (leading and trailing spaces
    dropped; ValueError for an empty key or one a header cannot carry); `max_body`: bytes of a request
    body; `loopback_only`: refuse requests whose `Host` is not a loopback name (for a service bound
    to 127.0.0.1); `max_compute_s`: model seconds a request may use before it is cut (504);
    `max_queue`: requests waiting for or in the model (more: 503); `queue_timeout_s`: how long one may
    wait to start; `client_timeout`: seconds a client has to send its body (408); `max_buffered`:
    bytes of bodies being received at once (503). The model's primitives get the budget check
    (`batching.watch_model`). The worker thread starts with the first request and stops when the
    application shuts down (its lifespan), after answering (or cutting) every request in flight;
    `app.state.batcher.drain(seconds)` is what SIGTERM calls (`server.py`).
    """
    api_key_bytes(api_key)  # an empty key is refused here, not taken as "no key"
    batcher = MicroBatcher(lm, max_batch, max_wait_ms, max_compute_s=max_compute_s, max_queue=max_queue,
                           queue_timeout_s=queue_timeout_s)

    @asynccontextmanager
    async def lifespan(app):
        yield
        batcher.drain(0.0 if batcher.drain_deadline is None else batcher.drain_deadline - _now())
        batcher.close(timeout=STOP_TIMEOUT)  # a thread stuck in one model call is a daemon: it does not hold the exit

    app = FastAPI(title="wordlm", version=_version(), lifespan=lifespan,
                  summary="A word-level language model: scores, perplexity, next words, fill-in, generation, "
                          "n-best reranking. Natural log; </s> predicted and counted; <s> context only.")
    app.state.lm, app.state.batcher = lm, batcher
    described = without_paths(lm.describe())
    limits = {"max_batch": max_batch, "max_wait_ms": max_wait_ms, "max_body_bytes": max_body,
              "max_lines": s.MAX_LINES, "max_top": s.MAX_TOP, "max_text_chars": s.MAX_TEXT_CHARS,
              "max_compute_seconds": max_compute_s, "max_queue": max_queue, "queue_timeout_seconds": queue_timeout_s,
              "client_timeout_seconds": client_timeout, "api_key": api_key is not None}
    _error_handlers(app)

    # -- scores ----------------------------------------------------------------------------------
    @app.post("/v1/score", response_model=s.SentenceOut | s.ScoresOut, responses=ERRORS,
              summary="Score one line (text) or several (lines): ln p(w1 … wn </s> | <s>)")
    async def score(req: s.ScoreRequest):
        lines = [req.text] if req.text is not None else req.lines
        scores = await _score(req, lines)
        out = [x.to_json(req.per_token) for x in scores]
        return _json(out[0] if req.text is not None else {"results": out})

    @app.post("/v1/perplexity", response_model=s.SummaryOut, responses=ERRORS,
              summary="Corpus perplexity of lines, from totals (SRILM's ppl and ppl1)")
    async def perplexity(req: s.PerplexityRequest):
        from wordlm.scoring import summarize

        scores = await _score(req, req.lines)
        return _json(summarize(lm, scores, _options(req)).to_json())

    async def _score(req, lines):
        options = _options(req)
        try:
            if req.context_tokens:  # running text: the lines of this request read in order, alone
                return await batcher.call(lm.score_lines, lines, bos=options.bos, eos=options.eos,
                                          oov=options.oov, context_tokens=req.context_tokens)
            return await batcher.score_lines(lines, options)
        except WordlmError as e:
            raise refused(e, "lines" if req.lines is not None else "text") from None

    # -- next words ------------------------------------------------------------------------------
    @app.post("/v1/next", response_model=s.NextOut, responses=ERRORS,
              summary="The top next words after a prompt (prefix: completing a word), or candidates' scores")
    async def next_words(req: s.NextRequest):
        try:
            if req.candidates is not None:
                scored = await batcher.call(lm.candidates, req.prompt, req.candidates)
                words = sorted(scored, key=lambda w: -w.logprob)  # as `wordlm next --candidates`: best first
            else:
                words = await batcher.next_words(req.prompt, req.top, req.prefix)
        except WordlmError as e:
            message = str(e)
            field = ("prefix" if "prefix" in message else
                     "candidates" if req.candidates is not None and "candidate" in message else "prompt")
            raise refused(e, field) from None
        return _json({"prompt": req.prompt, "words": [w.to_json() for w in words]})

    @app.post("/v1/fill", response_model=s.FillOut, responses=ERRORS,
              summary="Words for the ___ of a sentence, ranked by the filled sentence's log-probability")
    async def fill(req: s.FillRequest):
        try:
            filled = await batcher.call(lm.fill, req.text, req.top)
        except WordlmError as e:
            raise refused(e, "text") from None
        return _json({"words": [f.to_json() for f in filled]})

    # -- generation ------------------------------------------------------------------------------
    @app.post("/v1/generate", response_model=s.GenerateOut, responses=ERRORS,
              summary="Continue a prompt: greedy, sampling (temperature, top-k, top-p) or beam search")
    async def generate(req: s.GenerateRequest):
        try:
            options = _decode_options(req, lm.vocab_size)
            hyps, caught = await batcher.call(_with_warnings, _generate, lm, req.prompt, options)
        except WordlmError as e:
            raise refused(e, "prompt", fields=DECODING_FIELDS) from None
        return _json({"hypotheses": [h.to_json() for h in hyps], "warnings": caught})

    # -- reranking -------------------------------------------------------------------------------
    @app.post("/v1/rerank", response_model=s.RerankOut | s.RerankBatchOut, responses=ERRORS,
              summary="Rerank n-best lists (one utterance, or a batch in any format the CLI reads): "
                      "total = first_pass + α·LM + β·words")
    async def rerank(req: s.RerankRequest):
        from wordlm.rerank import parse_am

        try:
            am = parse_am(req.am) if isinstance(req.am, str) or req.am is None else dict(req.am)
            for name, w in am.items():
                if not math.isfinite(w):
                    raise ValueError(f"am: the weight of {name!r} must be finite")
        except (WordlmError, ValueError) as e:
            raise ServiceError(422, "am", str(e).replace("--am", "am")) from None
        for name in ("lm_weight", "word_bonus"):
            if not math.isfinite(getattr(req, name)):
                raise ServiceError(422, name, "must be a finite number")
        field = "hyps" if req.hyps is not None else "utterances" if req.utterances is not None else "nbest"
        try:
            if req.nbest is not None:
                import asyncio

                utts = await asyncio.to_thread(read_nbest_text, req.nbest, req.format, am, req.beam_size)
            else:
                objects = [{"utt_id": req.utt_id, "ref": req.ref, "hyps": req.hyps}] if req.hyps is not None \
                    else req.utterances
                utts = utterances_of(objects, am, field)
        except WordlmError as e:
            raise refused(e, field, infer=False) from None
        try:
            records = await batcher.call(rerank_in_parts, lm, utts, lm_weight=req.lm_weight,
                                         word_bonus=req.word_bonus, am=am, all_hyps=req.all)
        except WordlmError as e:  # e.g. a total that overflows: this request's numbers, not a bug
            raise refused(e, field, infer=False) from None
        return _json(records[0] if req.hyps is not None else {"results": records})

    # -- about -----------------------------------------------------------------------------------
    @app.get("/v1/info", summary="The model (as `wordlm info --json`), the service's limits and counters")
    async def info():
        return _json({**described, "serve": {**limits, "stats": batcher.stats.to_json()}})

    @app.get("/healthz", summary="Readiness: 200 while the model's worker can take work; 503 with the reason "
                                 "while it is stuck past its budget, its queue is full, or the server is stopping")
    async def healthz():
        reason = batcher.health()
        if reason is None:
            return {"status": "ok"}
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503,
                            headers={"retry-after": "1"})

    static = resources.files("wordlm.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(str(static / "index.html"), media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return FileResponse(str(static / "favicon.svg"), media_type="image/svg+xml")

    if api_key is not None:
        _declare_bearer(app)
    app.add_middleware(Arrivals, batcher=batcher)  # inside the guard: requests it let through
    app.add_middleware(Guard, api_key=api_key, max_body=max_body, loopback_only=loopback_only,
                       client_timeout=client_timeout, max_buffered=max_buffered,
                       stopping=lambda: batcher.drain_deadline is not None)
    return app


STOP_TIMEOUT = 2.0  # seconds the lifespan's end waits for the worker thread after the drain


def _now() -> float:
    import time

    return time.monotonic()


def without_paths(described: dict) -> dict:
    """The model's description as the service shows it: the training files by name only (their
    folders say nothing about the model and something about the server)."""
    import os

    corpus = described.get("corpus")
    if isinstance(corpus, dict) and isinstance(corpus.get("files"), list):
        described = {**described, "corpus": {**corpus, "files": [os.path.basename(str(f)) for f in corpus["files"]]}}
    return described


def _options(req):
    from wordlm.scoring import Options

    return Options(bos=req.bos, eos=req.eos, oov=req.oov)


def _decode_options(req: s.GenerateRequest, vocab_size: int):
    """The request's `DecodeOptions`, with the CLI's defaults (beam width max(4, num), temperature 1;
    the beam width of another strategy is unused, so it stays at its default, under `MAX_BEAM`). The rows
    decoded at once times the vocabulary is capped (`schemas.MAX_CELLS`): a step's memory is bounded."""
    from wordlm.decoding import DecodeOptions

    rows = req.num if req.strategy == "sample" else (req.beam_size or max(4, req.num)) if req.strategy == "beam" else 1
    if rows * vocab_size > s.MAX_CELLS:
        field = "num" if req.strategy == "sample" or req.beam_size is None else "beam_size"
        raise ServiceError(422, field, f"{rows:,} rows × {vocab_size:,} words of the vocabulary = "
                                       f"{rows * vocab_size:,} log-probabilities a step, over the service's "
                                       f"{s.MAX_CELLS:,}: ask for fewer")
    return DecodeOptions(
        strategy=req.strategy, max_words=req.max_words, min_words=req.min_words, num=req.num,
        beam_size=req.beam_size if req.beam_size is not None else max(4, req.num) if req.strategy == "beam" else 4,
        temperature=1.0 if req.temperature is None else req.temperature, top_k=req.top_k, top_p=req.top_p,
        length_norm=req.length_norm, length_penalty=req.length_penalty, no_repeat_ngram=req.no_repeat_ngram,
        forbid=tuple(w.strip() for w in req.forbid if w.strip()), allow_unk=req.allow_unk, seed=req.seed,
    ).validate()


def _generate(lm, prompt: str, options):
    """`lm.generate(prompt, options)`, its warnings naming the field (`prompt: not in the vocabulary …`)."""
    from wordlm.decoding import generate_batch

    return generate_batch(lm, [prompt], options, names=["prompt"])[0]


def _with_warnings(fn, *args):
    """`fn(*args)` and the messages of the warnings it gave (unknown prompt words read as `<unk>`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args)
    return result, [str(w.message) for w in caught]


def _json(obj) -> JSONResponse:
    """Strict JSON (an overflowed perplexity is null), as the CLI writes it."""
    return JSONResponse(strict(obj))


def _version() -> str:
    from wordlm import __version__

    return __version__


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "").removeprefix("Value error, "),
                   "type": e.get("type", "")} for e in exc.errors()]
        first = detail[0] if detail else {"loc": ["body"], "msg": "invalid request"}
        where = ".".join(str(x) for x in first["loc"][1:]) or "body"
        message = f"{where}: {first['msg']}"
        if first.get("type") == "missing" and where == "body":
            message = "body: expected a JSON object with the request's fields"
        return JSONResponse({"error": message, "detail": detail}, status_code=422)

    @app.exception_handler(ServiceError)
    async def refused_request(request: Request, exc: ServiceError):
        loc = ["body", exc.field] if exc.field else ["body"]
        message = exc.message if not exc.field or exc.message.startswith(exc.field) else f"{exc.field}: {exc.message}"
        return JSONResponse(error_body(message, loc, "value_error"), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return JSONResponse(error_body(message, ["path"], "http_error"), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable):
        kind = "timeout" if exc.status == 504 else "unavailable"
        headers = {"retry-after": str(exc.retry_after)} if exc.retry_after is not None else None
        return JSONResponse(error_body(f"{request.url.path}: {exc.message}", [], kind), status_code=exc.status,
                            headers=headers)

    # Any other exception (a bug) reaches `limits.Guard`, which answers a JSON 500 without closing the
    # connection (an `Exception` handler here would run in Starlette's outermost middleware, which
    # re-raises after answering: uvicorn then drops the keep-alive connection).


def _declare_bearer(app: FastAPI) -> None:
    """Say in the OpenAPI schema that `/v1/...` needs `Authorization: Bearer KEY`."""
    build = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http", "scheme": "bearer"}
            for path, ops in schema.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for op in ops.values():
                        op["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
