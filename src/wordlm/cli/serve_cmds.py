"""`wordlm serve`: a model loaded once, answering HTTP requests (JSON API and a next-word page).

Thin: the checks that need no model first (the options, the model directory's files, the address:
a wrong host or a port in use fails at once, before TensorFlow is imported), then load the model,
build the application (`wordlm.serve.app`) and run it until SIGTERM (exit 0) or Ctrl-C (130).
What it serves is documented in `wordlm.serve.app`; how, in `docs/serve.md`.
"""

from __future__ import annotations

import os

import click

from wordlm.cli.app import cli
from wordlm.cli.common import handle_errors, load_model, log, runtime_option

# Spelled out (not imported) so `wordlm --help` needs no FastAPI; a test checks they match
# `wordlm.serve.batching` and `wordlm.serve.limits`.
DEFAULT_MAX_BATCH = 64
DEFAULT_MAX_WAIT_MS = 2.0
MAX_BATCH_LIMIT = 4096
DEFAULT_MAX_BODY = 1 << 20
DEFAULT_MAX_COMPUTE_S = 10.0
DEFAULT_MAX_QUEUE = 256
DEFAULT_DRAIN_SECONDS = 10.0
DEFAULT_MAX_CONNECTIONS = 2048
DEFAULT_CLIENT_TIMEOUT = 10.0


@cli.command(epilog="Example: wordlm serve rhyme --port 8000")
@click.argument("model", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address lets other machines in (a warning).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="TCP port to listen on.")
@click.option("--max-batch", type=click.IntRange(1, MAX_BATCH_LIMIT), default=DEFAULT_MAX_BATCH, show_default=True,
              help="Rows (prompts, lines) of concurrent requests answered by one model call; 1 turns batching off.")
@click.option("--max-wait-ms", type=click.FloatRange(0, 1000), default=DEFAULT_MAX_WAIT_MS, show_default=True,
              help="How long a batch waits for more requests once it has one.")
@click.option("--api-key", envvar="WORDLM_API_KEY", default=None, metavar="KEY",
              help="Require Authorization: Bearer KEY on /v1/ (or set WORDLM_API_KEY, which ps does not show).")
@click.option("--max-body-bytes", type=click.IntRange(1024, 1 << 30), default=DEFAULT_MAX_BODY, show_default=True,
              help="Largest request body; larger ones get 413.")
@click.option("--max-compute-seconds", type=click.FloatRange(0.1, 86_400), default=DEFAULT_MAX_COMPUTE_S,
              show_default=True, help="Model time one request may use; a longer one is cut and answered 504.")
@click.option("--max-queue", type=click.IntRange(1, 1_000_000), default=DEFAULT_MAX_QUEUE, show_default=True,
              help="Requests waiting for (or in) the model; more are answered 503 at once.")
@click.option("--max-connections", type=click.IntRange(1, 1_000_000), default=DEFAULT_MAX_CONNECTIONS,
              show_default=True, help="Open connections; more are answered 503 and closed.")
@click.option("--client-timeout", type=click.FloatRange(0.1, 3600), default=DEFAULT_CLIENT_TIMEOUT, show_default=True,
              help="Seconds a client has to send a request's headers, then its body (slower: 408, closed).")
@click.option("--drain-seconds", type=click.FloatRange(0, 3600), default=DEFAULT_DRAIN_SECONDS, show_default=True,
              help="After SIGTERM, requests in flight are answered or cut (503) within this bound, then exit 0.")
@click.option("--access-log", is_flag=True, help="Log every request on stderr.")
@runtime_option
@handle_errors
def serve(model, host, port, max_batch, max_wait_ms, api_key, max_body_bytes, max_compute_seconds, max_queue,
          max_connections, client_timeout, drain_seconds, access_log):
    """Serve MODEL over HTTP: JSON endpoints mirroring score, perplexity, next, fill, generate and
    rerank under /v1/, the schema at /openapi.json, and a next-word page at /.

    Concurrent requests for next words and scores are gathered (up to --max-batch rows or
    --max-wait-ms) into one model call. No request holds the model past --max-compute-seconds; a
    client that goes away has its work cancelled. SIGTERM stops accepting, answers or cuts what is
    in flight within --drain-seconds and exits 0. The API key's leading and trailing spaces are
    dropped (HTTP drops them from the header). Limits: docs/serve.md.
    """
    from wordlm.saving import read_config
    from wordlm.serve.limits import api_key_bytes
    from wordlm.serve.server import bind, bound_loopback, exposure_warning, run

    try:
        api_key_bytes(api_key)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--api-key") from None
    if api_key is not None:
        api_key = api_key.strip()
    if not os.path.isfile(model):  # a mixture or n-gram file is checked by load_model, before TensorFlow
        read_config(model)  # a missing or broken model directory: at once, before TensorFlow
    sock = bind(host, port)
    try:
        warning = exposure_warning(host, sock)
        if warning:
            log(warning)
        lm = load_model(model)
        from wordlm.serve import app as service

        application = service(lm, max_batch=max_batch, max_wait_ms=max_wait_ms, api_key=api_key,
                              max_body=max_body_bytes, loopback_only=bound_loopback(sock),
                              max_compute_s=max_compute_seconds, max_queue=max_queue, client_timeout=client_timeout)
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host

        def ready() -> None:
            log(f"serving {model} on http://{shown}:{port}/ (the page; the API under /v1/, its schema at "
                f"/openapi.json; batches of up to {max_batch} rows, {max_wait_ms:g} ms; "
                f"{'API key required' if api_key else 'no API key'}); SIGTERM or Ctrl-C stops")

        code = run(application, sock, access_log=access_log, log_level="info" if access_log else "warning",
                   drain_seconds=drain_seconds, max_connections=max_connections, client_timeout=client_timeout,
                   on_ready=ready, say=log)
    finally:
        sock.close()
    log("stopped" if code != 1 else "the server did not start")
    raise SystemExit(code)
