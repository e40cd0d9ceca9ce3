"""The service's guard: what is checked about a request before any endpoint sees it.

A pure ASGI middleware (no per-request objects beyond the checks), in this order:
1. `Host` (when the service is bound to a loopback address): only a loopback name, so that a web
   page elsewhere cannot reach the service through DNS rebinding — 421;
2. the API key, for `/v1/...` when one is set: `Authorization: Bearer KEY` — 401;
3. for a POST: a JSON content type (`application/json`) — 415; a body of at most `max_body` bytes,
   checked on `Content-Length` and again while reading — 413; received within `client_timeout`
   seconds (a slow client) — 408; at most `max_buffered` bytes of bodies being received by all
   clients at once — 503; UTF-8 — 400 naming the byte; valid, strict JSON (no NaN or Infinity,
   no number that overflows a float, nesting bounded: `jsonfile.parse`) — 400 naming line and
   column; no lone surrogate (`"\\ud800"`: not a character, it cannot be scored nor written back) in
   any string — 400 naming the field.
The body is then handed on as read, and the request runs as its own task while the guard listens
for the client: a client that disconnects before its answer has its request cancelled (the model's
worker drops or cuts its work: `batching.py`). Every refusal is a JSON error (`error_body`) that says
what was expected; the connection and the server carry on. An exception that escapes an endpoint
(a bug) becomes a JSON 500 naming its type and a reference logged with the traceback (no message,
no server paths), and the connection stays usable; a request too large for the model's memory
(TensorFlow's ResourceExhausted, MemoryError) is a JSON 503.

Not here: the fields of a request (`schemas.py`, pydantic's 422s), the endpoints (`app.py`).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket

from wordlm.errors import InputError

DEFAULT_MAX_BODY = 1 << 20  # bytes of a request body (a thousand lines of a thousand characters)
DEFAULT_CLIENT_TIMEOUT = 10.0  # seconds a client has to send its request's headers, and then its body
DEFAULT_MAX_BUFFERED = 64 << 20  # bytes of request bodies being received at once, all clients together
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
log = logging.getLogger("wordlm.serve")
_IPV4_FORMS = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)(\.(0[xX][0-9a-fA-F]+|[0-9]+)){0,3}$")
_SURROGATE = re.compile("[\ud800-\udfff]")


def error_body(message: str, loc: list, kind: str) -> dict:
    """The one shape of every error the service sends: a line, and FastAPI's list of details."""
    return {"error": message, "detail": [{"loc": loc, "msg": message, "type": kind}]}


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine reaches (127.0.0.0/8, ::1, localhost),
    by address, not by spelling: `127.1`, `0x7f.1`, `2130706433` (the forms `inet_aton` and every
    resolver read as 127.0.0.1), `[::1]`, `::ffff:127.0.0.1`, `localhost.` are loopback; no DNS is asked."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if not _IPV4_FORMS.match(host):
            return False
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def api_key_bytes(key: str | None) -> bytes | None:
    """The API key as compared with what clients send: None for no key; leading and trailing spaces
    dropped (HTTP drops them from a header's value, so they could never be sent); ValueError for a key
    that is empty after that, or holds anything but visible ASCII (a header cannot carry it)."""
    if key is None:
        return None
    stripped = key.strip()
    if not stripped:
        raise ValueError("the API key is empty: give a key (visible ASCII characters), or none")
    bad = [c for c in stripped if not 0x21 <= ord(c) <= 0x7E]
    if bad:
        raise ValueError(f"the API key holds {bad[0]!r}: only visible ASCII characters (no spaces inside) can be "
                         "sent in an Authorization header")
    return stripped.encode("ascii")


def _host_name(value: str) -> str:
    """The host part of a `Host` header (`[::1]:8000` → `::1`, `localhost:8000` → `localhost`)."""
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware applying the checks of the module docstring to `app`."""

    def __init__(self, app, api_key: str | None = None, max_body: int = DEFAULT_MAX_BODY,
                 loopback_only: bool = False, client_timeout: float = DEFAULT_CLIENT_TIMEOUT,
                 max_buffered: int = DEFAULT_MAX_BUFFERED, stopping=None):
        self.app = app
        self.stopping = stopping  # () -> bool: while the server stops, every answer says Connection: close
        self.api_key = api_key_bytes(api_key)
        self.max_body = max_body
        self.loopback_only = loopback_only
        self.client_timeout = client_timeout
        self.max_buffered = max(max_buffered, max_body)
        self.buffered = 0  # bytes of bodies being received now

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = {"started": False, "complete": False}

        async def tracked(message):
            if message["type"] == "http.response.start":
                state["started"] = True
                if self.stopping is not None and self.stopping():  # the client must not send more on it
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["complete"] = True
            await send(message)

        try:
            await self._checked(scope, receive, tracked, state)
        except Exception as exc:  # a bug, or memory: JSON, and the connection stays usable
            reference = secrets.token_hex(4)
            log.error("error %s in %s %s", reference, scope.get("method"), scope.get("path"), exc_info=exc)
            if state["started"]:
                return  # the answer was under way: nothing more can be said on it
            if _out_of_memory(exc):
                return await _refuse(tracked, 503, "the request needs more memory than the model has: send fewer or "
                                                   f"shorter lines or prompts (reference {reference})",
                                     [], "out_of_memory", [(b"retry-after", b"1")])
            await _refuse(tracked, 500, f"internal error ({type(exc).__name__}; reference {reference} in the server's "
                                        "log); the server goes on answering", [], "internal_error")

    async def _checked(self, scope, receive, send, state):
        headers = dict(scope["headers"])  # lower-case byte names; a repeated header keeps the last
        if self.loopback_only:
            host = headers.get(b"host", b"").decode("latin-1")
            if host and not is_loopback(_host_name(host)):
                return await _refuse(send, 421, f"Host {host!r} is not this machine's loopback name: the service "
                                                "answers only requests addressed to 127.0.0.1, ::1 or localhost",
                                     ["header", "host"], "misdirected")
        path = scope["path"]
        if self.api_key is not None and path.startswith("/v1/") and not self._authorized(headers):
            return await _refuse(send, 401, "missing or wrong API key: send the header Authorization: Bearer KEY",
                                 ["header", "authorization"], "unauthorized",
                                 [(b"www-authenticate", b'Bearer realm="wordlm"')])
        if scope["method"] != "POST":
            return await self.app(scope, receive, send)

        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype != b"application/json":
            got = ctype.decode("latin-1") or "none"
            return await _refuse(send, 415, f"the body must be JSON: send Content-Type: application/json (got {got})",
                                 ["header", "content-type"], "unsupported_media_type")
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _refuse(send, 413, self._too_large(), ["body"], "too_large")
        body = await self._body(receive, send)
        if body is None:
            return  # refused, or the client went away
        problem = _json_problem(body)
        if problem is not None:
            return await _refuse(send, 400, problem, ["body"], "invalid_body")
        await self._run(scope, receive, send, body, state)

    async def _body(self, receive, send) -> bytes | None:
        """The request's body, read within the limits; None once refused (or the client is gone)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.client_timeout
        chunks, size = [], 0
        try:
            while True:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    await _refuse(send, 408, f"the request body did not arrive within {self.client_timeout:g} s (the "
                                             "server's --client-timeout)", ["body"], "timeout", _CLOSE)
                    return None
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                self.buffered += len(chunk)
                if size > self.max_body:
                    await _refuse(send, 413, self._too_large(), ["body"], "too_large")
                    return None
                if self.buffered > self.max_buffered:
                    await _refuse(send, 503, "busy: too many request bodies are being received at once; retry later",
                                  ["body"], "unavailable", [(b"retry-after", b"1")])
                    return None
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        finally:
            self.buffered -= size

    async def _run(self, scope, receive, send, body: bytes, state) -> None:
        """Hand the request on (its body replayed) as a task, and cancel it if the client disconnects
        first: nobody would read its answer, and the model has better things to do."""
        listening = asyncio.ensure_future(receive())  # after the body, receive() returns at disconnect
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await asyncio.shield(listening)

        task = asyncio.ensure_future(self.app(scope, replay, send))
        try:
            await asyncio.wait({task, listening}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            listening.cancel()
            raise
        if not task.done() and not state["complete"] and listening.result()["type"] == "http.disconnect":
            task.cancel()  # the client has gone
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
            return
        try:
            await task
        finally:
            listening.cancel()

    def _authorized(self, headers: dict) -> bool:
        value = headers.get(b"authorization", b"")
        scheme, _, token = value.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)

    def _too_large(self) -> str:
        return f"request body larger than the limit of {self.max_body:,} bytes (the server's --max-body-bytes)"


_CLOSE = [(b"connection", b"close")]  # a slow client: its connection is not kept


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError"


def lone_surrogate(value) -> str | None:
    """The place (`lines[3]`, `hyps[0].text`) of the first string (or key) in a parsed JSON value
    holding a lone surrogate (`\\ud800`: JSON can escape it, UTF-8 cannot carry it), or None."""
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path or "(top level)"
        elif isinstance(item, dict):
            for k, v in item.items():
                place = f"{path}.{k}" if path else str(k)
                if _SURROGATE.search(k):
                    return f"{path} (a key)" if path else "a key"
                stack.append((place, v))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
    return None


def _json_problem(body: bytes) -> str | None:
    """None for a UTF-8 body holding strict JSON, else what is wrong with it, in one line."""
    if not body.strip():
        return "empty body: expected a JSON object"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"the body is not valid UTF-8 (byte {e.start}: {body[e.start:e.start + 1]!r}): JSON must be UTF-8"
    from wordlm.jsonfile import parse

    try:
        value = parse(text, "invalid JSON body")
    except InputError as e:
        return str(e)
    place = lone_surrogate(value)
    if place is not None:
        return (f"{place}: a lone surrogate escape (such as \\ud800) is not a character: send UTF-8 text "
                "(a character outside the BMP as its pair of escapes, or as itself)")
    return None


async def _refuse(send, status: int, message: str, loc: list, kind: str, extra_headers=()) -> None:
    body = json.dumps(error_body(message, loc, kind), ensure_ascii=False, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
