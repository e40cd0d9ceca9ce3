"""Running the service: the listening socket, uvicorn and its limits, and a bounded stop on SIGTERM.

`bind(host, port)` resolves the address and binds the socket before any model is loaded (and before
TensorFlow is imported), so a wrong host or a port in use is a one-line error at once; the socket
starts listening when uvicorn starts, after the model is loaded, so a client polling `/healthz`
sees "connection refused" until the service can answer. Whether the service is exposed (the
warning, the `Host` check) is decided by the address bound, not by how `--host` spelled it.

`run(app, sock)` serves until SIGTERM or SIGINT with these limits (docs/serve.md, "Limits"):
- uvicorn's h11 protocol (not httptools: h11 bounds a request's head, `MAX_HEAD_BYTES`, where
  httptools buffers headers without limit), subclassed (`protocol_class`) so that every refusal is
  JSON: a connection over `max_connections` gets 503 (what uvicorn's `--limit-concurrency` does,
  in plain text); a client that has not sent its request's headers `client_timeout` seconds after
  connecting (or after its first byte of a later request) gets 408 and is closed (slowloris);
  a malformed or oversized head gets 400. Idle keep-alive connections close after `KEEP_ALIVE_S`.
- the descriptor limit (RLIMIT_NOFILE) raised towards the hard limit so that `max_connections`
  fit; where the hard limit is lower, `max_connections` is lowered to fit and a line says so.
- the stop: the first SIGTERM (or SIGINT) stops accepting connections, closes idle ones, and
  drains the model's worker (`MicroBatcher.drain(drain_seconds)`): queued and running requests
  are answered, or cut at the bound with a JSON 503; a request arriving on an open connection gets
  503 at once. A second signal cuts everything now. Every client has a JSON answer within
  `drain_seconds` (+ `STUCK_GRACE_S` if one model call cannot be interrupted), and the process
  exits 0 after SIGTERM, 130 after Ctrl-C (the CLI's convention), without waiting for a stuck
  worker thread (a daemon).

Not here: the endpoints (`app.py`), the command's options (`cli/serve_cmds.py`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import signal
import socket
import threading

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from wordlm.errors import InputError
from wordlm.serve.batching import STUCK_GRACE_S
from wordlm.serve.limits import DEFAULT_CLIENT_TIMEOUT, error_body, is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DRAIN_SECONDS = 10.0  # after SIGTERM, every client has its answer (or a 503) within this bound
DEFAULT_MAX_CONNECTIONS = 2048  # open connections; more get a JSON 503 and are closed
KEEP_ALIVE_S = 5  # seconds an idle keep-alive connection stays open (uvicorn's default)
IDLE_CLOSE_GRACE_S = 1.0  # at the stop, an idle keep-alive connection is closed this long after: a request
#                          already on its way is answered (503 "stopping", Connection: close), not cut off
MAX_HEAD_BYTES = 16 << 10  # a request line and headers longer than this: 400 (h11's own default, set explicitly)
FD_RESERVE = 256  # descriptors kept for the model, logs and files beyond one per connection
log = logging.getLogger("wordlm.serve")


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening; InputError naming the problem."""
    if host.startswith("[") and host.endswith("]"):  # [::1], the form URLs (and the ready line) write
        host = host[1:-1]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise InputError(f"--host {host!r}: not an address or a known host name ({e})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
    except OSError as e:
        sock.close()
        reason = {errno.EADDRINUSE: "the port is in use (another server? choose --port)",
                  errno.EACCES: "permission denied (ports below 1024 need privileges)",
                  errno.EADDRNOTAVAIL: "not an address of this machine"}.get(e.errno, e.strerror or str(e))
        raise InputError(f"cannot listen on {_show(host)}:{port}: {reason}") from None
    return sock


def bound_loopback(sock: socket.socket) -> bool:
    """True when `sock` is bound to a loopback address (127.0.0.0/8, ::1): only this machine connects."""
    return is_loopback(sock.getsockname()[0])


def exposure_warning(host: str, sock: socket.socket | None = None) -> str | None:
    """The warning `wordlm serve` prints when `host` (as bound to `sock`, when given) lets other
    machines connect; None on loopback, however spelled (`127.1`, `[::1]`, `localhost`)."""
    if bound_loopback(sock) if sock is not None else is_loopback(host):
        return None
    return (f"warning: serving on {_show(host)}, reachable from other machines: anyone who can connect can use "
            "the model and its CPU; set --api-key (or WORDLM_API_KEY), and prefer a reverse proxy with TLS")


def _show(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def protocol_class(max_connections: int = DEFAULT_MAX_CONNECTIONS, client_timeout: float = DEFAULT_CLIENT_TIMEOUT):
    """uvicorn's h11 protocol with the connection cap and the header deadline (module docstring)."""

    class Protocol(_Protocol):
        pass

    Protocol.max_connections, Protocol.client_timeout = max_connections, client_timeout
    return Protocol


class _Protocol(H11Protocol):
    max_connections = DEFAULT_MAX_CONNECTIONS
    client_timeout = DEFAULT_CLIENT_TIMEOUT
    _head_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.app = _too_many_connections  # its requests are answered 503 (JSON), then it closes
        self._arm()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:  # a request's head is complete: the endpoint's own limits apply
            self._disarm()
        elif self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of a later request: its head has client_timeout to arrive

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.client_timeout, self._slow_client)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _slow_client(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered
        self._close_with(408, f"the request's headers did not arrive within {self.client_timeout:g} s (the "
                              "server's --client-timeout)", "timeout")

    def shutdown(self) -> None:
        """The server stops. uvicorn closes an idle keep-alive connection at once, under a request the
        client may have just sent (a dropped request); here it gets `IDLE_CLOSE_GRACE_S` more, and
        whatever arrives is answered with Connection: close (the application says it while stopping)."""
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(IDLE_CLOSE_GRACE_S, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            super().shutdown()

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        self._close_with(400, f"invalid HTTP request ({msg.rstrip('.')}; a request's line and headers may hold "
                              f"{MAX_HEAD_BYTES:,} bytes)", "invalid_request")

    def _close_with(self, status: int, message: str, kind: str) -> None:
        if self.transport.is_closing():
            return
        body = json.dumps(error_body(message, ["request"], kind)).encode()
        reason = {400: "Bad Request", 408: "Request Timeout"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
                "connection: close\r\n\r\n").encode()
        self.transport.write(head + body)
        self.transport.close()


async def _too_many_connections(scope, receive, send) -> None:
    body = json.dumps(error_body("busy: too many open connections (the server's --max-connections); retry later",
                                 ["connection"], "unavailable")).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body})


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit of open descriptors towards `wanted` (not past the hard limit); the soft
    limit now in force."""
    try:
        import resource
    except ImportError:  # not POSIX
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return wanted if soft == resource.RLIM_INFINITY else soft


def run(app, sock: socket.socket, *, access_log: bool = False, log_level: str = "warning",
        drain_seconds: float = DEFAULT_DRAIN_SECONDS, max_connections: int = DEFAULT_MAX_CONNECTIONS,
        client_timeout: float = DEFAULT_CLIENT_TIMEOUT, on_ready=None, say=None) -> int:
    """Serve `app` on the bound `sock` until a signal; the exit code (0 after SIGTERM, 130 after SIGINT).
    `on_ready()` is called once the server accepts connections (a line that means "ready"); `say(line)`
    reports a limit lowered to fit the machine."""
    fds = raise_fd_limit(max_connections + FD_RESERVE)
    if fds < max_connections + FD_RESERVE:
        lowered = max(1, fds - FD_RESERVE)
        if say is not None:
            say(f"warning: the descriptor limit is {fds} (ulimit -n): at most {lowered} connections, not "
                f"{max_connections}")
        max_connections = lowered
    config = uvicorn_config(app, access_log=access_log, log_level=log_level, drain_seconds=drain_seconds,
                            max_connections=max_connections, client_timeout=client_timeout)
    server = Server(config, on_ready, batcher=getattr(getattr(app, "state", None), "batcher", None),
                    drain_seconds=drain_seconds)
    server.run(sockets=[sock])
    if not server.started:
        return 1  # the application did not start (uvicorn has said why)
    return 130 if server.signals and server.signals[0] == signal.SIGINT else 0


def uvicorn_config(app, *, access_log: bool = False, log_level: str = "warning",
                   drain_seconds: float = DEFAULT_DRAIN_SECONDS, max_connections: int = DEFAULT_MAX_CONNECTIONS,
                   client_timeout: float = DEFAULT_CLIENT_TIMEOUT) -> uvicorn.Config:
    """uvicorn's configuration with the service's limits (module docstring): what `run` serves with."""
    return uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on", server_header=False,
                          http=protocol_class(max_connections, client_timeout),
                          h11_max_incomplete_event_size=MAX_HEAD_BYTES, timeout_keep_alive=KEEP_ALIVE_S,
                          backlog=min(4096, max_connections),
                          # a backstop only: the drain answers every request before this
                          timeout_graceful_shutdown=drain_seconds + client_timeout + STUCK_GRACE_S + 1)


class Server(uvicorn.Server):
    """uvicorn's Server, except that a signal ends `run` normally (uvicorn re-raises it after the
    graceful shutdown, which would make the exit status the signal's instead of 0), drains the
    model's worker (`batcher`) within `drain_seconds`, and a second signal cuts what still runs
    (uvicorn's would skip the answers and the application's shutdown)."""

    def __init__(self, config, on_ready=None, batcher=None, drain_seconds: float = DEFAULT_DRAIN_SECONDS):
        super().__init__(config)
        self.signals: list[int] = []
        self.on_ready = on_ready
        self.batcher = batcher
        self.drain_seconds = drain_seconds

    async def startup(self, sockets=None):
        await super().startup(sockets)
        if self.started and self.on_ready is not None:
            self.on_ready()

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig, frame):
        self.signals.append(sig)
        if self.batcher is not None:
            self.batcher.drain(self.drain_seconds if len(self.signals) == 1 else 0.0)
        self.should_exit = True
