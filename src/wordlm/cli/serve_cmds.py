"""`wordlm serve`: a model loaded once, answering HTTP requests (JSON API and a next-word page).

Thin: the checks that need no model first (the options, the model directory's files, the address:
a wrong host or a port in use fails at once, before TensorFlow is imported), then load the model,
build the application (`wordlm.serve.app`) and run it until SIGTERM (exit 0) or Ctrl-C (130).
What it serves is documented in `wordlm.serve.app`; how, in `docs/serve.md`.
"""

from __future__ import annotations

import os

import click

from wordlm.cli import cli
from wordlm.cli.common import runtime_option, handle_errors, load_model, log

# Spelled out (not imported) so `wordlm --help` needs no FastAPI; a test checks they match
# `wordlm.serve.batching` and `wordlm.serve.limits`.
DEFAULT_MAX_BATCH = 64
DEFAULT_MAX_WAIT_MS = 2.0
MAX_BATCH_LIMIT = 4096
DEFAULT_MAX_BODY = 1 << 20


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
@click.option("--access-log", is_flag=True, help="Log every request on stderr.")
@runtime_option
@handle_errors
def serve(model, host, port, max_batch, max_wait_ms, api_key, max_body_bytes, access_log):
    """Serve MODEL over HTTP: JSON endpoints mirroring score, perplexity, next, fill, generate and
    rerank under /v1/, the schema at /openapi.json, and a next-word page at /.

    Concurrent requests for next words and scores are gathered (up to --max-batch rows or
    --max-wait-ms) into one model call. SIGTERM finishes the requests in flight and exits 0.
    """
    from wordlm.saving import read_config
    from wordlm.serve.limits import is_loopback
    from wordlm.serve.server import bind, exposure_warning, run

    if api_key is not None and not api_key.strip():
        raise click.BadParameter("the API key is empty", param_hint="--api-key")
    if not os.path.isfile(model):  # a mixture or n-gram file is checked by load_model, before TensorFlow
        read_config(model)  # a missing or broken model directory: at once, before TensorFlow
    sock = bind(host, port)
    try:
        warning = exposure_warning(host)
        if warning:
            log(warning)
        lm = load_model(model)
        from wordlm.serve import app as service

        application = service(lm, max_batch=max_batch, max_wait_ms=max_wait_ms, api_key=api_key,
                              max_body=max_body_bytes, loopback_only=is_loopback(host))
        shown = f"[{host}]" if ":" in host else host

        def ready() -> None:
            log(f"serving {model} on http://{shown}:{port}/ (the page; the API under /v1/, its schema at "
                f"/openapi.json; batches of up to {max_batch} rows, {max_wait_ms:g} ms; "
                f"{'API key required' if api_key else 'no API key'}); SIGTERM or Ctrl-C stops")

        code = run(application, sock, access_log=access_log, log_level="info" if access_log else "warning",
                   on_ready=ready)
    finally:
        sock.close()
    log("stopped" if code != 1 else "the server did not start")
    raise SystemExit(code)
