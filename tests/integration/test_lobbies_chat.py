"""Lobbies and chat: create/list/join/leave, privacy, capacity, chat, history paging.

Expected values are from docs/protocol.md (`create_lobby`, `join_lobby`, `leave_lobby`,
`chat`, `chat_history`, "Values", "Server -> client pushes").
"""

from conftest import ahttp, authed, make_lobby, now_ms, resume

PARTICIPANT_KEYS = {"peer_id", "name", "has_media", "audio_muted", "video_muted", "is_bot",
                    "connected"}
LOBBY_KEYS = {"id", "name", "private", "persistent", "max_participants", "participants",
              "created_ms"}


def check_lobby(lobby, name, *, private=False, persistent=False, max_participants=64,
                participants=0):
    assert LOBBY_KEYS <= set(lobby), lobby
    assert isinstance(lobby["id"], str) and lobby["id"]
    assert lobby["name"] == name
    assert lobby["private"] is private
    assert lobby["persistent"] is persistent
    assert lobby["max_participants"] == max_participants
    assert lobby["participants"] == participants
    assert isinstance(lobby["created_ms"], int)
    assert abs(lobby["created_ms"] - now_ms()) < 60_000


def check_participant(p, client, name, *, has_media=False, audio_muted=False,
                      video_muted=False, is_bot=False, connected=True):
    assert PARTICIPANT_KEYS <= set(p), p
    assert p["peer_id"] == client.peer_id
    assert p["name"] == name
    assert p["has_media"] is has_media
    assert p["audio_muted"] is audio_muted
    assert p["video_muted"] is video_muted
    assert p["is_bot"] is is_bot
    assert p["connected"] is connected


async def test_create_and_list(server):
    a = await authed(server.port, "Ada")
    lobby = await make_lobby(a, "Standup")
    check_lobby(lobby, "Standup")  # creating does not join: 0 participants
    listed = (await a.call("list_lobbies"))["lobbies"]
    assert [l["id"] for l in listed] == [lobby["id"]]
    check_lobby(listed[0], "Standup")


async def test_create_options_and_bad_fields(server):
    a = await authed(server.port, "Ada")
    lobby = await make_lobby(a, "Small", private=True, persistent=True, max_participants=3)
    check_lobby(lobby, "Small", private=True, persistent=True, max_participants=3)
    for data, field in (({"name": ""}, "data.name"),
                        ({"name": "x" * 65}, "data.name"),
                        ({"name": "a\u0001b"}, "data.name"),
                        ({}, "data.name"),
                        ({"name": "M0", "max_participants": 0}, "data.max_participants"),
                        ({"name": "M65", "max_participants": 65}, "data.max_participants"),
                        ({"name": "P", "private": "yes"}, "data.private"),
                        ({"name": "Q", "persistent": 1}, "data.persistent")):
        d = await a.fail("create_lobby", data, code="bad_field")
        assert d.get("field") == field, (data, d)
    await make_lobby(a, "y" * 64)
    await make_lobby(a, "\u00fc" * 64)


async def test_list_is_public_only_oldest_first(server):
    a = await authed(server.port, "Ada")
    first = await make_lobby(a, "First")
    hidden = await make_lobby(a, "Hidden", private=True)
    second = await make_lobby(a, "Second")
    listed = (await a.call("list_lobbies"))["lobbies"]
    assert [l["id"] for l in listed] == [first["id"], second["id"]]
    assert hidden["id"] not in [l["id"] for l in listed]
    # The HTTP listing agrees.
    r = await ahttp(server.port, "GET", "/api/lobbies")
    assert r.status == 200
    assert [l["id"] for l in r.json()["lobbies"]] == [first["id"], second["id"]]


async def test_lobby_name_unique_case_insensitive(server):
    a = await authed(server.port, "Ada")
    await make_lobby(a, "Room")
    await a.fail("create_lobby", {"name": "room"}, code="lobby_exists")
    await a.fail("create_lobby", {"name": "ROOM", "private": True}, code="lobby_exists")


async def test_join_by_id_and_by_name(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    lobby = await make_lobby(a, "Standup")

    snap = await a.call("join_lobby", {"lobby_id": lobby["id"]})
    assert set(snap) >= {"lobby", "participants", "history", "history_complete", "last_offset"}
    check_lobby(snap["lobby"], "Standup", participants=1)
    assert len(snap["participants"]) == 1
    check_participant(snap["participants"][0], a, "Ada")
    assert snap["history"] == []
    assert snap["history_complete"] is True
    assert snap["last_offset"] == 0

    snap = await b.call("join_lobby", {"name": "standup", "has_media": False,
                                       "audio_muted": True})
    assert snap["lobby"]["id"] == lobby["id"]
    assert snap["lobby"]["participants"] == 2
    by_peer = {p["peer_id"]: p for p in snap["participants"]}
    assert set(by_peer) == {a.peer_id, b.peer_id}
    check_participant(by_peer[b.peer_id], b, "Bob", audio_muted=True)

    joined = await a.next_push("participant_joined")
    assert joined["lobby_id"] == lobby["id"]
    check_participant(joined["participant"], b, "Bob", audio_muted=True)
    # The joiner does not get its own participant_joined.
    await b.sync()
    assert b.take("participant_joined") == []

    listed = (await a.call("list_lobbies"))["lobbies"]
    assert listed[0]["participants"] == 2


async def test_join_errors(server):
    anon = await authed(server.port)
    a = await authed(server.port, "Ada")
    lobby = await make_lobby(a, "Room")
    await anon.fail("join_lobby", {"lobby_id": lobby["id"]}, code="name_required")
    await a.fail("join_lobby", {"lobby_id": "0000000000000000"}, code="lobby_not_found")
    await a.fail("join_lobby", {"name": "nowhere"}, code="lobby_not_found")
    d = await a.fail("join_lobby", {}, code="bad_field")
    assert d.get("field", "").startswith("data.")
    await a.fail("join_lobby", {"lobby_id": lobby["id"], "name": "Room"}, code="bad_field")
    d = await a.fail("join_lobby", {"lobby_id": lobby["id"], "has_media": "yes"},
                     code="bad_field")
    assert d.get("field") == "data.has_media"


async def test_private_lobby(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    lobby = await make_lobby(a, "Secret", private=True)
    await b.fail("join_lobby", {"name": "Secret"}, code="lobby_not_found")
    snap = await b.call("join_lobby", {"lobby_id": lobby["id"]})
    assert snap["lobby"]["private"] is True
    assert (await b.call("list_lobbies"))["lobbies"] == []


async def test_lobby_full(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    c = await authed(server.port, "Cy")
    lobby = await make_lobby(a, "Pair", max_participants=2)
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    await c.fail("join_lobby", {"lobby_id": lobby["id"]}, code="lobby_full")
    await c.fail("join_lobby", {"name": "Pair"}, code="lobby_full")
    # A member re-joining its own full lobby gets the snapshot.
    snap = await b.call("join_lobby", {"lobby_id": lobby["id"]})
    assert snap["lobby"]["participants"] == 2
    # A place frees up when someone leaves.
    await b.call("leave_lobby")
    await c.call("join_lobby", {"lobby_id": lobby["id"]})


async def test_one_lobby_at_a_time(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    l1 = await make_lobby(a, "One")
    l2 = await make_lobby(a, "Two")
    await a.call("join_lobby", {"lobby_id": l1["id"]})
    await b.call("join_lobby", {"lobby_id": l1["id"]})
    await a.next_push("participant_joined")

    snap = await a.call("join_lobby", {"lobby_id": l2["id"]})
    assert snap["lobby"]["id"] == l2["id"]
    left = await b.next_push("participant_left")
    assert left == {"lobby_id": l1["id"], "peer_id": a.peer_id, "reason": "left"}
    listed = {l["id"]: l["participants"] for l in (await b.call("list_lobbies"))["lobbies"]}
    assert listed == {l1["id"]: 1, l2["id"]: 1}
    # Chat now goes to lobby Two only.
    await a.call("chat", {"text": "in two"})
    await b.sync()
    assert b.take("chat") == []


async def test_rejoin_same_lobby_changes_nothing(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.next_push("participant_joined")
    await a.call("chat", {"text": "hello"})
    snap = await b.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    assert snap["lobby"]["participants"] == 2
    assert [m["text"] for m in snap["history"]] == ["hello"]
    me = [p for p in snap["participants"] if p["peer_id"] == b.peer_id][0]
    assert me["has_media"] is False  # changes nothing
    await a.sync()
    assert a.take("participant_joined") == []
    assert a.take("participant_left") == []


async def test_leave_lobby(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    assert await b.call("leave_lobby") == {}
    left = await a.next_push("participant_left")
    assert left == {"lobby_id": lobby["id"], "peer_id": b.peer_id, "reason": "left"}
    await b.fail("leave_lobby", code="not_in_lobby")
    await b.fail("chat", {"text": "x"}, code="not_in_lobby")
    await b.fail("chat_history", {}, code="not_in_lobby")


async def test_chat_broadcast(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    c = await authed(server.port, "Cy")
    outsider = await authed(server.port, "Out")
    lobby = await make_lobby(a, "Room")
    other = await make_lobby(a, "Other")
    for x in (a, b, c):
        await x.call("join_lobby", {"lobby_id": lobby["id"]})
    await outsider.call("join_lobby", {"lobby_id": other["id"]})

    t0 = now_ms()
    assert await a.call("chat", {"text": "hi \u00e9\U0001F600"}) == {"offset": 1}
    for x in (a, b, c):
        d = await x.next_push("chat")
        assert d["lobby_id"] == lobby["id"]
        m = d["message"]
        assert m["offset"] == 1
        assert m["sender"] == a.peer_id
        assert m["sender_name"] == "Ada"
        assert m["text"] == "hi \u00e9\U0001F600"
        assert isinstance(m["time_ms"], int) and abs(m["time_ms"] - t0) < 60_000
    assert await b.call("chat", {"text": "second", "sender": c.peer_id}) == {"offset": 2}
    d = await c.next_push("chat")
    assert d["message"]["offset"] == 2
    assert d["message"]["sender"] == b.peer_id  # stamped by the server, not the client
    await outsider.sync()
    assert outsider.take("chat") == []
    # Offsets are per lobby.
    assert await outsider.call("chat", {"text": "elsewhere"}) == {"offset": 1}


async def test_chat_limits(server):
    a = await authed(server.port, "Ada")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    for bad in ("", "x" * 4097, "\u00e9" * 2049):
        d = await a.fail("chat", {"text": bad}, code="bad_field")
        assert d.get("field") == "data.text"
    for t in ({}, {"text": 5}, {"text": None}, {"text": ["a"]}):
        d = await a.fail("chat", t, code="bad_field")
        assert d.get("field") == "data.text"
    assert await a.call("chat", {"text": "x" * 4096}) == {"offset": 1}
    assert await a.call("chat", {"text": "\u00e9" * 2048}) == {"offset": 2}


async def test_chat_history_paging(server):
    a = await authed(server.port, "Ada")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    for i in range(1, 11):
        assert await a.call("chat", {"text": f"m{i}"}) == {"offset": i}

    page = await a.call("chat_history", {"after": 0, "limit": 4})
    assert [m["offset"] for m in page["messages"]] == [1, 2, 3, 4]
    assert [m["text"] for m in page["messages"]] == ["m1", "m2", "m3", "m4"]
    assert page["complete"] is True and page["has_more"] is True and page["last_offset"] == 10
    page = await a.call("chat_history", {"after": 4, "limit": 4})
    assert [m["offset"] for m in page["messages"]] == [5, 6, 7, 8]
    assert page["has_more"] is True
    page = await a.call("chat_history", {"after": 8, "limit": 4})
    assert [m["offset"] for m in page["messages"]] == [9, 10]
    assert page["has_more"] is False and page["complete"] is True
    page = await a.call("chat_history", {"after": 10})
    assert page == {"messages": [], "complete": True, "has_more": False, "last_offset": 10}
    page = await a.call("chat_history")  # defaults: after 0, limit 500
    assert [m["offset"] for m in page["messages"]] == list(range(1, 11))
    m = page["messages"][0]
    assert m["sender"] == a.peer_id and m["sender_name"] == "Ada"

    for data, field in (({"after": -1}, "data.after"), ({"after": "1"}, "data.after"),
                        ({"limit": 0}, "data.limit"), ({"limit": 501}, "data.limit"),
                        ({"limit": 1.5}, "data.limit")):
        d = await a.fail("chat_history", data, code="bad_field")
        assert d.get("field") == field, (data, d)


async def test_chat_history_retention(servers):
    srv = servers.start("--chat-history", "5")
    a = await authed(srv.port, "Ada")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    for i in range(1, 9):
        assert await a.call("chat", {"text": f"m{i}"}) == {"offset": i}
    assert a.welcome["limits"]["chat_history"] == 5

    page = await a.call("chat_history", {"after": 0})
    assert [m["offset"] for m in page["messages"]] == [4, 5, 6, 7, 8]
    assert page["complete"] is False and page["has_more"] is False
    assert page["last_offset"] == 8
    page = await a.call("chat_history", {"after": 2, "limit": 2})
    assert [m["offset"] for m in page["messages"]] == [4, 5]
    assert page["complete"] is False and page["has_more"] is True
    page = await a.call("chat_history", {"after": 3})
    assert [m["offset"] for m in page["messages"]] == [4, 5, 6, 7, 8]
    assert page["complete"] is True
    page = await a.call("chat_history", {"after": 6})
    assert [m["offset"] for m in page["messages"]] == [7, 8]
    assert page["complete"] is True

    b = await authed(srv.port, "Bob")
    snap = await b.call("join_lobby", {"lobby_id": lobby["id"]})
    assert [m["offset"] for m in snap["history"]] == [4, 5, 6, 7, 8]
    assert snap["history_complete"] is False
    assert snap["last_offset"] == 8


async def test_chat_history_recovery_after_reconnect(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.call("chat", {"text": "one"})
    last_seen = (await b.next_push("chat"))["message"]["offset"]
    token = b.token
    await b.close()
    for t in ("two", "three"):
        await a.call("chat", {"text": t})
    b2 = await resume(server.port, token)
    assert b2.welcome["lobby"]["last_offset"] == 3
    page = await b2.call("chat_history", {"after": last_seen})
    assert [(m["offset"], m["text"]) for m in page["messages"]] == [(2, "two"), (3, "three")]
    assert page["complete"] is True and page["has_more"] is False


async def test_participant_updated_on_name_and_media(server):
    a = await authed(server.port, "Ada")
    b = await authed(server.port, "Bob")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})

    await b.call("set_name", {"name": "Robert"})
    for x in (a, b):  # every member, the changer included
        d = await x.next_push("participant_updated")
        assert d["lobby_id"] == lobby["id"]
        check_participant(d["participant"], b, "Robert")

    d = await b.call("update_media", {"audio_muted": True, "video_muted": True})
    check_participant(d["participant"], b, "Robert", audio_muted=True, video_muted=True)
    for x in (a, b):
        d = await x.next_push("participant_updated")
        check_participant(d["participant"], b, "Robert", audio_muted=True, video_muted=True)
    d = await b.fail("update_media", {"audio_muted": "no"}, code="bad_field")
    assert d.get("field") == "data.audio_muted"


async def test_disconnect_grace_then_left(servers):
    srv = servers.start("--resume-grace-ms", "600")
    a = await authed(srv.port, "Ada")
    b = await authed(srv.port, "Bob")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.next_push("participant_joined")
    token = b.token
    await b.abort()

    d = await a.next_push("participant_updated")
    check_participant(d["participant"], b, "Bob", connected=False)
    left = await a.next_push("participant_left", timeout=10)
    assert left == {"lobby_id": lobby["id"], "peer_id": b.peer_id, "reason": "grace_expired"}
    # After the grace, the session is out of the lobby (but still exists).
    b2 = await resume(srv.port, token)
    assert b2.welcome["resumed"] is True
    assert b2.welcome["lobby"] is None


async def test_resume_within_grace_keeps_membership(servers):
    srv = servers.start("--resume-grace-ms", "30000")
    a = await authed(srv.port, "Ada")
    b = await authed(srv.port, "Bob")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.call("chat", {"text": "before"})
    token = b.token
    await b.abort()
    d = await a.next_push("participant_updated")
    assert d["participant"]["connected"] is False
    # While disconnected, members list it with connected false.
    snap = await a.call("join_lobby", {"lobby_id": lobby["id"]})
    st = {p["peer_id"]: p["connected"] for p in snap["participants"]}
    assert st == {a.peer_id: True, b.peer_id: False}

    b2 = await resume(srv.port, token)
    w = b2.welcome
    assert w["lobby"] is not None
    assert w["lobby"]["lobby"]["id"] == lobby["id"]
    assert [m["text"] for m in w["lobby"]["history"]] == ["before"]
    assert w["lobby"]["last_offset"] == 1
    assert w["lobby"]["history_complete"] is True
    st = {p["peer_id"]: p["connected"] for p in w["lobby"]["participants"]}
    assert st == {a.peer_id: True, b.peer_id: True}
    d = await a.next_push("participant_updated",
                          pred=lambda d: d["participant"]["peer_id"] == b.peer_id)
    assert d["participant"]["connected"] is True
    assert a.take("participant_left") == []


async def test_empty_lobby_expiry(servers):
    srv = servers.start("--lobby-expiry-ms", "300")
    a = await authed(srv.port, "Ada")
    temp = await make_lobby(a, "Temp")
    perm = await make_lobby(a, "Perm", persistent=True)
    busy = await make_lobby(a, "Busy")
    await a.call("join_lobby", {"lobby_id": busy["id"]})

    async def names():
        return sorted(l["name"] for l in (await a.call("list_lobbies"))["lobbies"])
    # Poll until the empty non-persistent lobby is gone (the deadline is generous).
    from conftest import until
    await until(lambda: _without(names, "Temp"), 10, "empty non-persistent lobby expired")
    assert await names() == ["Busy", "Perm"]
    b = await authed(srv.port, "Bob")
    await b.fail("join_lobby", {"lobby_id": temp["id"]}, code="lobby_not_found")
    await b.call("join_lobby", {"lobby_id": perm["id"]})


async def _without(names, name):
    return name not in await names()


async def test_too_many_lobbies(servers):
    srv = servers.start("--max-lobbies", "2")
    a = await authed(srv.port, "Ada")
    await make_lobby(a, "One")
    await make_lobby(a, "Two")
    await a.fail("create_lobby", {"name": "Three"}, code="too_many_lobbies")
    r = await ahttp(srv.port, "POST", "/api/lobbies", body={"name": "Four"})
    assert r.json()["code"] == "too_many_lobbies" and r.status >= 400
    assert len((await a.call("list_lobbies"))["lobbies"]) == 2



async def test_watch_lobbies_pushes_the_public_list(servers):
    """docs/protocol.md, "Lobby list pushes": a watcher is told of public lobbies appearing,
    their participant counts, and their going, without asking again; others are told nothing."""
    srv = servers.start(admin_token="watch-admin")
    auth = {"Authorization": "Bearer watch-admin"}
    watcher = await authed(srv.port, "Watcher", label="watcher")
    host = await authed(srv.port, "Host", label="host")
    assert (await watcher.call("watch_lobbies"))["lobbies"] == []

    room = await make_lobby(host, "Pushed")
    d = await watcher.next_push("lobby_listed")
    assert d["lobby"]["id"] == room["id"] and d["lobby"]["name"] == "Pushed"

    await host.call("join_lobby", {"lobby_id": room["id"]})
    d = await watcher.next_push("lobby_listed", lambda d: d["lobby"]["participants"] == 1)
    assert d["lobby"]["id"] == room["id"]
    await host.call("leave_lobby")
    d = await watcher.next_push("lobby_listed", lambda d: d["lobby"]["participants"] == 0)

    r = await ahttp(srv.port, "PATCH", f"/api/admin/lobbies/{room['id']}",
                    body={"private": True}, headers=auth)
    assert r.status == 200, r
    d = await watcher.next_push("lobby_unlisted")
    assert d["lobby_id"] == room["id"]

    await host.sync()
    assert host.take("lobby_listed") == [] and host.take("lobby_unlisted") == []
    assert await watcher.call("watch_lobbies", {"watch": False}) == {}
    await make_lobby(host, "Unseen")
    await watcher.sync()
    assert watcher.take("lobby_listed") == []
