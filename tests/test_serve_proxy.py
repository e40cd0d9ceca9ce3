"""The nginx configuration of docs/serve.md ("Behind a reverse proxy"), run as written in front of the
service (uvicorn in a thread of this process): requests pass through on keep-alive, the service's
own JSON errors pass through, and the rate limit answers JSON 429. Skipped where nginx is not
installed. Loopback only."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from serve_thread import ThreadServer
from serving import free_port

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = [pytest.mark.skipif(NGINX is None, reason="nginx is not installed"),
              pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]


def documented_config() -> str:
    text = (ROOT / "docs" / "serve.md").read_text()
    blocks = re.findall(r"```nginx\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/serve.md should hold one nginx block"
    return blocks[0]


@pytest.fixture(scope="module")
def proxied(seq_lm, tmp_path_factory):
    import requests

    import wordlm.serve

    folder = tmp_path_factory.mktemp("nginx")
    app = wordlm.serve.app(seq_lm, max_wait_ms=0, loopback_only=True)
    with ThreadServer(app) as server:
        port = free_port()
        site = documented_config().replace("127.0.0.1:8000", f"127.0.0.1:{server.port}") \
                                  .replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        temp = "".join(f"{name}_temp_path {folder}/{name};\n" for name in
                       ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = folder / "nginx.conf"
        conf.write_text(f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
                        f"http {{\naccess_log off;\n{temp}{site}\n}}\n")
        proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log"),
                                 "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.skip(f"nginx did not start here: {proc.stderr.read().decode()[-300:]}")
            try:
                requests.get(base + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "nginx did not answer"
                time.sleep(0.1)
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(10)


def test_requests_and_errors_pass_through_the_proxy(proxied, seq_lm):
    import requests

    with requests.Session() as s:
        r = s.post(proxied + "/v1/next", json={"prompt": "jack and", "top": 2}, timeout=10)
        assert r.status_code == 200, r.text
        assert [w["word"] for w in r.json()["words"]] == [w.word for w in seq_lm.next_words("jack and", 2)]
        r = s.post(proxied + "/v1/next", json={"prompt": "jack", "top": 0}, timeout=10)
        assert r.status_code == 422 and "top" in r.json()["error"]  # the service's own error, through
        r = s.post(proxied + "/v1/score", data=b'{"text": "a' + b"a" * (2 << 20) + b'"}',
                   headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 413  # nginx's client_max_body_size, before the service


def test_the_rate_limit_answers_json_429(proxied):
    import requests

    def ask(_):
        return requests.get(proxied + "/healthz", timeout=10)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(400)))
    limited = [r for r in answers if r.status_code == 429]
    assert limited, "400 requests at once never met the documented rate limit"
    assert limited[0].headers["content-type"].startswith("application/json")
    assert "too many requests" in limited[0].json()["error"]
    assert all(r.status_code in (200, 429) for r in answers)
