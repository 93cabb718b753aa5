"""What an operator sets up (docs/deployment.md): flags from the environment, the choice
of event loop, draining on SIGTERM and the health endpoints. Expected values are from
`lobbykit-server --help` and docs/deployment.md."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import pytest

from conftest import Client, ahttp, authed, raw_http, raw_status, server_binary, until


def run_server(*args, env_extra=None, timeout=30):
    """Runs lobbykit-server to completion (for flags that make it exit at once)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOBBYKIT_")}
    env.update(env_extra or {})
    return subprocess.run([server_binary(), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_help_says_flags_come_from_the_environment():
    out = run_server("--help")
    assert out.returncode == 0
    assert "LOBBYKIT_" in out.stdout and "environment" in out.stdout
    assert "--event-loop" in out.stdout


async def test_a_limit_from_the_environment_applies(servers):
    srv = servers.start(env={"LOBBYKIT_MAX_NAME_CHARS": "3"})
    c = await authed(srv.port)
    await c.fail("set_name", {"name": "Abcd"}, code="bad_field")
    assert (await c.call("set_name", {"name": "Abc"}))["name"] == "Abc"


async def test_the_command_line_wins_over_the_environment(servers):
    srv = servers.start("--max-name-chars", "5", env={"LOBBYKIT_MAX_NAME_CHARS": "3"})
    c = await authed(srv.port)
    assert (await c.call("set_name", {"name": "Abcde"}))["name"] == "Abcde"


async def test_a_switch_from_the_environment(servers):
    srv = servers.start(env={"LOBBYKIT_NO_MEMBER_BOTS": "yes"})
    c = await authed(srv.port, "Ada")
    lobby = (await c.call("create_lobby", {"name": "room"}))["lobby"]
    await c.call("join_lobby", {"lobby_id": lobby["id"]})
    await c.fail("add_bot", {"kind": "echo"}, code="forbidden")


async def test_an_empty_or_false_switch_variable_is_unset(servers):
    srv = servers.start(env={"LOBBYKIT_NO_MEMBER_BOTS": "0", "LOBBYKIT_MAX_NAME_CHARS": ""})
    c = await authed(srv.port, "Ada")
    lobby = (await c.call("create_lobby", {"name": "room"}))["lobby"]
    await c.call("join_lobby", {"lobby_id": lobby["id"]})
    # Members may add bots again: the refusal is about the kind, not about permission.
    err = await c.fail("add_bot", {"kind": "echo"})
    assert err["code"] != "forbidden"


@pytest.mark.parametrize("var,value,says", [
    ("LOBBYKIT_PORT", "eighty", "LOBBYKIT_PORT: --port needs a number"),
    ("LOBBYKIT_MEMORY", "maybe", "LOBBYKIT_MEMORY is a switch"),
    ("LOBBYKIT_EVENT_LOOP", "select", "LOBBYKIT_EVENT_LOOP: --event-loop needs libuv or poll"),
    ("LOBBYKIT_REQUIRE_TOKEN", "1", "--require-token needs a secret"),
])
def test_a_bad_environment_value_stops_the_server_with_its_name(var, value, says):
    out = run_server("--memory", "--port", "0", env_extra={var: value})
    assert out.returncode == 2, out
    assert says in out.stderr
    assert out.stdout == ""


def test_a_bad_event_loop_flag_is_a_usage_error():
    out = run_server("--memory", "--port", "0", "--event-loop", "select")
    assert out.returncode == 2
    assert "--event-loop needs libuv or poll, not 'select'" in out.stderr


@pytest.mark.parametrize("loop", ["libuv", "poll"])
async def test_both_event_loops_serve_websocket_and_http(servers, loop):
    srv = servers.start("--event-loop", loop)
    a = await authed(srv.port, "Ada")
    b = await authed(srv.port, "Bob")
    lobby = (await a.call("create_lobby", {"name": "room"}))["lobby"]
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.call("chat", {"text": "hello"})
    msg = await b.next_push("chat")
    assert msg["message"]["text"] == "hello"
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/api/health", timeout=10) as r:
        assert r.status == 200


# -- draining (docs/deployment.md, "Draining") -----------------------------------------------

async def wait_exit(srv, timeout: float) -> int:
    """The server's exit status once it has exited by itself within timeout seconds."""
    proc = srv.proc
    rc = await asyncio.to_thread(proc.wait, timeout)
    srv.exit_codes.append(("drained", rc))
    return rc


async def test_sigterm_drains_readiness_fails_new_sessions_refused_then_exit(servers):
    srv = servers.start("--drain-ms", "3000", "--drain-url", "ws://127.0.0.1:9/ws")
    assert (await ahttp(srv.port, "GET", "/api/health/ready")).status == 200
    clients = [await authed(srv.port, f"user{i}") for i in range(6)]
    started = time.monotonic()
    os.kill(srv.pid, signal.SIGTERM)

    async def not_ready():
        r = await ahttp(srv.port, "GET", "/api/health/ready")
        return r if r.status == 503 else None
    reply = await until(not_ready, 5, "readiness 503")
    body = reply.json()
    assert body["ready"] is False and body["draining"] is True
    assert body["code"] == "not_ready"
    assert (await ahttp(srv.port, "GET", "/api/health/live")).status == 200
    # No new sessions: the handshake is refused with 503 draining and a Retry-After.
    resp = raw_http(srv.port, b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert raw_status(resp) == 503
    assert b'"code":"draining"' in resp and b"retry-after: 1" in resp.lower()

    # Every client is told to reconnect, with the hint, then closed with 1001 — spread over
    # the period, not all at once.
    told_at = []
    for c in clients:
        hint = await c.next_push("reconnect", timeout=10)
        assert hint["reason"] == "draining"
        assert hint["url"] == "ws://127.0.0.1:9/ws"
        assert 0 <= hint["after_ms"] < 1000
        assert await c.wait_closed(timeout=10) == 1001
        told_at.append(time.monotonic() - started)
    assert max(told_at) - min(told_at) >= 1.0, told_at
    assert await wait_exit(srv, 10) == 0
    assert time.monotonic() - started < 3 + 5


async def test_a_second_signal_during_a_drain_stops_at_once(servers):
    srv = servers.start("--drain-ms", "600000")
    # The first of three is told at once, the others would be after 200 s and 400 s.
    first, c, third = [await authed(srv.port, name) for name in ("Ada", "Bob", "Cy")]
    lobby = (await c.call("create_lobby", {"name": "kept", "persistent": True}))["lobby"]
    os.kill(srv.pid, signal.SIGTERM)
    assert await first.wait_closed(timeout=5) == 1001

    async def draining():
        return (await ahttp(srv.port, "GET", "/api/health/ready")).status == 503
    await until(draining, 5, "draining")
    started = time.monotonic()
    os.kill(srv.pid, signal.SIGTERM)
    assert await wait_exit(srv, 10) == 0
    assert time.monotonic() - started < 5  # not the ten-minute drain
    assert await c.wait_closed(timeout=5) == 1001
    assert await third.wait_closed(timeout=5) == 1001
    assert not c.has("reconnect")  # stopped, not told to go
    # The store was flushed on the way out.
    srv.start()
    listed = (await ahttp(srv.port, "GET", "/api/lobbies")).json()["lobbies"]
    assert lobby["id"] in [l["id"] for l in listed]


def test_a_bad_drain_url_is_a_usage_error():
    out = run_server("--memory", "--port", "0", "--drain-url", "http://elsewhere/")
    assert out.returncode == 2
    assert "--drain-url needs a ws:// or wss:// URL, not 'http://elsewhere/'" in out.stderr


# -- behind a reverse proxy (docs/deployment.md, "Behind a reverse proxy") --------------------

async def session_from(port: int, forwarded_for: str) -> dict:
    """auth over a connection that says it carries forwarded_for's traffic: the reply."""
    c = await Client.connect(port, extra_headers={"X-Forwarded-For": forwarded_for})
    return await c.request("auth", {})


async def test_a_trusted_proxys_x_forwarded_for_is_the_address_limits_count(servers):
    srv = servers.start("--max-sessions-per-address", "1", "--trusted-proxy", "10.0.0.0/8,127.0.0.1")
    assert (await session_from(srv.port, "203.0.113.1"))["type"] == "welcome"
    # Another client behind the same proxy has a session of its own.
    assert (await session_from(srv.port, "198.51.100.7, 203.0.113.2"))["type"] == "welcome"
    # The first one's address is full; an entry it made up on the left changes nothing.
    again = await session_from(srv.port, "192.0.2.99, 203.0.113.1")
    assert again["type"] == "error" and again["data"]["code"] == "too_many_sessions"


async def test_x_forwarded_for_is_ignored_from_anyone_else(servers):
    srv = servers.start("--max-sessions-per-address", "1")
    assert (await session_from(srv.port, "203.0.113.1"))["type"] == "welcome"
    other = await session_from(srv.port, "203.0.113.2")
    assert other["type"] == "error" and other["data"]["code"] == "too_many_sessions"


def test_a_bad_trusted_proxy_stops_the_server_with_a_sentence():
    out = run_server("--memory", "--port", "0", "--trusted-proxy", "proxy.example")
    assert out.returncode == 1
    assert 'the trusted proxy "proxy.example" is not an IPv4 or IPv6 address' in out.stderr


# -- TLS (docs/deployment.md, "TLS") ------------------------------------------------------------

def make_cert(d, name: str, ca: bool = False, signer=None):
    """A certificate and key made with the openssl command line: a CA, or one for 127.0.0.1
    signed by `signer` (a (cert, key) pair)."""
    import subprocess as sp
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    if ca:
        sp.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
               check=True, capture_output=True)
        return cert, key
    csr, ext = d / f"{name}.csr", d / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    sp.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    sp.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(signer[0]), "-CAkey",
            str(signer[1]), "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out",
            str(cert)], check=True, capture_output=True)
    return cert, key


def served_cert(port: int, ca) -> bytes:
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


async def test_tls_flags_serve_https_and_sighup_reloads_the_certificate(servers, tmp_path):
    import ssl
    import urllib.request
    ca = make_cert(tmp_path, "ca", ca=True)
    cert, key = make_cert(tmp_path, "server", signer=ca)
    srv = servers.start("--tls-cert", str(cert), "--tls-key", str(key))
    ctx = ssl.create_default_context(cafile=str(ca[0]))

    def health():
        with urllib.request.urlopen(f"https://127.0.0.1:{srv.port}/api/health/ready",
                                    context=ctx, timeout=10) as r:
            return r.status
    assert await asyncio.to_thread(health) == 200
    first = served_cert(srv.port, ca[0])
    renewed, renewed_key = make_cert(tmp_path, "renewed", signer=ca)
    cert.write_bytes(renewed.read_bytes())
    key.write_bytes(renewed_key.read_bytes())
    os.kill(srv.pid, signal.SIGHUP)

    async def reloaded():
        return served_cert(srv.port, ca[0]) != first
    await until(reloaded, 10, "the renewed certificate served")
    assert ssl.DER_cert_to_PEM_cert(served_cert(srv.port, ca[0])).strip() == \
        renewed.read_text().strip()
    assert await asyncio.to_thread(health) == 200
    assert "TLS certificate reloaded" in srv.log_path.read_text()


def test_a_tls_key_that_is_not_the_certificates_stops_the_server(tmp_path):
    ca = make_cert(tmp_path, "ca", ca=True)
    cert, _ = make_cert(tmp_path, "server", signer=ca)
    _, other_key = make_cert(tmp_path, "other", signer=ca)
    out = run_server("--memory", "--port", "0", "--tls-cert", str(cert), "--tls-key",
                     str(other_key))
    assert out.returncode == 1
    assert "does not belong to the certificate" in out.stderr
