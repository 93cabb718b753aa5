"""Sessions: auth, resume, replacement, the auth deadline, display names and passwords.

Expected values are from docs/protocol.md ("Connection lifecycle", `auth`, `set_name`,
"Limits", "Close codes").
"""

import asyncio
import json
import re

from conftest import (DOC_LIMITS, OP_TEXT, PROTOCOL_VERSION, RawWs, authed, connect, resume,
                      ws_burst, ws_frame)


async def test_new_session_welcome(server):
    c = await connect(server.port)
    msg = await c.request("auth", {}, id="first")
    assert msg["type"] == "welcome"
    assert msg["id"] == "first"
    w = msg["data"]
    assert isinstance(w["peer_id"], str) and w["peer_id"]
    # 128+ random bits: at least 32 hex digits.
    assert isinstance(w["token"], str) and re.fullmatch(r"[0-9a-f]{32,}", w["token"]), w["token"]
    assert w["token"] != w["peer_id"]
    assert w["name"] == ""
    assert w["is_bot"] is False
    assert w["resumed"] is False
    assert w["name_protected"] is False
    assert w["protocol_version"] == PROTOCOL_VERSION
    assert w["lobby"] is None
    assert w["limits"] == DOC_LIMITS

    other = await connect(server.port)
    w2 = await other.auth()
    assert w2["peer_id"] != w["peer_id"]
    assert w2["token"] != w["token"]


async def test_integer_id_is_echoed(server):
    c = await connect(server.port)
    msg = await c.request("auth", {}, id=41)
    assert msg["type"] == "welcome" and msg["id"] == 41
    msg = await c.request("ping", None, id=-7)
    assert msg["type"] == "result" and msg["id"] == -7
    assert isinstance(msg["data"]["time_ms"], int)


async def test_request_without_id_gets_no_result(server):
    c = await connect(server.port)
    await c.auth()
    await c.send("ping")          # no id: no result
    await c.send("chat", {"text": "x"})  # no id, fails: error without id
    await c.sync()
    assert c.take("result") == []
    errors = [m for m in c.received if m.get("type") == "error"]
    assert len(errors) == 1, errors
    assert "id" not in errors[0]
    assert errors[0]["data"]["code"] == "not_in_lobby"


async def test_bot_session(server):
    c = await connect(server.port)
    w = await c.auth(bot=True)
    assert w["is_bot"] is True


async def test_not_authenticated_before_auth(server):
    c = await connect(server.port)
    for t in ("ping", "list_lobbies", "set_name", "chat"):
        await c.fail(t, {}, code="not_authenticated")
    await c.auth()
    await c.ping()


async def test_already_authenticated(server):
    c = await connect(server.port)
    w = await c.auth()
    await c.fail("auth", {}, code="already_authenticated")
    await c.fail("auth", {"token": w["token"]}, code="already_authenticated")
    await c.ping()


async def test_resume_by_token_same_peer(server):
    a = await authed(server.port, "Ada")
    peer, token = a.peer_id, a.token
    await a.close()
    b = await resume(server.port, token)
    w = b.welcome
    assert w["resumed"] is True
    assert w["peer_id"] == peer
    assert w["token"] == token
    assert w["name"] == "Ada"
    assert w["lobby"] is None
    await b.ping()


async def test_resume_replaces_old_connection(server):
    a = await authed(server.port, "Ada", label="old")
    b = await resume(server.port, a.token, label="new")
    assert b.welcome["peer_id"] == a.peer_id
    assert b.welcome["resumed"] is True
    assert await a.wait_closed() == 4001
    await b.ping()
    # The replaced connection does not take the session with it.
    c = await resume(server.port, a.token, label="third")
    assert await b.wait_closed() == 4001
    assert c.welcome["name"] == "Ada"


async def test_garbage_token(server):
    c = await connect(server.port)
    for token in ("garbage", "0" * 32, "f" * 64):
        await c.fail("auth", {"token": token}, code="invalid_token")
    # Still unauthenticated, so other requests are refused ...
    await c.fail("ping", code="not_authenticated")
    # ... and it may send auth again, without the token.
    w = await c.auth()
    assert w["resumed"] is False
    await c.ping()


async def test_auth_deadline_closes_4000(servers):
    srv = servers.start("--auth-timeout-ms", "300")
    silent = await connect(srv.port, "silent")
    quick = await connect(srv.port, "quick")
    await quick.auth()
    assert await silent.wait_closed(timeout=5) == 4000
    # The deadline has passed for both; the authenticated one is still served.
    await quick.ping()
    assert not quick.closed


async def test_set_name_result_and_push(server):
    c = await authed(server.port)
    d = await c.call("set_name", {"name": "Ada"})
    assert d == {"name": "Ada", "protected": False}
    assert (await c.next_push("name_changed")) == {"name": "Ada"}


async def test_name_is_trimmed(server):
    c = await authed(server.port)
    d = await c.call("set_name", {"name": "  Bob  "})
    assert d["name"] == "Bob"
    other = await authed(server.port)
    await other.fail("set_name", {"name": "bob"}, code="name_taken")


async def test_name_taken_case_insensitive(server):
    await authed(server.port, "Alice")
    b = await authed(server.port)
    for name in ("Alice", "alice", "ALICE", "aLiCe", " alice "):
        await b.fail("set_name", {"name": name}, code="name_taken")
    # Non-ASCII letters are not folded: "ÄLICE" and "älice" are different names.
    await b.call("set_name", {"name": "älice"})
    c = await authed(server.port)
    await c.call("set_name", {"name": "ÄLICE"})


async def test_session_may_set_its_own_name_again(server):
    a = await authed(server.port, "Ada")
    d = await a.call("set_name", {"name": "ADA"})
    assert d["name"] == "ADA"


async def test_name_limits(server):
    c = await authed(server.port)
    for bad in ("", "   ", "x" * 33, "a\u0007b", "tab\there", "new\nline"):
        d = await c.fail("set_name", {"name": bad}, code="bad_field")
        assert d.get("field") == "data.name", d
    # 32 characters, counted as characters, not bytes.
    await c.call("set_name", {"name": "x" * 32})
    await c.call("set_name", {"name": "\u00e9" * 32})
    d = await c.fail("set_name", {"name": "\u00e9" * 33}, code="bad_field")
    assert d.get("field") == "data.name"


async def test_password_limits(server):
    c = await authed(server.port)
    for bad in ("", "p" * 257):
        d = await c.fail("set_name", {"name": "Pat", "password": bad}, code="bad_field")
        assert d.get("field") == "data.password", d
    d = await c.call("set_name", {"name": "Pat", "password": "p" * 256})
    assert d == {"name": "Pat", "protected": True}


async def test_password_protect_and_takeover(server):
    a = await authed(server.port, label="a")
    d = await a.call("set_name", {"name": "Carol", "password": "pw1"})
    assert d == {"name": "Carol", "protected": True}
    assert (await a.next_push("name_changed")) == {"name": "Carol"}

    b = await authed(server.port, label="b")
    await b.fail("set_name", {"name": "carol"}, code="password_required")
    await b.fail("set_name", {"name": "Carol", "password": "nope"}, code="wrong_password")
    d = await b.call("set_name", {"name": "Carol", "password": "pw1"})
    assert d["name"] == "Carol" and d["protected"] is True
    assert (await b.next_push("name_changed")) == {"name": "Carol"}
    # The previous holder's name becomes "".
    assert (await a.next_push("name_changed")) == {"name": ""}

    # The former holder now needs the password like anyone else.
    await a.fail("set_name", {"name": "Carol"}, code="password_required")


async def test_name_protected_in_welcome_on_resume(server):
    a = await authed(server.port, "Dora", password="secret")
    token = a.token
    await a.close()
    b = await resume(server.port, token)
    assert b.welcome["name"] == "Dora"
    assert b.welcome["name_protected"] is True


async def test_change_password_needs_holding_the_name(server):
    a = await authed(server.port, "Eve", password="one")
    d = await a.call("set_name", {"name": "Eve", "password": "two"})
    assert d["protected"] is True
    b = await authed(server.port)
    await b.fail("set_name", {"name": "Eve", "password": "one"}, code="wrong_password")
    await b.call("set_name", {"name": "Eve", "password": "two"})


async def test_too_many_attempts(server):
    await authed(server.port, "Dave", password="secret")
    b = await authed(server.port)
    # Five wrong passwords are answered wrong_password ...
    for i in range(5):
        await b.fail("set_name", {"name": "Dave", "password": f"wrong{i}"}, code="wrong_password")
    # ... then the name is locked for 30 s: even the right password is refused.
    d = await b.fail("set_name", {"name": "Dave", "password": "secret"},
                     code="too_many_attempts")
    assert isinstance(d.get("retry_after_ms"), int), d
    assert 0 < d["retry_after_ms"] <= 30_000, d
    # Another session is throttled too: the lock is per name.
    c = await authed(server.port)
    d = await c.fail("set_name", {"name": "dave", "password": "secret"},
                     code="too_many_attempts")
    assert 0 < d["retry_after_ms"] <= 30_000
    # Other names are not affected.
    await c.call("set_name", {"name": "Dan"})


async def test_lockout_expires(servers):
    srv = servers.start("--password-attempts", "2", "--password-lockout-ms", "400")
    await authed(srv.port, "Fay", password="right")
    b = await authed(srv.port)
    for _ in range(2):
        await b.fail("set_name", {"name": "Fay", "password": "bad"}, code="wrong_password")
    d = await b.fail("set_name", {"name": "Fay", "password": "right"}, code="too_many_attempts")
    assert 0 < d["retry_after_ms"] <= 400
    await asyncio.sleep(d["retry_after_ms"] / 1000 + 0.2)  # the documented lock passes
    await b.call("set_name", {"name": "Fay", "password": "right"})


async def test_messages_before_auth_do_not_extend_the_deadline(servers):
    srv = servers.start("--auth-timeout-ms", "500")
    c = await connect(srv.port, "chatty")
    for _ in range(3):
        await c.fail("ping", code="not_authenticated")
    assert await c.wait_closed(timeout=5) == 4000


async def test_token_never_reaches_other_sessions(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    lobby = (await a.call("create_lobby", {"name": "Room"}))["lobby"]
    await a.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    await b.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    await a.call("chat", {"text": "hello"})
    await a.call("set_name", {"name": "Ada2"})
    await a.call("relay_candidate", {"to": b.peer_id, "candidate": None})
    await b.call("chat_history")
    await b.call("list_lobbies")
    await b.sync()
    seen_by_b = json.dumps(b.received)
    assert a.token not in seen_by_b
    assert a.peer_id in seen_by_b  # the public id is shared, the secret is not


async def test_ids_are_echoed_exactly(server):
    c = await connect(server.port)
    await c.auth()
    for rid in ("abc", "", "\u00e9\"\\\n\u2028", "x" * 64, 0, -1, 2**53 + 1, 2**63 - 1,
                -(2**63)):
        msg = await c.request("ping", id=rid)
        assert msg["type"] == "result" and msg["id"] == rid and type(msg["id"]) is type(rid)


async def test_unknown_fields_are_ignored(server):
    c = await connect(server.port)
    msg = await c.raw_request('{"type":"auth","id":1,"extra":[1,{"a":null}],"data":{"x":1}}',
                              id=1)
    assert msg["type"] == "welcome"
    msg = await c.raw_request('{"type":"ping","id":2,"v":2,"data":{"unknown":"field"}}', id=2)
    assert msg["type"] == "result"
    await c.call("set_name", {"name": "Una", "colour": "blue"})
    lobby = (await c.call("create_lobby", {"name": "L", "theme": "dark"}))["lobby"]
    await c.call("join_lobby", {"lobby_id": lobby["id"], "extra": True})
    assert await c.call("chat", {"text": "x", "format": "md"}) == {"offset": 1}


async def test_pipelined_requests_all_answered_in_order(server):
    frames = ws_frame(OP_TEXT, b'{"type":"auth","id":"w"}') + b"".join(
        ws_frame(OP_TEXT, b'{"type":"ping","id":%d}' % i) for i in range(50))
    got = await asyncio.to_thread(ws_burst, server.port, frames, auth_first=False, timeout=10,
                                   stop_when=lambda ms: len(ms) >= 51)
    assert [m["type"] for m in got.messages] == ["welcome"] + ["result"] * 50, got
    assert [m["id"] for m in got.messages] == ["w"] + list(range(50))


async def test_concurrent_claims_of_one_name(server):
    a = await authed(server.port, label="a")
    b = await authed(server.port, label="b")
    ra, rb = await asyncio.gather(a.request("set_name", {"name": "Race", "password": "pa"}),
                                   b.request("set_name", {"name": "race", "password": "pb"}))
    kinds = sorted([ra["type"], rb["type"]])
    assert kinds == ["error", "result"], (ra, rb)
    loser = ra if ra["type"] == "error" else rb
    assert loser["data"]["code"] in ("name_taken", "password_required", "wrong_password"), loser
    winner_pw = "pa" if ra["type"] == "result" else "pb"
    c = await authed(server.port, label="c")
    await c.fail("set_name", {"name": "RACE"}, code="password_required")
    await c.call("set_name", {"name": "RACE", "password": winner_pw})


async def test_second_name_change_while_one_runs(server):
    frames = b"".join(ws_frame(OP_TEXT, t) for t in (
        b'{"type":"auth","id":"w"}',
        b'{"type":"set_name","id":1,"data":{"name":"First","password":"p1"}}',
        b'{"type":"set_name","id":2,"data":{"name":"Second","password":"p2"}}'))
    got = await asyncio.to_thread(
        ws_burst, server.port, frames, auth_first=False, timeout=10,
        stop_when=lambda ms: {1, 2} <= {m.get("id") for m in ms})
    replies = {m.get("id"): m for m in got.messages if m.get("id") in (1, 2)}
    assert replies[1]["type"] == "result" and replies[1]["data"]["name"] == "First", got.messages
    assert replies[2]["type"] == "error", got.messages
    assert replies[2]["data"]["code"] == "too_many_attempts"
    assert isinstance(replies[2]["data"].get("retry_after_ms"), int)
    assert replies[2]["data"]["retry_after_ms"] > 0


async def test_client_that_never_answers_pings_is_dropped(servers):
    srv = servers.start("--ping-interval", "1", "--pong-timeout", "1")
    healthy = await authed(srv.port, "Healthy")   # `websockets` answers pings itself
    lobby = (await healthy.call("create_lobby", {"name": "Room"}))["lobby"]
    await healthy.call("join_lobby", {"lobby_id": lobby["id"]})
    mute = await RawWs.connect(srv.port)
    w = await mute.request({"type": "auth", "id": 1})
    await mute.request({"type": "set_name", "id": 2, "data": {"name": "Mute"}})
    await mute.request({"type": "join_lobby", "id": 3, "data": {"lobby_id": lobby["id"]}})
    mute_peer = w["data"]["peer_id"]
    # It reads, but never answers a ping: the server hangs up within ping + pong time.
    d = await healthy.next_push(
        "participant_updated", timeout=15,
        pred=lambda d: d["participant"]["peer_id"] == mute_peer and
        d["participant"]["connected"] is False)
    assert d["lobby_id"] == lobby["id"]
    # The one that answers is still connected after the same time.
    assert not healthy.closed
    await healthy.ping()
