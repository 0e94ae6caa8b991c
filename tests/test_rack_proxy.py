"""The rack's authenticating front, for real: nginx (VIDGEN_NGINX) on 127.0.0.1, configured
by docker/proxy/render.sh from docker/proxy/nginx.conf.template exactly as the proxy
container does it, in front of the fake ComfyUI (and a header-echo upstream)."""

from __future__ import annotations

import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from fake_comfyui import FakeComfyUI
from rack_env import nginx_binary

REPO = Path(__file__).resolve().parents[1]
RENDER = REPO / "docker" / "proxy" / "render.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run render.sh with only ``env`` (plus PATH): nothing leaks in from the test runner."""
    return subprocess.run(
        ["sh", str(RENDER)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@dataclass
class Proxy:
    url: str
    tokens: dict[str, str]
    access_log: Path
    conf: Path

    def get(self, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(self.url + path, headers=headers, timeout=10, **kw)


class _Echo(http.server.BaseHTTPRequestHandler):
    """An upstream that answers with the request headers it received."""

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def start_nginx(tmp: Path, upstreams: str, tokens: dict[str, str], **extra: str) -> Iterator[Proxy]:
    nginx = nginx_binary()
    port = _free_port()
    # pid/temp files in a world-traversable dir: nginx workers run as nobody under root (CI)
    run_dir = Path(tempfile.mkdtemp(prefix="vidgen-nginx-"))
    run_dir.chmod(0o755)
    conf = tmp / "proxy" / "nginx.conf"
    env = {
        "VIDGEN_UPSTREAMS": upstreams,
        "VIDGEN_PROXY_LISTEN": f"127.0.0.1:{port}",
        "VIDGEN_PROXY_OUT": str(conf),
        "VIDGEN_PROXY_RUN_DIR": str(run_dir),
        "VIDGEN_RESOLVER": "127.0.0.1",
        "VIDGEN_PROXY_ACCESS_LOG": str(tmp / "access.log"),
        "VIDGEN_PROXY_ERROR_LOG": str(tmp / "error.log"),
        **{f"VIDGEN_TOKEN_{k.upper()}": v for k, v in tokens.items()},
        **extra,
    }
    r = render(tmp, env)
    assert r.returncode == 0, r.stderr
    base = [nginx, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")]
    t = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
    assert t.returncode == 0, t.stderr
    proc = subprocess.Popen([*base, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    scheme = "https" if extra.get("VIDGEN_PROXY_TLS") == "on" else "http"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "nginx exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        yield Proxy(f"{scheme}://127.0.0.1:{port}", tokens, tmp / "access.log", conf)
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)


def _token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def rack(tmp_path: Path) -> Iterator[tuple[Proxy, list[FakeComfyUI]]]:
    nginx_binary()  # skip (or fail in CI) before starting anything
    fakes = [
        FakeComfyUI(tmp_path / "gpu0", device_name="cuda:0 NVIDIA GeForce RTX 4090").start(),
        FakeComfyUI(tmp_path / "gpu1", device_name="cuda:0 NVIDIA RTX 6000 Ada").start(),
    ]
    echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    upstreams = (
        f"gpu0=127.0.0.1:{fakes[0].port} gpu1=127.0.0.1:{fakes[1].port}"
        f" echo=127.0.0.1:{echo.server_address[1]}"
    )
    try:
        yield from (
            (p, fakes)
            for p in start_nginx(
                tmp_path, upstreams, {"control_a": _token(), "control_b": _token()}
            )
        )
    finally:
        echo.shutdown()
        for f in fakes:
            f.close()


def test_requests_without_or_with_a_wrong_token_get_401(rack: Any) -> None:
    proxy, _ = rack
    good = proxy.tokens["control_a"]
    for token, headers in [
        (None, {}),
        (_token(), {}),  # well-formed, unknown
        (good.swapcase(), {}),  # tokens are case-sensitive
        (good[:-1], {}),  # a prefix is not the token
        (good + "x", {}),
        (None, {"Authorization": f"Basic {good}"}),
        (None, {"Authorization": f"bearer {good}"}),
    ]:
        r = proxy.get("/gpu0/system_stats", token, headers=dict(headers))
        assert r.status_code == 401, (token, headers, r.status_code)
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="vidgen"'
        assert "comfyui_version" not in r.text
    # unknown routes answer 401 too before any token, so they reveal nothing
    assert proxy.get("/gpu0/userdata").status_code == 401
    assert proxy.get("/").status_code == 401


def test_each_client_token_passes_and_routes_to_its_instance(rack: Any) -> None:
    proxy, fakes = rack
    for client, token in proxy.tokens.items():
        for i, fake in enumerate(fakes):
            r = proxy.get(f"/gpu{i}/system_stats", token)
            assert r.status_code == 200, client
            assert "WWW-Authenticate" not in r.headers
            stats = r.json()
            assert stats["system"]["comfyui_version"] == "0.3.64"
            assert stats["devices"][0]["name"] == fake.device_name
    token = proxy.tokens["control_a"]
    assert proxy.get("/gpu0/object_info/NVENCEncode", token).json()["NVENCEncode"]["output_node"]
    assert proxy.get("/gpu0/queue", token).json() == {"queue_running": [], "queue_pending": []}
    # ComfyUI routes the orchestrator does not use are not reachable, even with a token
    for path in ("/gpu0/userdata", "/gpu0/api/prompt", "/gpu0/", "/gpu7/system_stats"):
        assert proxy.get(path, token).status_code == 404, path
    assert proxy.get("/healthz").text == "ok\n"
    log = proxy.access_log.read_text()
    assert "client=control_a" in log and "client=control_b" in log
    assert all(t not in log for t in proxy.tokens.values())


def test_the_token_never_reaches_comfyui(rack: Any) -> None:
    proxy, _ = rack
    r = proxy.get("/echo/view?filename=a.mp4&type=output", proxy.tokens["control_b"])
    seen = r.json()
    assert seen["path"] == "/view?filename=a.mp4&type=output"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert "authorization" not in headers and "origin" not in headers
    assert headers["x-vidgen-client"] == "control_b"


def test_websocket_upgrade_through_the_proxy(rack: Any) -> None:
    import websocket

    proxy, _ = rack
    ws_url = proxy.url.replace("http://", "ws://") + "/gpu1/ws?clientId=vidgen-test"
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(ws_url, timeout=5)
    assert e.value.status_code == 401
    ws = websocket.create_connection(
        ws_url, timeout=5, header=[f"Authorization: Bearer {proxy.tokens['control_a']}"]
    )
    try:
        first = json.loads(ws.recv())
        assert first["type"] == "status" and first["data"]["sid"] == "vidgen-test"
        assert first["data"]["status"]["exec_info"]["queue_remaining"] == 0
    finally:
        ws.close()


def test_orchestrator_runs_jobs_through_the_proxy(
    rack: Any, tmp_path: Path, coffee_jpeg: Path, input_root: Path, monkeypatch: Any
) -> None:
    from orchestrator_inputs import build_test_workflow, probe_for_tests, write_test_manifests

    from orchestrator.dispatcher import Dispatcher
    from orchestrator.engine import submit_manifests
    from orchestrator.fleet import parse_fleet
    from orchestrator.ledger import JobState, SqliteLedger
    from orchestrator.retry import RetryPolicy
    from orchestrator.verify import Verifier

    proxy, fakes = rack
    monkeypatch.setenv("VIDGEN_RACK_TOKEN", proxy.tokens["control_a"])
    fleet = parse_fleet(
        {
            "queue_depth": 1,
            "poll_interval_s": 0.2,
            "health_interval_s": 0.2,
            "instance": [
                {"name": f"gpu{i}", "url": f"{proxy.url}/gpu{i}", "token_env": "VIDGEN_RACK_TOKEN"}
                for i in range(2)
            ],
        }
    )
    manifests = write_test_manifests(input_root, tmp_path / "manifests", 4, keyframe=coffee_jpeg)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ids = {s.job.job_id for s in submit_manifests(ledger, manifests, input_root) if s.job}
    wf = build_test_workflow()
    summary = Dispatcher(
        ledger,
        fleet,
        out_dir=tmp_path / "out",
        workflows=lambda ref: wf,
        verifier=Verifier(probe=probe_for_tests()),
        policy=RetryPolicy(base_s=0.01, max_s=0.05),
        seed=1,
    ).run(ids, timeout_s=90)
    assert summary.counts["done"] == 4
    for jid in ids:
        job = ledger.get(jid)
        assert job is not None and job.state is JobState.DONE
        rec = json.loads(Path(job.audit_path or "").read_text())
        assert rec["verification"]["ok"] and rec["comfyui_version"] == "0.3.64"
    assert sum(f.stats.submitted for f in fakes) == 4 and all(f.stats.submitted for f in fakes)
    log = proxy.access_log.read_text()
    for route in ("POST /gpu0/prompt", "POST /gpu1/upload/image", "GET /gpu0/ws", "/view"):
        assert route in log, route
    assert "client=control_a" in log and " 401 " not in log
    ledger.close()


def test_tls_terminates_at_the_proxy(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl binary to make a test certificate")
    nginx_binary()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with FakeComfyUI(tmp_path / "gpu0") as fake:
        token = _token()
        gen = start_nginx(
            tmp_path,
            f"gpu0=127.0.0.1:{fake.port}",
            {"control": token},
            VIDGEN_PROXY_TLS="on",
            VIDGEN_TLS_CERT=str(cert),
            VIDGEN_TLS_KEY=str(key),
        )
        proxy = next(gen)
        try:
            assert proxy.url.startswith("https://")
            assert proxy.get("/gpu0/system_stats", verify=str(cert)).status_code == 401
            r = proxy.get("/gpu0/system_stats", token, verify=str(cert))
            assert r.status_code == 200 and r.json()["system"]["comfyui_version"] == "0.3.64"
            with pytest.raises(requests.exceptions.SSLError):
                proxy.get("/gpu0/system_stats", token)  # not trusted without the cert
        finally:
            gen.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "refusing to start an open proxy"),
        ({"VIDGEN_TOKEN_A": "short"}, "at least 32 are required"),
        ({"VIDGEN_TOKEN_A": "x" * 40 + "$;"}, "A-Za-z0-9_-"),
        ({"VIDGEN_TOKEN_A": "y" * 40, "VIDGEN_TOKEN_B": "y" * 40}, "share one token"),
        ({"VIDGEN_TOKEN_A": "z" * 40, "VIDGEN_UPSTREAMS": "gpu0=comfy;evil:80"}, "name=host:port"),
        ({"VIDGEN_TOKEN_A": "z" * 40, "VIDGEN_UPSTREAMS": ""}, "VIDGEN_UPSTREAMS is empty"),
        ({"VIDGEN_TOKEN_A": "z" * 40, "VIDGEN_PROXY_TLS": "on"}, "certificate"),
    ],
)
def test_render_refuses_to_open_the_rack(tmp_path: Path, env: dict[str, str], message: str) -> None:
    full = {
        "VIDGEN_UPSTREAMS": "gpu0=comfyui-gpu0:8188",
        "VIDGEN_PROXY_OUT": str(tmp_path / "nginx.conf"),
        "VIDGEN_PROXY_RUN_DIR": str(tmp_path / "run"),
        "VIDGEN_TLS_CERT": str(tmp_path / "missing.pem"),
        **env,
    }
    r = render(tmp_path, full)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "nginx.conf").exists()
