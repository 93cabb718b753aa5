"""examples/deploy: systemd accepts lobbykit.service (systemd-analyze verify, when this
machine has it), the command line it runs is one lobbykit-server takes, and its limits fit
what docs/deployment.md promises (100,000 connections; a stop that outlasts the drain); and
Debian's nginx runs nginx-lobbykit.conf in front of a real server, carrying WebSocket and
HTTP and the client's address."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, Client, ahttp, server_binary

UNIT = ROOT / "examples" / "deploy" / "lobbykit.service"


def unit_values(key: str) -> list:
    return [line.split("=", 1)[1].strip() for line in UNIT.read_text().splitlines()
            if line.startswith(key + "=")]


def local_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at the binary under test."""
    text = UNIT.read_text().replace("/usr/local/bin/lobbykit-server", server_binary())
    out = tmp_path / "lobbykit.service"
    out.write_text(text)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit_without_a_warning(tmp_path):
    out = subprocess.run(["systemd-analyze", "verify", str(local_unit(tmp_path))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # verify exits 0 on unknown keys and bad values, with a warning naming the file.
    assert "lobbykit.service" not in out.stderr, out.stderr


def test_the_limits_fit_100000_connections_and_the_drain():
    assert int(unit_values("LimitNOFILE")[0]) >= 100_000 + 1_000
    exec_start = shlex.split(unit_values("ExecStart")[0])
    drain_ms = int(exec_start[exec_start.index("--drain-ms") + 1])
    stop = re.fullmatch(r"(\d+)s", unit_values("TimeoutStopSec")[0])
    assert stop and int(stop.group(1)) * 1000 >= drain_ms + 5_000
    assert unit_values("KillSignal") == ["SIGTERM"]
    assert unit_values("ExecReload") == ["/bin/kill -HUP $MAINPID"]


def test_the_units_command_line_starts_the_server(tmp_path):
    args = shlex.split(unit_values("ExecStart")[0].replace("${STATE_DIRECTORY}", str(tmp_path)))
    args[0] = server_binary()
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = "0"
    proc = subprocess.Popen(args + ["--no-static"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGTERM)  # nobody connected: the drain ends at once
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()
        proc.stderr.close()
    assert (tmp_path / "lobbykit.db").exists()


# -- examples/deploy/nginx-lobbykit.conf ----------------------------------------------------

NGINX_SAMPLE = ROOT / "examples" / "deploy" / "nginx-lobbykit.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nginx_in_front(servers, tmp_path):
    """lobbykit-server trusting 127.0.0.1, and Debian's nginx on 127.0.0.1 running the sample
    config (its ports changed, nothing else) in front of it. Yields (nginx port, server)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("no nginx here (scripts/install-deps.sh installs nginx-core)")
    srv = servers.start("--trusted-proxy", "127.0.0.1", "--max-sessions-per-address", "1")
    port = free_port()
    sample = NGINX_SAMPLE.read_text()
    assert "server 127.0.0.1:8080;" in sample and "listen 80;" in sample
    sample = sample.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{srv.port};")
    sample = sample.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (tmp_path / "lobbykit.conf").write_text(sample)
    (tmp_path / "logs").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp_path}/logs/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    include {tmp_path}/lobbykit.conf;
}}
""")
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(main), "-g",
                             "daemon off; master_process off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("nginx did not start: " + proc.stderr.read().decode())
                time.sleep(0.05)
        yield port, srv
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


async def client_from(port: int, source: str) -> Client:
    """A WebSocket client whose connection comes from the local address `source`."""
    return await Client.connect(port, local_addr=(source, 0))


async def test_the_nginx_sample_carries_websocket_http_and_the_client_address(nginx_in_front):
    port, srv = nginx_in_front
    health = await ahttp(port, "GET", "/api/health")
    assert health.status == 200 and health.json()["status"] == "ok"
    a = await client_from(port, "127.0.0.2")
    await a.auth()
    await a.call("set_name", {"name": "Ada"})
    lobby = (await a.call("create_lobby", {"name": "through nginx"}))["lobby"]
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    b = await client_from(port, "127.0.0.3")  # another address: a session of its own
    await b.auth()
    await b.call("set_name", {"name": "Bob"})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.call("chat", {"text": "over the proxy"})
    assert (await b.next_push("chat"))["message"]["text"] == "over the proxy"
    # 127.0.0.2 has its one session: the server saw that address, not nginx's 127.0.0.1.
    again = await client_from(port, "127.0.0.2")
    await again.fail("auth", {}, code="too_many_sessions")
    # A header the client made up itself is not believed: nginx appends what it saw.
    spoof = await Client.connect(port, local_addr=("127.0.0.2", 0),
                                 extra_headers={"X-Forwarded-For": "203.0.113.50"})
    await spoof.fail("auth", {}, code="too_many_sessions")
