"""Application messages and metadata over real sockets (docs/protocol.md, "Application
messages and metadata"), hostile cases included: a payload over the limit, a bad name, a
target that is not there, metadata over its limit, lobby metadata without the moderator
role, a flood of app messages; and the admin API's thin layer over the host operations."""

from __future__ import annotations

import asyncio
import json

from conftest import ahttp, authed, make_lobby
from test_tokens import mint, secret_file, token_client, token_server  # noqa: F401 (fixture)

ADMIN = "app-admin-token-0123456789"
BEARER = {"Authorization": f"Bearer {ADMIN}"}


async def room(port: int, *names: str):
    """Clients with these names, all members of one new lobby, nothing pending."""
    clients = [await authed(port, n, label=n) for n in names]
    lobby = await make_lobby(clients[0], "Room")
    for c in clients:
        await c.call("join_lobby", {"lobby_id": lobby["id"]})
    for c in clients:
        await c.sync()
        c.pushes.clear()
    return lobby, clients


async def test_messages_reach_the_others_or_one_stamped_by_the_server(servers):
    srv = servers.start()
    lobby, (a, b, c) = await room(srv.port, "Ada", "Bo", "Cy")
    r = await a.call("app_message", {"name": "game:move", "payload": {"x": 1, "from": "forged"}})
    assert r == {"delivered": 2}
    for x in (b, c):
        d = await x.next_push("app_message")
        assert d == {"lobby_id": lobby["id"], "name": "game:move", "from": a.peer_id,
                     "from_name": "Ada", "payload": {"x": 1, "from": "forged"}}
    r = await a.call("app_message", {"name": "whisper", "to": c.peer_id, "payload": "psst"})
    assert r == {"delivered": 1}
    d = await c.next_push("app_message")
    assert (d["to"], d["payload"]) == (c.peer_id, "psst")
    for x in (a, b):
        await x.sync()
    assert a.take("app_message") == [] and b.take("app_message") == []


async def test_hostile_app_messages_are_refused(servers):
    srv = servers.start("--max-app-message-bytes", "64")
    lobby, (a, b) = await room(srv.port, "Ada", "Bo")
    e = await a.fail("app_message", {"name": "x", "payload": "y" * 100}, code="bad_field")
    assert e["field"] == "data.payload"
    for name in ("", "with space", "x" * 65, "ünï", 5, None):
        e = await a.fail("app_message", {"name": name}, code="bad_field")
        assert e["field"] == "data.name"
    await a.fail("app_message", {"name": "x", "to": "0" * 32}, code="unknown_peer")
    await a.fail("app_message", {"name": "x", "to": a.peer_id}, code="bad_target")
    await a.fail("app_message", {"name": "x", "to": 7}, code="bad_field")
    # A lone surrogate would reach the others as bytes that are not UTF-8.
    r = await a.raw_request(
        '{"type":"app_message","id":"s","data":{"name":"x","payload":"\\udc00"}}', "s")
    assert (r["type"], r["data"]["code"], r["data"]["field"]) == \
        ("error", "bad_field", "data.payload")
    outsider = await authed(srv.port, "Out")
    await outsider.fail("app_message", {"name": "x"}, code="not_in_lobby")
    await b.sync()
    assert b.take("app_message") == []
    await a.ping()  # still connected after all of it


async def test_a_flood_of_app_messages_is_rate_limited_then_closed(servers):
    srv = servers.start("--rate", "0.1", "--rate-burst", "6", "--rate-flood-burst", "5")
    lobby, (a,) = await room(srv.port, "Ada")  # auth, set_name, create, join, ping: 5 tokens
    results = await asyncio.gather(
        *(a.request("app_message", {"name": "spam", "payload": i}) for i in range(30)),
        return_exceptions=True)
    replies = [r for r in results if isinstance(r, dict)]
    assert [r["type"] for r in replies[:1]] == ["result"], replies[:3]
    refused = [r for r in replies if r["type"] == "error"]
    assert all(r["data"]["code"] == "rate_limited" for r in refused), refused
    assert len(refused) == 5, replies
    await a.wait_for(lambda: a.closed, 10, "the close")
    assert a.close_code == 4006


async def test_metadata_self_and_lobby_with_limits_and_roles(servers, secret_file):  # noqa: F811
    srv = token_server(servers, secret_file, "--max-metadata-bytes", "64")
    mod = await token_client(srv.port, mint(secret_file, "m1", "--name", "Mod",
                                            "--role", "moderator"), "mod")
    lobby = await make_lobby(mod, "Room")
    await mod.call("join_lobby", {"lobby_id": lobby["id"]})
    u = await authed(srv.port, "User", label="user")
    await u.call("join_lobby", {"lobby_id": lobby["id"]})
    await mod.sync()
    mod.pushes.clear()

    r = await u.call("set_metadata", {"target": "self", "metadata": {"hand": True}})
    assert r == {"metadata": {"hand": True}}
    upd = await mod.next_push("participant_updated",
                              lambda d: d["participant"]["peer_id"] == u.peer_id)
    assert upd["participant"]["metadata"] == {"hand": True}
    e = await u.fail("set_metadata", {"target": "self", "metadata": {"k": "x" * 64}},
                     code="bad_field")
    assert e["field"] == "data.metadata"
    await u.fail("set_metadata", {"target": "lobby", "metadata": {"topic": "x"}},
                 code="forbidden")
    await u.fail("set_metadata", {"target": "self", "metadata": [1]}, code="bad_field")

    await mod.call("set_metadata", {"target": "lobby", "metadata": {"topic": "chess"}})
    d = await u.next_push("lobby_updated")
    assert d["lobby"]["metadata"] == {"topic": "chess"}
    listed = await u.call("list_lobbies")
    assert listed["lobbies"][0]["metadata"] == {"topic": "chess"}


async def test_lobby_metadata_survives_a_restart(servers, tmp_path):
    srv = servers.start("--admin-token", ADMIN, db=tmp_path / "meta.db")
    a = await authed(srv.port, "Ada")
    lobby = await make_lobby(a, "Kept", persistent=True)
    r = await ahttp(srv.port, "PUT", f"/api/admin/lobbies/{lobby['id']}/metadata",
                    body={"metadata": {"round": 3}}, headers=BEARER)
    assert r.status == 200
    srv.restart()
    b = await authed(srv.port, "Bo")
    listed = await b.call("list_lobbies")
    assert [(x["id"], x["metadata"]) for x in listed["lobbies"]] == [(lobby["id"], {"round": 3})]


async def test_the_admin_api_sends_messages_and_sets_metadata(servers):
    srv = servers.start("--admin-token", ADMIN)
    lobby, (a, b) = await room(srv.port, "Ada", "Bo")
    base = f"/api/admin/lobbies/{lobby['id']}"

    r = await ahttp(srv.port, "POST", base + "/app_message",
                    body={"name": "notice", "payload": {"closing": True}}, headers=BEARER)
    assert r.status == 200 and json.loads(r.body) == {"delivered": 2}
    for x in (a, b):
        d = await x.next_push("app_message")
        assert (d["from"], d["from_name"], d["payload"]) == ("", "", {"closing": True})
    r = await ahttp(srv.port, "POST", base + "/app_message",
                    body={"name": "dm", "to": b.peer_id}, headers=BEARER)
    assert r.status == 200 and json.loads(r.body) == {"delivered": 1}
    assert (await b.next_push("app_message"))["payload"] is None
    r = await ahttp(srv.port, "POST", base + "/app_message", body={"name": "bad name"},
                    headers=BEARER)
    assert r.status == 400 and json.loads(r.body)["code"] == "bad_field"
    r = await ahttp(srv.port, "POST", "/api/admin/lobbies/0000/app_message",
                    body={"name": "x"}, headers=BEARER)
    assert r.status == 404 and json.loads(r.body)["code"] == "lobby_not_found"
    r = await ahttp(srv.port, "POST", base + "/app_message", body={"name": "x"})
    assert r.status == 401

    r = await ahttp(srv.port, "PUT", base + "/metadata", body={"metadata": {"topic": "x"}},
                    headers=BEARER)
    assert r.status == 200 and json.loads(r.body)["lobby"]["metadata"] == {"topic": "x"}
    assert (await a.next_push("lobby_updated"))["lobby"]["metadata"] == {"topic": "x"}
    r = await ahttp(srv.port, "PUT", base + "/metadata", body={"metadata": "x"}, headers=BEARER)
    assert r.status == 400 and json.loads(r.body)["code"] == "bad_field"

    r = await ahttp(srv.port, "PUT", f"/api/admin/sessions/{b.peer_id}/metadata",
                    body={"metadata": {"team": "red"}}, headers=BEARER)
    assert r.status == 200 and json.loads(r.body)["session"]["metadata"] == {"team": "red"}
    d = await a.next_push("participant_updated")
    assert (d["participant"]["peer_id"], d["participant"]["metadata"]) == \
        (b.peer_id, {"team": "red"})
    r = await ahttp(srv.port, "PUT", "/api/admin/sessions/nobody/metadata",
                    body={"metadata": {}}, headers=BEARER)
    assert r.status == 404 and json.loads(r.body)["code"] == "session_not_found"
    r = await ahttp(srv.port, "GET", "/api/admin/sessions", headers=BEARER)
    sessions = {s["peer_id"]: s for s in json.loads(r.body)["sessions"]}
    assert sessions[b.peer_id]["metadata"] == {"team": "red"}
