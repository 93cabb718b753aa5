"""Persistence: what survives a clean restart, and what survives kill -9.

Expected values are from docs/protocol.md ("Connection lifecycle" point 4, "Durability",
"Signaling": members come back without media after a restart) and the close code 1001.
"""

import asyncio

import pytest

from conftest import Client, ahttp, authed, make_lobby, resume


async def test_restart_keeps_sessions_names_lobbies_and_chat(servers):
    srv = servers.start()
    a = await authed(srv.port, "Ada", password="pw-ada", label="ada")
    b = await authed(srv.port, "Bob", label="bob")
    keep = await make_lobby(a, "Keep", persistent=True)
    hidden = await make_lobby(a, "Hidden", private=True, persistent=True, max_participants=5)
    await a.call("join_lobby", {"lobby_id": keep["id"]})
    await b.call("join_lobby", {"lobby_id": keep["id"]})
    for i in range(1, 4):
        assert await a.call("chat", {"text": f"before-{i}"}) == {"offset": i}
    a_peer, a_token, b_peer, b_token = a.peer_id, a.token, b.peer_id, b.token

    rc = srv.stop()
    assert rc == 0, srv.log_tail()
    # Connected clients are told the server is going away.
    assert await a.wait_closed() == 1001
    assert await b.wait_closed() == 1001

    srv.start()  # same db, new port
    a2 = await resume(srv.port, a_token, "ada again")
    w = a2.welcome
    assert w["resumed"] is True and w["peer_id"] == a_peer and w["token"] == a_token
    assert w["name"] == "Ada" and w["name_protected"] is True
    snap = w["lobby"]
    assert snap is not None, "the restart counts as a drop: the member is still in its lobby"
    assert snap["lobby"]["id"] == keep["id"] and snap["lobby"]["persistent"] is True
    assert [(m["offset"], m["text"]) for m in snap["history"]] == \
        [(1, "before-1"), (2, "before-2"), (3, "before-3")]
    assert all(m["sender"] == a_peer and m["sender_name"] == "Ada" for m in snap["history"])
    assert snap["last_offset"] == 3 and snap["history_complete"] is True

    # Offsets continue.
    assert await a2.call("chat", {"text": "after"}) == {"offset": 4}
    page = await a2.call("chat_history", {"after": 2})
    assert [(m["offset"], m["text"]) for m in page["messages"]] == \
        [(3, "before-3"), (4, "after")]

    b2 = await resume(srv.port, b_token, "bob again")
    assert b2.welcome["peer_id"] == b_peer and b2.welcome["name"] == "Bob"
    assert b2.welcome["name_protected"] is False

    # The password survived: a new session needs it.
    c = await authed(srv.port, label="c")
    await c.fail("set_name", {"name": "ada"}, code="password_required")
    await c.fail("set_name", {"name": "ada", "password": "wrong"}, code="wrong_password")
    await c.fail("set_name", {"name": "BOB"}, code="name_taken")

    listed = (await c.call("list_lobbies"))["lobbies"]
    assert [l["id"] for l in listed] == [keep["id"]]
    await c.call("set_name", {"name": "Cy"})
    snap = await c.call("join_lobby", {"lobby_id": hidden["id"]})
    assert snap["lobby"]["private"] is True and snap["lobby"]["max_participants"] == 5
    await c.fail("create_lobby", {"name": "keep"}, code="lobby_exists")

    d = await c.call("set_name", {"name": "Ada", "password": "pw-ada"})
    assert d["name"] == "Ada" and d["protected"] is True


async def test_restart_members_come_back_without_media(servers):
    srv = servers.start()
    a = await authed(srv.port, "Ann")
    b = await authed(srv.port, "Ben")
    lobby = await make_lobby(a, "Mesh", persistent=True)
    await a.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    await b.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    tokens = (a.token, b.token)
    assert srv.stop() == 0, srv.log_tail()

    srv.start()
    a2 = await resume(srv.port, tokens[0], "Ann again")
    b2 = await resume(srv.port, tokens[1], "Ben again")
    parts = {p["peer_id"]: p for p in b2.welcome["lobby"]["participants"]}
    assert parts[a2.peer_id]["has_media"] is False
    assert parts[b2.peer_id]["has_media"] is False
    await a2.sync()
    await b2.sync()
    assert a2.take("peer_added") == [] and b2.take("peer_added") == []

    await a2.call("update_media", {"has_media": True})
    await b2.call("update_media", {"has_media": True})
    d = await b2.next_push("peer_added")
    assert d["peer_id"] == a2.peer_id and d["should_offer"] is True
    d = await a2.next_push("peer_added")
    assert d["peer_id"] == b2.peer_id and d["should_offer"] is False


async def _burst_then_kill(srv, window, kill_after):
    """One client chats as fast as acks come, `window` in flight; the server is SIGKILLed
    after `kill_after` acks. Returns (every (offset, text) some client saw acknowledged,
    writer token, lobby id)."""
    writer = await authed(srv.port, "Writer", label="writer")
    watcher = await authed(srv.port, "Watcher", label="watcher")
    lobby = await make_lobby(writer, "Burst", persistent=True)
    await writer.call("join_lobby", {"lobby_id": lobby["id"]})
    await watcher.call("join_lobby", {"lobby_id": lobby["id"]})

    acked = {}            # offset -> text, from results
    errors = []
    enough = asyncio.Event()

    async def one(text):
        try:
            msg = await writer.request("chat", {"text": text}, timeout=10)
        except Exception:
            return  # the connection died with the server: not acknowledged
        if msg["type"] == "result":
            off = msg["data"]["offset"]
            assert off not in acked, f"offset {off} acknowledged twice"
            acked[off] = text
            if len(acked) >= kill_after:
                enough.set()
        else:
            errors.append(msg)

    async def sender():
        inflight = set()
        i = 0
        while not writer.closed and i < 100_000:
            while len(inflight) < window and not writer.closed:
                i += 1
                inflight.add(asyncio.ensure_future(one(f"burst-{i}-" + "z" * (i % 97))))
            done, inflight = await asyncio.wait(inflight, timeout=10,
                                                return_when=asyncio.FIRST_COMPLETED)
            assert done, "no chat acknowledged within 10 s"
            for t in done:
                t.result()
        if inflight:
            done, _ = await asyncio.wait(inflight, timeout=10)
            for t in done:
                t.result()

    task = asyncio.ensure_future(sender())
    await asyncio.wait_for(enough.wait(), 30)
    srv.kill9()  # mid-burst: more chats are in flight
    await writer.wait_closed(timeout=10)
    await watcher.wait_closed(timeout=10)
    await asyncio.wait_for(task, 15)
    assert not errors, errors[:3]

    seen = dict(acked)
    for c in (writer, watcher):   # a chat push is an acknowledgement too
        for m in c.received:
            if m.get("type") == "chat":
                msg = m["data"]["message"]
                assert seen.setdefault(msg["offset"], msg["text"]) == msg["text"]
    return seen, acked, writer.token, lobby["id"]


@pytest.mark.slow
@pytest.mark.parametrize("window", [4, 32])
async def test_kill9_during_chat_burst_loses_nothing_acknowledged(servers, window):
    srv = servers.start("--rate", "100000", "--rate-burst", "100000")
    seen, acked, token, lobby_id = await _burst_then_kill(srv, window, kill_after=300)
    assert len(acked) >= 300

    srv.start()  # same db, after a crash
    w = await resume(srv.port, token, "writer again")
    assert w.welcome["lobby"] is not None and w.welcome["lobby"]["lobby"]["id"] == lobby_id
    history = {}
    after = 0
    while True:
        page = await w.call("chat_history", {"after": after, "limit": 100})
        for m in page["messages"]:
            history[m["offset"]] = m["text"]
        if not page["has_more"]:
            break
        after = page["messages"][-1]["offset"]
    assert page["complete"] is True
    missing = sorted(off for off in seen if history.get(off) != seen[off])
    assert not missing, (f"{len(missing)} acknowledged messages lost or changed after kill -9, "
                         f"e.g. offsets {missing[:10]} (history has up to {max(history or [0])})")
    # What is kept is gap-free from 1, and new messages continue after it.
    last = page["last_offset"]
    assert sorted(history) == list(range(1, last + 1))
    assert last >= max(seen)
    assert await w.call("chat", {"text": "after the crash"}) == {"offset": last + 1}


async def test_kill9_right_after_one_ack(servers):
    srv = servers.start()
    a = await authed(srv.port, "Solo")
    lobby = await make_lobby(a, "Quick", persistent=True)
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    assert await a.call("chat", {"text": "durable?"}) == {"offset": 1}
    token = a.token
    srv.kill9()
    srv.start()
    a2 = await resume(srv.port, token)
    assert a2.welcome["name"] == "Solo"
    hist = a2.welcome["lobby"]["history"]
    assert [(m["offset"], m["text"]) for m in hist] == [(1, "durable?")]


async def test_kill9_keeps_acknowledged_names_and_lobbies(servers):
    srv = servers.start()
    a = await authed(srv.port, "Kim", password="pw")
    lobby = await make_lobby(a, "Fresh", persistent=True)
    token = a.token
    srv.kill9()
    srv.start()
    a2 = await resume(srv.port, token)
    assert a2.welcome["name"] == "Kim" and a2.welcome["name_protected"] is True
    listed = (await a2.call("list_lobbies"))["lobbies"]
    assert [l["id"] for l in listed] == [lobby["id"]]
    c = await authed(srv.port)
    await c.fail("set_name", {"name": "kim"}, code="password_required")


ADMIN = "persist-admin-token"


async def test_kill9_right_after_http_lobby_create(servers):
    """A 201 from POST /api/lobbies is an acknowledgement: the lobby survives kill -9."""
    srv = servers.start()
    r = await ahttp(srv.port, "POST", "/api/lobbies", body={"name": "ViaHttp",
                                                            "persistent": True})
    assert r.status == 201
    lobby_id = r.json()["lobby"]["id"]
    srv.kill9()
    srv.start()
    r = await ahttp(srv.port, "GET", "/api/lobbies")
    assert [l["id"] for l in r.json()["lobbies"]] == [lobby_id]


async def test_kill9_right_after_admin_password(servers):
    """{"ok": true} from PUT /api/admin/names/{name}/password survives kill -9."""
    srv = servers.start(admin_token=ADMIN)
    await authed(srv.port, "Guarded")
    r = await ahttp(srv.port, "PUT", "/api/admin/names/Guarded/password",
                    body={"password": "pw"}, headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status == 200 and r.json() == {"ok": True}
    srv.kill9()
    srv.start()
    c = await authed(srv.port)
    await c.fail("set_name", {"name": "Guarded"}, code="password_required")


async def test_kill9_right_after_admin_kick(servers):
    """A kicked session is deleted; after kill -9 its token still does not work."""
    srv = servers.start(admin_token=ADMIN)
    a = await authed(srv.port, "Kicked")
    r = await ahttp(srv.port, "POST", f"/api/admin/sessions/{a.peer_id}/kick",
                    headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status == 200
    srv.kill9()
    srv.start()
    c = await Client.connect(srv.port)
    await c.fail("auth", {"token": a.token}, code="invalid_token")


async def test_kill9_right_after_join_and_leave(servers):
    srv = servers.start()
    a = await authed(srv.port, "Joiner")
    b = await authed(srv.port, "Leaver")
    lobby = await make_lobby(a, "Place", persistent=True)
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    assert await b.call("leave_lobby") == {}
    srv.kill9()
    srv.start()
    a2 = await resume(srv.port, a.token)
    assert a2.welcome["lobby"] is not None
    assert [p["peer_id"] for p in a2.welcome["lobby"]["participants"]] == [a.peer_id]
    b2 = await resume(srv.port, b.token)
    assert b2.welcome["lobby"] is None


async def test_kill9_right_after_welcome_and_set_name(servers):
    srv = servers.start()
    a = await Client.connect(srv.port)
    await a.auth()
    b = await authed(srv.port)
    assert (await b.call("set_name", {"name": "Named"}))["name"] == "Named"
    srv.kill9()
    srv.start()
    a2 = await resume(srv.port, a.token)
    assert a2.welcome["peer_id"] == a.peer_id
    b2 = await resume(srv.port, b.token)
    assert b2.welcome["name"] == "Named"


async def test_kill9_keeps_join_order_of_members(servers):
    """docs/protocol.md (Lobby snapshot): participants are listed in join order, also after a
    restart. The three join in descending peer-id order, so a store read in peer-id order
    (the old behaviour) lists them reversed."""
    srv = servers.start(admin_token=ADMIN)
    clients = [await authed(srv.port, name, label=name) for name in ("Una", "Dos", "Tres")]
    lobby = await make_lobby(clients[0], "Ordered", persistent=True)
    clients.sort(key=lambda c: c.peer_id, reverse=True)
    for c in clients:
        await c.call("join_lobby", {"lobby_id": lobby["id"]})
    joined = [c.peer_id for c in clients]
    assert joined != sorted(joined)
    tokens = [c.token for c in clients]
    srv.kill9()
    srv.start()

    back = await resume(srv.port, tokens[1], "second joiner again")
    assert [p["peer_id"] for p in back.welcome["lobby"]["participants"]] == joined
    r = await ahttp(srv.port, "GET", f"/api/admin/lobbies/{lobby['id']}",
                    headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status == 200, r
    assert [p["peer_id"] for p in r.json()["participants"]] == joined

    # A newcomer after the restart goes last, in its join result and in everyone's snapshot.
    newcomer = await authed(srv.port, "Cuatro", label="cuatro")
    snap = await newcomer.call("join_lobby", {"lobby_id": lobby["id"]})
    assert [p["peer_id"] for p in snap["participants"]] == joined + [newcomer.peer_id]
