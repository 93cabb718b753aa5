"""Bots end to end against the real server (docs/bots.md): providers are separate processes
(provider_proc.py, the documented protocol over Python's websockets), lobby members and admins
are independent clients. Dispatch over HTTP and over the protocol, kill -9 of a provider while
its bot runs, a server restart, and every documented refusal."""
import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import (Client, ahttp, assert_healthy, assert_idle, authed, make_lobby, until)

KEY = "test-provider-key"
ADMIN = "admin-secret"
PROC = Path(__file__).with_name("provider_proc.py")
# Short deadlines so failures show within a test's time; each named in docs/bots.md.
FAST = ("--provider-key", KEY, "--bot-reclaim-ms", "1000", "--bot-offer-timeout-ms", "800",
        "--bot-silence-ms", "3000", "--bot-status-interval-ms", "500", "--bot-retry-ms", "500")


class ProviderProc:
    """provider_proc.py as a child process; its JSON lines are read on a thread."""

    def __init__(self, port: int, *args: str, key: str = KEY, name: str = "p"):
        cmd = [sys.executable, str(PROC), "--port", str(port), "--key", key, "--name", name,
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.lines: "queue.Queue[dict]" = queue.Queue()
        self.seen: list = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _procs.append(self)

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                pass

    async def expect(self, event: str, timeout: float = 10.0, **match) -> dict:
        """The next line (seen earlier or arriving) with this event and these fields."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.seen):
                if m.get("event") == event and all(m.get(k) == v for k, v in match.items()):
                    return self.seen.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"provider {self.proc.pid}: no {event} {match} within "
                                     f"{timeout}s; saw {self.seen}")
            try:
                self.seen.append(await asyncio.get_running_loop().run_in_executor(
                    None, lambda: self.lines.get(timeout=min(left, 0.2))))
            except queue.Empty:
                pass

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


_procs: list = []


@pytest.fixture(autouse=True)
def _stop_providers():
    yield
    while _procs:
        _procs.pop().stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def member_in_lobby(port: int, name: str = "Ada"):
    c = await authed(port, name)
    lobby = await make_lobby(c, f"room of {name}")
    await c.call("join_lobby", {"lobby_id": lobby["id"]})
    return c, lobby


async def bot_dispatch(c: Client, state: str, timeout: float = 10.0) -> dict:
    """The next bot_dispatch push with this state."""
    while True:
        m = await c.next_push("bot_dispatch", timeout=timeout)
        if m["dispatch"]["state"] == state:
            return m["dispatch"]


def admin(port, method, path, body=None):
    return ahttp(port, method, path, body, headers={"Authorization": f"Bearer {ADMIN}"})


async def test_dispatch_over_http_puts_the_bot_in_the_lobby(servers):
    srv = servers.start(*FAST, admin_token=ADMIN)
    prov = ProviderProc(srv.port, name="host-a")
    await prov.expect("registered")
    c, lobby = await member_in_lobby(srv.port)

    kinds = await ahttp(srv.port, "GET", "/api/bots/kinds")
    assert kinds.status == 200
    assert kinds.json()["kinds"] == [{"kind": "assistant", "description": "assistant for tests",
                                      "available": True}]

    r = await admin(srv.port, "PUT", f"/api/admin/lobbies/{lobby['id']}/bots/helper",
                    {"kind": "assistant", "metadata": {"lang": "en"}})
    assert r.status == 201, r
    d = r.json()["dispatch"]
    assert (d["kind"], d["key"], d["metadata"]) == ("assistant", "helper", {"lang": "en"})
    # Idempotent: the same key again is the same dispatch, 200.
    again = await admin(srv.port, "PUT", f"/api/admin/lobbies/{lobby['id']}/bots/helper",
                        {"kind": "assistant"})
    assert again.status == 200 and again.json()["dispatch"]["dispatch_id"] == d["dispatch_id"]

    joined = await prov.expect("joined")
    assert joined["name"] == "assistant"
    p = await c.next_push("participant_joined")
    assert p["participant"]["is_bot"] is True
    assert p["participant"]["peer_id"] == joined["peer_id"]
    running = await bot_dispatch(c, "running")
    assert running["bot_peer_id"] == joined["peer_id"]

    listed = (await admin(srv.port, "GET", "/api/admin/bots/dispatches")).json()["dispatches"]
    assert [(x["dispatch_id"], x["state"], x["job"]["state"]) for x in listed] == \
        [(d["dispatch_id"], "running", "joined")]
    provs = (await admin(srv.port, "GET", "/api/admin/bots/providers")).json()["providers"]
    assert [(x["name"], x["running"], x["connected"]) for x in provs] == [("host-a", 1, True)]

    # Removing it: the bot leaves, the provider is told, the lobby sees the dispatch go.
    r = await admin(srv.port, "DELETE", f"/api/admin/lobbies/{lobby['id']}/bots/helper")
    assert r.status == 200
    await prov.expect("cancel", reason="removed")
    left = await c.next_push("participant_left")
    assert left["peer_id"] == joined["peer_id"]
    gone = await c.next_push("bot_dispatch_removed")
    assert gone["reason"] == "removed"
    r = await admin(srv.port, "DELETE", f"/api/admin/lobbies/{lobby['id']}/bots/helper")
    assert r.status == 404 and r.json()["code"] == "dispatch_not_found"


async def test_members_add_and_remove_bots_over_the_protocol(servers):
    srv = servers.start(*FAST)
    prov = ProviderProc(srv.port, "--kinds", "assistant,reader")
    await prov.expect("registered")
    c, lobby = await member_in_lobby(srv.port)
    kinds = await c.call("list_bot_kinds", {})
    assert [k["kind"] for k in kinds["kinds"]] == ["assistant", "reader"]

    e = await c.request("add_bot", {"kind": "juggler"})
    assert e["type"] == "error" and e["data"]["code"] == "unknown_kind"
    e = await c.request("add_bot", {"kind": "Reader!"})
    assert e["type"] == "error" and e["data"]["code"] == "bad_field"

    d = (await c.call("add_bot", {"kind": "reader"}))["dispatch"]
    assert d["state"] in ("starting", "waiting")
    joined = await prov.expect("joined")
    assert joined["name"] == "reader"
    running = await bot_dispatch(c, "running")
    assert running["dispatch_id"] == d["dispatch_id"]
    # A second member joining sees the bot in the snapshot, with its dispatch.
    b = await authed(srv.port, "Bea")
    snap = await b.call("join_lobby", {"lobby_id": lobby["id"]})
    assert [p["is_bot"] for p in snap["participants"]] == [False, True, False]
    assert [x["state"] for x in snap["bots"]] == ["running"]

    await c.call("remove_bot", {"dispatch_id": d["dispatch_id"]})
    await prov.expect("cancel", reason="removed")
    e = await c.request("remove_bot", {"dispatch_id": d["dispatch_id"]})
    assert e["data"]["code"] == "dispatch_not_found"
    # A member of another lobby cannot remove this lobby's bots.
    d2 = (await c.call("add_bot", {"kind": "assistant"}))["dispatch"]
    other, _ = await member_in_lobby(srv.port, "Cy")
    e = await other.request("remove_bot", {"dispatch_id": d2["dispatch_id"]})
    assert e["data"]["code"] == "dispatch_not_found"


async def test_kill9_of_the_provider_moves_the_bot_to_another_provider(servers):
    srv = servers.start(*FAST)
    first = ProviderProc(srv.port, name="first")
    await first.expect("registered")
    c, lobby = await member_in_lobby(srv.port)
    await c.call("add_bot", {"kind": "assistant"})
    old = await first.expect("joined")
    await bot_dispatch(c, "running")
    second = ProviderProc(srv.port, name="second")
    await second.expect("registered")

    t0 = time.monotonic()
    first.kill9()
    new = await second.expect("joined", timeout=15)
    took = time.monotonic() - t0
    assert new["peer_id"] != old["peer_id"]
    # The old bot left cleanly, the new one is in: exactly one bot in the lobby.
    lobbies = await c.call("join_lobby", {"lobby_id": lobby["id"]})
    bots = [p for p in lobbies["participants"] if p["is_bot"]]
    assert [b["peer_id"] for b in bots] == [new["peer_id"]]
    assert lobbies["bots"][0]["state"] == "running"
    # Documented bound: reclaim (1 s here) + the new provider's start; generous for CI.
    assert took < 10, took


async def test_a_dispatch_is_served_again_after_a_server_restart(servers):
    port = free_port()
    srv = servers.start(*FAST, "--port", str(port))
    prov = ProviderProc(port)
    await prov.expect("registered")
    c, lobby = await member_in_lobby(port)
    d = (await c.call("add_bot", {"kind": "assistant"}))["dispatch"]
    old = await prov.expect("joined")
    srv.restart()
    assert srv.port == port
    # The provider reconnects; the dispatch (durable) gets a new bot.
    new = await prov.expect("joined", timeout=20)
    assert new["peer_id"] != old["peer_id"]
    c2 = await authed(port, "Bea")
    snap = await c2.call("join_lobby", {"lobby_id": lobby["id"]})
    assert [x["dispatch_id"] for x in snap["bots"]] == [d["dispatch_id"]]
    bots = [p["peer_id"] for p in snap["participants"] if p["is_bot"]]
    assert bots == [new["peer_id"]]


async def test_a_wrong_provider_key_is_refused_with_4007(servers):
    srv = servers.start(*FAST)
    c = await Client.connect(srv.port, "bad provider")
    r = await c.request("provider_hello", {"key": "wrong", "name": "x",
                                           "kinds": [{"kind": "assistant"}], "max_jobs": 1})
    assert r["type"] == "error" and r["data"]["code"] == "unauthorized"
    await until(lambda: c.closed, 5, "close after a wrong key")
    assert c.close_code == 4007


async def test_a_provider_that_never_answers_loses_the_offer_to_the_next(servers):
    srv = servers.start(*FAST)
    silent = ProviderProc(srv.port, "--mode", "ignore", name="mute")
    await silent.expect("registered")
    c, _ = await member_in_lobby(srv.port)
    await c.call("add_bot", {"kind": "assistant"})
    await silent.expect("offer")
    good = ProviderProc(srv.port, name="good")
    await good.expect("registered")
    await good.expect("joined", timeout=10)
    d = await bot_dispatch(c, "running")
    assert d["attempts"] == 1  # the mute provider's offer_timeout counts


async def test_a_declining_provider_leaves_the_dispatch_waiting_with_a_reason(servers):
    srv = servers.start(*FAST)
    prov = ProviderProc(srv.port, "--mode", "decline")
    await prov.expect("registered")
    c, _ = await member_in_lobby(srv.port)
    await c.call("add_bot", {"kind": "assistant"})
    await prov.expect("offer")
    d = await bot_dispatch(c, "waiting")
    assert d["reason"] == "declined"


async def test_without_a_provider_a_dispatch_waits_visibly_and_new_ones_are_refused(servers):
    srv = servers.start(*FAST)
    prov = ProviderProc(srv.port)
    await prov.expect("registered")
    c, lobby = await member_in_lobby(srv.port)
    await c.call("add_bot", {"kind": "assistant"})
    await bot_dispatch(c, "running")
    prov.kill9()
    # After the reclaim window the job fails, and with no provider left the dispatch waits,
    # saying why; the kind is no longer offered.
    d = await bot_dispatch(c, "waiting", timeout=10)
    assert d["reason"] == "no_provider"
    assert d["attempts"] == 1
    kinds = (await ahttp(srv.port, "GET", "/api/bots/kinds")).json()["kinds"]
    assert kinds == []
    e = await c.request("add_bot", {"kind": "assistant", "key": "second"})
    assert e["data"]["code"] == "unknown_kind"
    # A provider of the kind appears: the waiting dispatch is served.
    again = ProviderProc(srv.port)
    await again.expect("joined", timeout=10)
    await bot_dispatch(c, "running")


async def test_a_provider_flooding_status_is_closed_and_nothing_else_is_disturbed(servers):
    srv = servers.start(*FAST)
    healthy = await authed(srv.port, "Calm")
    p = await Client.connect(srv.port, "flooder")
    r = await p.request("provider_hello", {"key": KEY, "name": "flood",
                                           "kinds": [{"kind": "assistant"}], "max_jobs": 1})
    assert r["type"] == "result"
    for _ in range(2000):
        if p.closed:
            break
        try:
            await p.send("provider_status", {"load": 0.1, "jobs": [], "accepting": True})
        except Exception:
            break
    await until(lambda: p.closed, 10, "the flooding provider is closed")
    assert p.close_code == 4006
    await assert_healthy(healthy)
    await assert_idle(srv)


async def test_malformed_provider_messages_get_their_documented_answers(servers):
    srv = servers.start(*FAST)
    p = await Client.connect(srv.port, "provider")
    bad = [
        ({"key": KEY, "name": "x", "kinds": [], "max_jobs": 1}, "data.kinds"),
        ({"key": KEY, "name": "x", "kinds": [{"kind": "Bad Kind"}], "max_jobs": 1}, "data.kinds.kind"),
        ({"key": KEY, "name": "x", "kinds": [{"kind": "a"}, {"kind": "a"}], "max_jobs": 1},
         "data.kinds.kind"),
        ({"key": KEY, "name": "x", "kinds": [{"kind": "a"}], "max_jobs": 0}, "data.max_jobs"),
        ({"key": KEY, "name": "", "kinds": [{"kind": "a"}], "max_jobs": 1}, "data.name"),
        ({"key": KEY, "name": "x", "kinds": [{"kind": "a"}], "max_jobs": 1, "resume": 5},
         "data.resume"),
    ]
    for data, field in bad:
        r = await p.request("provider_hello", data)
        assert r["type"] == "error" and r["data"]["code"] == "bad_field", (data, r)
        assert r["data"]["field"] == field, (data, r)
    # Before hello, provider messages are not_authenticated.
    r = await p.request("job_accept", {"job_id": "j-1"})
    assert r["data"]["code"] == "not_authenticated"
    r = await p.request("provider_hello", {"key": KEY, "name": "x",
                                           "kinds": [{"kind": "a"}], "max_jobs": 1})
    assert r["type"] == "result"
    for type_, data, code in [
        ("job_accept", {"job_id": "j-nope"}, "job_not_found"),
        ("job_decline", {}, "bad_field"),
        ("job_end", {"job_id": "j-nope"}, "job_not_found"),
        ("provider_status", {"load": 7}, "bad_field"),
        ("provider_status", {"jobs": "x"}, "bad_field"),
        ("chat", {"text": "hi"}, "unknown_type"),
        ("auth", {}, "already_authenticated"),
        ("provider_hello", {"key": KEY, "name": "x", "kinds": [{"kind": "a"}], "max_jobs": 1},
         "already_authenticated"),
    ]:
        r = await p.request(type_, data)
        assert r["type"] == "error" and r["data"]["code"] == code, (type_, data, r)
    # A client session cannot speak as a provider.
    c = await authed(srv.port, "Ada")
    r = await c.request("job_accept", {"job_id": "j-1"})
    assert r["data"]["code"] == "unknown_type"
    assert not p.closed
    await assert_healthy(c)


async def test_a_bot_credential_works_once_and_only_for_its_lobby(servers):
    srv = servers.start(*FAST)
    p = await Client.connect(srv.port, "provider")
    await p.call("provider_hello", {"key": KEY, "name": "x", "kinds": [{"kind": "a"}],
                                    "max_jobs": 2})
    c, lobby = await member_in_lobby(srv.port)
    _, other = await member_in_lobby(srv.port, "Bea")
    await c.call("add_bot", {"kind": "a"})
    offer = await p.next_push("job_offer")
    a = await p.call("job_accept", {"job_id": offer["job_id"]})
    assert a["bot_name"] == "a" and a["lobby_id"] == lobby["id"]
    bot = await Client.connect(srv.port, "bot")
    w = await bot.request("auth", {"credential": a["credential"]})
    assert w["type"] == "welcome" and w["data"]["is_bot"] is True and w["data"]["name"] == "a"
    e = await bot.request("join_lobby", {"lobby_id": other["id"]})
    assert e["data"]["code"] == "forbidden"
    await bot.call("join_lobby", {"lobby_id": lobby["id"]})
    again = await Client.connect(srv.port, "bot again")
    e = await again.request("auth", {"credential": a["credential"]})
    assert e["data"]["code"] == "invalid_token"


async def test_a_bot_needs_a_place_in_the_lobby(servers):
    srv = servers.start(*FAST, admin_token=ADMIN)
    p = await Client.connect(srv.port, "provider")
    await p.call("provider_hello", {"key": KEY, "name": "x", "kinds": [{"kind": "a"}],
                                    "max_jobs": 4})
    c = await authed(srv.port, "Ada")
    lobby = await make_lobby(c, "pair", max_participants=2)
    await c.call("join_lobby", {"lobby_id": lobby["id"]})
    first = (await c.call("add_bot", {"kind": "a", "key": "one"}))["dispatch"]
    # One member and one bot on its way fill a lobby of two: no second bot.
    e = await c.request("add_bot", {"kind": "a", "key": "two"})
    assert e["type"] == "error" and e["data"]["code"] == "lobby_full"
    r = await admin(srv.port, "PUT", f"/api/admin/lobbies/{lobby['id']}/bots/two", {"kind": "a"})
    assert r.status == 409 and r.json()["code"] == "lobby_full"
    # The key it has is no new bot: still answered with that dispatch.
    again = (await c.call("add_bot", {"kind": "a", "key": "one"}))["dispatch"]
    assert again["dispatch_id"] == first["dispatch_id"]
