"""A real `wordlm serve` process for the service tests: started on 127.0.0.1 with a free port,
ready once /healthz answers, stopped with SIGTERM (its exit code and stderr kept)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

START_TIMEOUT = 180  # seconds: TensorFlow's import and the model load, on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model_dir, *args, env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wordlm", "serve", str(model_dir), "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=self._err, env={**os.environ, **(env or {})})
        self.session = requests.Session()
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wordlm serve exited with {self.proc.returncode}: {self.stderr()}")
            try:
                if requests.get(self.url("/healthz"), timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError(f"wordlm serve did not answer /healthz in {START_TIMEOUT} s: {self.stderr()}")

    def url(self, path: str) -> str:
        return self.base + path

    def post(self, path: str, body=None, **kw) -> requests.Response:
        return self.session.post(self.url(path), json=body, timeout=60, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url(path), timeout=60, **kw)

    def ok(self, path: str, body) -> dict:
        r = self.post(path, body)
        assert r.status_code == 200, (path, body, r.status_code, r.text)
        return r.json()

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read()

    def stop(self, sig=signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.session.close()
        return self.proc.returncode
