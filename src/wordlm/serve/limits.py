"""The service's guard: what is checked about a request before any endpoint sees it.

A pure ASGI middleware (no per-request objects beyond the checks), in this order:
1. `Host` (when the service is bound to a loopback address): only a loopback name, so that a web
   page elsewhere cannot reach the service through DNS rebinding — 421;
2. the API key, for `/v1/...` when one is set: `Authorization: Bearer KEY` — 401;
3. for a POST: a JSON content type (`application/json`) — 415; a body of at most `max_body` bytes,
   checked on `Content-Length` and again while reading — 413; UTF-8 — 400 naming the byte; valid,
   strict JSON (no NaN or Infinity, nesting bounded: `jsonfile.parse`) — 400 naming line and column.
The body is then handed on as read. Every refusal is a JSON error (`error_body`) that says what was
expected; the connection and the server carry on.

Not here: the fields of a request (`schemas.py`, pydantic's 422s), the endpoints (`app.py`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from wordlm.errors import InputError

DEFAULT_MAX_BODY = 1 << 20  # bytes of a request body (a thousand lines of a thousand characters)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def error_body(message: str, loc: list, kind: str) -> dict:
    """The one shape of every error the service sends: a line, and FastAPI's list of details."""
    return {"error": message, "detail": [{"loc": loc, "msg": message, "type": kind}]}


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    """The host part of a `Host` header (`[::1]:8000` → `::1`, `localhost:8000` → `localhost`)."""
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware applying the checks of the module docstring to `app`."""

    def __init__(self, app, api_key: str | None = None, max_body: int = DEFAULT_MAX_BODY,
                 loopback_only: bool = False):
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body = max_body
        self.loopback_only = loopback_only

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
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
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return await _refuse(send, 413, self._too_large(), ["body"], "too_large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = _json_problem(body)
        if problem is not None:
            return await _refuse(send, 400, problem, ["body"], "invalid_body")

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _authorized(self, headers: dict) -> bool:
        value = headers.get(b"authorization", b"")
        scheme, _, token = value.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)

    def _too_large(self) -> str:
        return f"request body larger than the limit of {self.max_body:,} bytes (the server's --max-body-bytes)"


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
        parse(text, "invalid JSON body")
    except InputError as e:
        return str(e)
    return None


async def _refuse(send, status: int, message: str, loc: list, kind: str, extra_headers=()) -> None:
    body = json.dumps(error_body(message, loc, kind), ensure_ascii=False, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
