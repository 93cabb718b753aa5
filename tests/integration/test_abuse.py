"""Abuse limits of the real server: deceptive names, the rate-limit reply, session caps and
the short life of unnamed sessions, lobby quotas.

Expected values are from docs/protocol.md ("Names", "Limits", "Errors", "Close codes");
the limits are set small by flag so that each test is quick.
"""

from __future__ import annotations

import asyncio
import json

from conftest import (HOST, OP_TEXT, Client, ahttp, authed, connect, make_lobby, metrics,
                      until, ws_burst, ws_frame)


# ---- names --------------------------------------------------------------------------------

# (raw, as the server keeps it)
NAMES_ACCEPTED = [
    ("Ada", "Ada"),
    ("  Ada Lovelace \u3000", "Ada Lovelace"),
    ("\tGrace\r\n", "Grace"),
    ("Alan\u00a0\u00a0Turing", "Alan Turing"),
    ("\u5c71\u7530\u3000\u592a\u90ce", "\u5c71\u7530 \u592a\u90ce"),
    ("\u05e9\u05dc\u05d5\u05dd", "\u05e9\u05dc\u05d5\u05dd"),
    ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),
    ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"),
    ("\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f468\u200d\U0001f469\u200d\U0001f467"),
    ("\u2764\ufe0f\u200d\U0001f525", "\u2764\ufe0f\u200d\U0001f525"),
    ("#\ufe0f\u20e3", "#\ufe0f\u20e3"),
    ("\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
     "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"),
]

# (raw, a piece of the sentence)
NAMES_REFUSED = [
    ("", "empty"),
    ("\u00a0\u3000\u2003", "empty"),
    ("\u200b", "no visible character"),
    ("\ufeff\ufeff", "no visible character"),
    ("\u2060", "no visible character"),
    ("\u3164", "no visible character"),
    ("\u2800", "no visible character"),
    ("\u200d\u200c", "no visible character"),
    ("\u202eAda", "U+202E"),
    ("Ada\u202d", "U+202D"),
    ("\u2066Ada\u2069", "U+2066"),
    ("Ada\u200e", "U+200E"),
    ("\u200fAda", "U+200F"),
    ("\u0645\u061c\u0631", "U+061C"),
    ("A\u200bda", "U+200B"),
    ("Ada\u00ad", "U+00AD"),
    ("Ad\u200ca", "U+200C"),
    ("Ada\ufe0f", "U+FE0F"),
    ("Ada\U000e0067\U000e007f", "U+E0067"),
    ("a\nb", "U+000A"),
    ("Ada\uffff", "U+FFFF"),
]


async def test_display_names_follow_the_documented_rule(server):
    c = await authed(server.port, label="names")
    for raw, kept in NAMES_ACCEPTED:
        d = await c.call("set_name", {"name": raw})
        assert d["name"] == kept, (raw, d)
        assert (await c.next_push("name_changed"))["name"] == kept
    last = NAMES_ACCEPTED[-1][1]
    for raw, reason in NAMES_REFUSED:
        e = await c.fail("set_name", {"name": raw}, code="bad_field")
        assert e["field"] == "data.name", (raw, e)
        assert reason in e["error"], (raw, e)
    await c.sync()
    assert not c.has("name_changed")
    w = await (await connect(server.port)).auth(token=c.token)
    assert w["name"] == last  # no refused name was taken


async def test_names_that_look_alike_are_one_name(server):
    a = await authed(server.port, "Ada Lovelace", label="a")
    b = await authed(server.port, label="b")
    for twin in ("Ada\u00a0Lovelace", " ada  lovelace ", "ADA\u3000LOVELACE"):
        await b.fail("set_name", {"name": twin}, code="name_taken")
    await a.sync()


async def test_lobby_names_follow_the_same_rule(server):
    srv = server
    c = await authed(srv.port, "Host")
    for i, (raw, kept) in enumerate(NAMES_ACCEPTED):
        creator = c if i < 5 else await authed(srv.port, f"Host{i}")  # within the quota
        lobby = await make_lobby(creator, raw)
        assert lobby["name"] == kept, (raw, lobby)
    for raw, reason in NAMES_REFUSED:
        e = await c.fail("create_lobby", {"name": raw}, code="bad_field")
        assert e["field"] == "data.name" and reason in e["error"], (raw, e)
    r = await ahttp(srv.port, "POST", "/api/lobbies", {"name": "\u202eevil"})
    assert r.status == 400 and r.json()["code"] == "bad_field", r
    # join_lobby by name cleans the name as create_lobby did.
    await c.call("join_lobby", {"name": "\u3000alan  turing\t"})
    assert {l["name"] for l in (await c.call("list_lobbies"))["lobbies"]} == \
        {kept for _, kept in NAMES_ACCEPTED}


# ---- integer bounds -----------------------------------------------------------------------

MAX_SAFE = 2**53 - 1  # docs/protocol.md: the largest integer every JSON peer exchanges exactly


async def test_integer_fields_have_their_documented_ranges(server):
    a = await authed(server.port, "Ann")
    b = await authed(server.port, "Ben")
    lobby = await make_lobby(a, "Bounds")
    for c in (a, b):
        await c.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.call("chat", {"text": "one"})
    page = await a.call("chat_history", {"after": MAX_SAFE})
    assert page["messages"] == [] and page["complete"] is True
    for after in (MAX_SAFE + 1, 2**63, 2**64, -1, 1.5, 1e3, "1"):
        e = await a.fail("chat_history", {"after": after}, code="bad_field")
        assert e["field"] == "data.after", (after, e)
    e = await a.fail("chat_history", {"after": MAX_SAFE + 1}, code="bad_field")
    assert str(MAX_SAFE) in e["error"]
    for limit in (0, 501, 2**53):
        e = await a.fail("chat_history", {"limit": limit}, code="bad_field")
        assert e["field"] == "data.limit"
    for bad in (65536, -1, 2**53):
        cand = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMLineIndex": bad}
        e = await a.fail("relay_candidate", {"to": b.peer_id, "candidate": cand},
                         code="bad_field")
        assert e["field"] == "data.candidate.sdpMLineIndex" and "65535" in e["error"], e
    cand["sdpMLineIndex"] = 65535
    await a.call("relay_candidate", {"to": b.peer_id, "candidate": cand})
    # An id outside the signed 64-bit range is not an id: bad_message, without an id.
    await a.send_raw('{"type":"ping","id":9223372036854775808}')
    err = await a.next_push("error")
    assert err["code"] == "bad_message"
    assert not [m for m in a.received if m.get("id") == 9223372036854775808]


# ---- the rate-limit reply -----------------------------------------------------------------

def pings(ids) -> bytes:
    return b"".join(ws_frame(OP_TEXT, json.dumps({"type": "ping", "id": i}).encode())
                    for i in ids)


async def test_every_request_over_the_rate_gets_one_rate_limited_reply(servers):
    # One message per 10 s: no token comes back while the test runs, however slow the machine.
    srv = servers.start("--rate", "0.1", "--rate-burst", "5")
    ids = list(range(1, 13))
    got = await asyncio.to_thread(
        ws_burst, srv.port, pings(ids), timeout=10,
        stop_when=lambda ms: len([m for m in ms if m.get("id") in ids]) >= len(ids))
    replies = [m for m in got.messages if m.get("id") in ids]
    # Exactly one reply per id, in order: the auth took one token, four pings fit the burst.
    assert [m["id"] for m in replies] == ids, got.messages
    assert [m["type"] for m in replies] == ["result"] * 4 + ["error"] * 8, replies
    for m in replies[4:]:
        assert m["data"]["code"] == "rate_limited", m
        assert 0 < m["data"]["retry_after_ms"] <= 10_000, m
        assert m["data"]["error"]
    assert got.close_code is None  # refused, not closed


async def test_messages_without_id_over_the_rate_are_dropped_with_one_notice(servers):
    srv = servers.start("--rate", "0.1", "--rate-burst", "3")
    frames = b"".join(ws_frame(OP_TEXT, b'{"type":"ping"}') for _ in range(10)) + \
        pings(["last"])
    got = await asyncio.to_thread(
        ws_burst, srv.port, frames, timeout=10,
        stop_when=lambda ms: any(m.get("id") == "last" for m in ms))
    after_welcome = got.messages[1:]
    notices = [m for m in after_welcome if m.get("type") == "error" and "id" not in m]
    assert len(notices) == 1 and notices[0]["data"]["code"] == "rate_limited", got.messages
    assert [m for m in after_welcome if m.get("type") == "result"] == []  # no id: no result
    assert after_welcome[-1]["id"] == "last" and \
        after_welcome[-1]["data"]["code"] == "rate_limited"


async def test_a_connection_that_keeps_flooding_is_closed_with_4006(servers):
    srv = servers.start("--rate", "0.1", "--rate-burst", "5", "--rate-flood-burst", "20")
    healthy = await authed(srv.port, "Healthy")
    ids = list(range(1, 301))
    got = await asyncio.to_thread(ws_burst, srv.port, pings(ids), timeout=10)
    assert got.close_code == 4006, got
    replies = [m for m in got.messages if m.get("id") in ids]
    refused = [m for m in replies if m.get("type") == "error"]
    assert all(m["data"]["code"] == "rate_limited" for m in refused)
    # Four fit the burst, twenty refusals are answered, then the connection goes: its
    # answers stay bounded however much it sends.
    assert len(replies) - len(refused) == 4 and len(refused) == 20, got.messages
    assert (await metrics(srv.port)).closes(4006) == 1
    await healthy.ping()


# ---- session caps and idle sessions ---------------------------------------------------------

ADMIN = "abuse-admin-token-0123456789"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
OTHER_ADDRESS = "127.0.0.2"  # another address on loopback


async def connect_from(port: int, address: str = HOST, label: str = "") -> Client:
    return await Client.connect(port, label or address, local_addr=(address, 0))


async def session_ids(port: int) -> set:
    r = await ahttp(port, "GET", "/api/admin/sessions", headers=BEARER)
    assert r.status == 200, r
    return {s["peer_id"] for s in r.json()["sessions"]}


async def test_sessions_per_address_are_capped_at_64_by_default(servers):
    srv = servers.start("--memory")
    mine = []
    for i in range(64):  # the documented default
        c = await connect_from(srv.port, label=f"s{i}")
        await c.auth()
        mine.append(c)
    extra = await connect_from(srv.port, label="65th")
    e = await extra.fail("auth", {}, code="too_many_sessions")
    assert "address" in e["error"]
    assert await extra.wait_closed() == 4005
    # Another address is not held back; resuming creates no session and is always allowed.
    other = await connect_from(srv.port, OTHER_ADDRESS)
    await other.auth()
    await mine[0].close()
    back = await connect_from(srv.port, label="back")
    assert (await back.auth(token=mine[0].token))["resumed"] is True
    m = await metrics(srv.port)
    assert m.closes(4005) == 1 and m.errors("too_many_sessions") == 1


async def _disconnected(port: int, peer_id: str) -> bool:
    r = await ahttp(port, "GET", "/api/admin/sessions", headers=BEARER)
    return any(s["peer_id"] == peer_id and not s["connected"] for s in r.json()["sessions"])


async def test_an_idle_session_makes_room_and_a_named_one_does_not(servers):
    srv = servers.start("--memory", "--max-sessions-per-address", "3", admin_token=ADMIN)
    named = await connect_from(srv.port, label="named")
    await named.auth()
    await named.call("set_name", {"name": "Kept"})
    anon = await connect_from(srv.port, label="anon")
    await anon.auth()
    third = await connect_from(srv.port, label="third")
    await third.auth()
    await named.close()
    refused = await connect_from(srv.port, label="refused")
    await refused.fail("auth", {}, code="too_many_sessions")
    assert await refused.wait_closed() == 4005
    await anon.close()  # gone, without name or lobby: it may make room
    await until(lambda: _disconnected(srv.port, anon.peer_id), 10, "the server saw it go")
    fresh = await connect_from(srv.port, label="fresh")
    await fresh.auth()
    late = await connect_from(srv.port, OTHER_ADDRESS)
    await late.fail("auth", {"token": anon.token}, code="invalid_token")
    assert (await late.auth(token=named.token))["name"] == "Kept"


async def test_sessions_per_server_are_capped(servers):
    srv = servers.start("--memory", "--max-sessions", "3")
    for i in range(3):
        await authed(srv.port, f"User{i}")
    c = await connect_from(srv.port, OTHER_ADDRESS)
    e = await c.fail("auth", {}, code="too_many_sessions")
    assert "server" in e["error"]
    assert await c.wait_closed() == 4005


async def test_unnamed_sessions_expire_after_the_short_ttl(servers):
    srv = servers.start("--memory", "--idle-session-ttl-ms", "1000", admin_token=ADMIN)
    anon = await authed(srv.port, label="anon")
    named = await authed(srv.port, "Named")
    online = await authed(srv.port, label="online")
    await anon.close()
    await named.close()
    await until(lambda: _lacks(srv.port, anon.peer_id), 10, "the unnamed session expired")
    ids = await session_ids(srv.port)
    assert named.peer_id in ids and online.peer_id in ids
    c = await connect(srv.port)
    await c.fail("auth", {"token": anon.token}, code="invalid_token")
    assert (await c.auth(token=named.token))["name"] == "Named"


async def _lacks(port: int, peer_id: str) -> bool:
    return peer_id not in await session_ids(port)


async def test_unnamed_sessions_expire_after_a_restart_too(servers):
    srv = servers.start("--idle-session-ttl-ms", "2000", admin_token=ADMIN)  # SQLite file
    anon = await authed(srv.port, label="anon")
    named = await authed(srv.port, "Named")
    await anon.close()
    await named.close()
    srv.restart()
    assert anon.peer_id in await session_ids(srv.port)  # restored, its short life anew
    await until(lambda: _lacks(srv.port, anon.peer_id), 10, "the unnamed session expired")
    c = await connect(srv.port)
    await c.fail("auth", {"token": anon.token}, code="invalid_token")
    assert (await c.auth(token=named.token))["name"] == "Named"
    srv.restart()  # and it stays gone
    c = await connect(srv.port)
    await c.fail("auth", {"token": anon.token}, code="invalid_token")


# ---- lobby quotas -------------------------------------------------------------------------

async def test_a_session_may_keep_10_lobbies_by_default(servers):
    srv = servers.start("--memory", admin_token=ADMIN)
    c = await authed(srv.port, "Maker")
    made = [await make_lobby(c, f"Mine {i}") for i in range(10)]
    e = await c.fail("create_lobby", {"name": "Mine 10"}, code="lobby_quota")
    assert "session" in e["error"]
    # Another session from the same address still may (the address allows 50).
    other = await authed(srv.port, "Other")
    await make_lobby(other, "Theirs")
    # A lobby that goes gives its place back.
    r = await ahttp(srv.port, "DELETE", f"/api/admin/lobbies/{made[0]['id']}", headers=BEARER)
    assert r.status == 200, r
    await make_lobby(c, "Mine 10")
    await c.fail("create_lobby", {"name": "Mine 11"}, code="lobby_quota")


async def test_an_address_may_keep_50_lobbies_by_default(servers):
    srv = servers.start("--memory", admin_token=ADMIN)
    for i in range(50):
        r = await ahttp(srv.port, "POST", "/api/lobbies", {"name": f"Http {i}"})
        assert r.status == 201, r
    r = await ahttp(srv.port, "POST", "/api/lobbies", {"name": "Http 50"})
    assert r.status == 429 and r.json()["code"] == "lobby_quota", r
    assert "address" in r.json()["error"]
    # Sessions of that address share the quota.
    c = await authed(srv.port, "Local")
    await c.fail("create_lobby", {"name": "Ws"}, code="lobby_quota")
    # The admin is exempt; a wrong token is not the admin.
    r = await ahttp(srv.port, "POST", "/api/lobbies", {"name": "Admin's"},
                    headers={"Authorization": "Bearer wrong"})
    assert r.status == 429, r
    r = await ahttp(srv.port, "POST", "/api/lobbies", {"name": "Admin's"}, headers=BEARER)
    assert r.status == 201, r


async def test_lobby_quotas_are_per_address(servers):
    srv = servers.start("--memory", "--max-lobbies-per-address", "3",
                        "--max-lobbies-per-session", "2")
    a = await authed(srv.port, "A")
    await make_lobby(a, "A1")
    await make_lobby(a, "A2")
    await a.fail("create_lobby", {"name": "A3"}, code="lobby_quota")
    b = await authed(srv.port, "B")
    await make_lobby(b, "B1")
    await b.fail("create_lobby", {"name": "B2"}, code="lobby_quota")
    r = await ahttp(srv.port, "POST", "/api/lobbies", {"name": "H1"})
    assert r.status == 429 and r.json()["code"] == "lobby_quota", r
    far = await connect_from(srv.port, OTHER_ADDRESS)
    await far.auth()
    await far.call("set_name", {"name": "Far"})
    await make_lobby(far, "F1")
    m = await metrics(srv.port)
    assert m.errors("lobby_quota") == 2  # the WebSocket refusals
