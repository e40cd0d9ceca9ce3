"""`wordlm serve`: one loaded model as a long-running HTTP service, and a next-word web page.

    import wordlm, wordlm.serve, uvicorn
    lm = wordlm.load("goose")
    app = wordlm.serve.app(lm)                    # an ASGI (FastAPI) application, to run or to mount
    uvicorn.run(app, host="127.0.0.1", port=8000)

A process that answers many small requests pays TensorFlow's start-up and the model load once, and
concurrent requests for next words or scores share one batched model call (`batching.py`).

Modules: `app` (the endpoints, mirroring the CLI; the page), `batching` (the micro-batcher and the
model's worker thread: its queue, drain and readiness), `budget` (the compute budget checked at
every model call: cuts, cancellation, long requests giving way), `schemas` (requests and responses;
the OpenAPI schema and the 422s), `reranking` (batch n-best lists for /v1/rerank), `limits` (host,
API key, body size and time, content type, UTF-8 and JSON checks before any endpoint; a client
that disconnects cancels its request; a bug is a JSON 500), `server` (binding, uvicorn's protocol
with the connection cap and the header deadline, signals and the drain: what `wordlm serve` runs),
`static/` (the page: plain HTML, JavaScript and CSS, nothing fetched from elsewhere). Needs the `serve` extra (FastAPI, uvicorn);
`import wordlm` does not import this package.
Not here: any number the model computes (the library's own functions are called).
"""

from wordlm.serve.app import create_app  # noqa: E402  (imported before `app` below is defined: see there)

# `wordlm.serve.app(lm)` is the front door. The submodule `wordlm.serve.app` was imported above, so
# the import system has already set (and will not set again) the package attribute `app`: the name
# below replaces it with the function, which is what callers expect.
app = create_app

__all__ = ["app", "create_app"]
