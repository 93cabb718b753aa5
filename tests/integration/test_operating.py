"""What an operator sets up (docs/deployment.md): flags from the environment and the choice
of event loop. Expected values are from `lobbykit-server --help` and docs/deployment.md."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import authed, server_binary


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
