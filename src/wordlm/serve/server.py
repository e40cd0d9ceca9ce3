"""Running the service: the listening socket, uvicorn, and a clean stop on SIGTERM.

`bind(host, port)` resolves the address and binds the socket before any model is loaded (and before
TensorFlow is imported), so a wrong host or a port in use is a one-line error at once; the socket
starts listening when uvicorn starts, after the model is loaded, so a client polling `/healthz`
sees "connection refused" until the service can answer. `run(app, sock)` serves until SIGTERM or
SIGINT: uvicorn then stops accepting connections, finishes the requests in flight (up to
`graceful_timeout` seconds), shuts the application down (the model worker answers what it was
given) and `run` returns the exit code: 0 after SIGTERM, 130 after Ctrl-C (the CLI's convention).

Not here: the endpoints (`app.py`), the command's options (`cli/serve_cmds.py`).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading

import uvicorn

from wordlm.errors import InputError
from wordlm.serve.limits import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_GRACEFUL_TIMEOUT = 30.0  # seconds the requests in flight get to finish after SIGTERM


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening; InputError naming the problem."""
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


def exposure_warning(host: str) -> str | None:
    """The warning `wordlm serve` prints when `host` lets other machines connect (None on loopback)."""
    if is_loopback(host):
        return None
    return (f"warning: serving on {_show(host)}, reachable from other machines: anyone who can connect can use "
            "the model and its CPU; set --api-key (or WORDLM_API_KEY), and prefer a reverse proxy with TLS")


def _show(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def run(app, sock: socket.socket, *, access_log: bool = False, log_level: str = "warning",
        graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT, on_ready=None) -> int:
    """Serve `app` on the bound `sock` until a signal; the exit code (0 after SIGTERM).
    `on_ready()` is called once the server accepts connections (a line that means "ready")."""
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=graceful_timeout, server_header=False)
    server = Server(config, on_ready)
    server.run(sockets=[sock])
    if not server.started:
        return 1  # the application did not start (uvicorn has said why)
    return 130 if signal.SIGINT in server.signals else 0


class Server(uvicorn.Server):
    """uvicorn's Server, except that a signal ends `run` normally: uvicorn re-raises it after the
    graceful shutdown, which would make the exit status the signal's instead of 0."""

    def __init__(self, config, on_ready=None):
        super().__init__(config)
        self.signals: list[int] = []
        self.on_ready = on_ready

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
        super().handle_exit(sig, frame)
