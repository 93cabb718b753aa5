"""Signaling: the managed mesh (peer_added / should_offer), relays, grace and resume.

Expected values are from docs/protocol.md ("Signaling — the managed mesh",
`relay_description`, `relay_candidate`, pushes `peer_added`, `peer_removed`, `description`,
`candidate`).
"""

import itertools

from conftest import authed, make_lobby, resume

SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def media_lobby(port, names, *, lobby_name="Mesh", has_media=True):
    """Clients with `names` join one lobby in order, with media. Returns (lobby, clients)."""
    clients = [await authed(port, n, label=n) for n in names]
    lobby = await make_lobby(clients[0], lobby_name)
    for c in clients:
        await c.call("join_lobby", {"lobby_id": lobby["id"], "has_media": has_media})
    for c in clients:
        await c.sync()
    return lobby, clients


async def test_mesh_each_pair_exactly_one_offerer(server):
    lobby, (a, b, c) = await media_lobby(server.port, ["Ann", "Ben", "Cat"])
    clients = {x.peer_id: x for x in (a, b, c)}
    got = {x.peer_id: x.take("peer_added") for x in (a, b, c)}
    for receiver, adds in got.items():
        others = [p for p in clients if p != receiver]
        # Exactly one peer_added per other media member.
        assert sorted(d["peer_id"] for d in adds) == sorted(others), (receiver, adds)
    # The join_lobby result comes before the peer_added messages of that join.
    for x in (b, c):
        kinds = [m["type"] for m in x.received]
        result_at = max(i for i, m in enumerate(x.received)
                        if m["type"] == "result" and "lobby" in (m.get("data") or {})
                        and "participants" in m["data"])
        assert "peer_added" not in kinds[:result_at], kinds
    for receiver, adds in got.items():
        for d in adds:
            assert set(d) >= {"peer_id", "name", "is_bot", "should_offer"}
            assert d["is_bot"] is False
            assert isinstance(d["should_offer"], bool)
    names = {a.peer_id: "Ann", b.peer_id: "Ben", c.peer_id: "Cat"}
    for receiver, adds in got.items():
        for d in adds:
            assert d["name"] == names[d["peer_id"]]
    offer = {(r, d["peer_id"]): d["should_offer"] for r, adds in got.items() for d in adds}
    for x, y in itertools.combinations(clients, 2):
        assert offer[(x, y)] != offer[(y, x)], f"pair {names[x]}/{names[y]}: {offer}"
    # The newcomer offers: Ben to Ann, Cat to Ann and Ben.
    assert offer[(b.peer_id, a.peer_id)] is True
    assert offer[(c.peer_id, a.peer_id)] is True
    assert offer[(c.peer_id, b.peer_id)] is True


async def test_members_without_media_are_not_in_mesh(server):
    a = await authed(server.port, "Ann")
    b = await authed(server.port, "Ben")
    d = await authed(server.port, "Dee")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    await d.call("join_lobby", {"lobby_id": lobby["id"]})  # no media
    await b.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    for x in (a, b, d):
        await x.sync()
    assert [x["peer_id"] for x in a.take("peer_added")] == [b.peer_id]
    assert [x["peer_id"] for x in b.take("peer_added")] == [a.peer_id]
    assert d.take("peer_added") == []

    # Turning media on starts the mesh for Dee: Dee offers to both.
    res = await d.call("update_media", {"has_media": True})
    assert res["participant"]["has_media"] is True
    for x in (a, b, d):
        await x.sync()
    dee_adds = d.take("peer_added")
    assert sorted(x["peer_id"] for x in dee_adds) == sorted([a.peer_id, b.peer_id])
    assert all(x["should_offer"] is True for x in dee_adds)
    for x in (a, b):
        adds = x.take("peer_added")
        assert [(y["peer_id"], y["should_offer"]) for y in adds] == [(d.peer_id, False)]

    # Sending it again when it is already on changes nothing.
    await d.call("update_media", {"has_media": True})
    for x in (a, b, d):
        await x.sync()
        assert x.take("peer_added") == []

    # Turning it off: the other media members get peer_removed.
    await d.call("update_media", {"has_media": False})
    for x in (a, b):
        assert (await x.next_push("peer_removed")) == {"peer_id": d.peer_id}


async def test_relay_description_only_to_target(server):
    lobby, (a, b, c) = await media_lobby(server.port, ["Ann", "Ben", "Cat"])
    desc = {"type": "offer", "sdp": SDP}
    # `from` in the request is ignored: the server stamps the sender.
    res = await b.call("relay_description", {"to": a.peer_id, "description": desc,
                                             "from": c.peer_id})
    assert res == {}
    got = await a.next_push("description")
    assert got == {"from": b.peer_id, "description": {"type": "offer", "sdp": SDP}}
    await c.sync()
    await b.sync()
    assert c.take("description") == [] and b.take("description") == []

    # The answer goes back; unknown fields are not forwarded.
    await a.call("relay_description", {"to": b.peer_id,
                                       "description": {"type": "answer", "sdp": SDP,
                                                       "extra": "dropped"}})
    got = await b.next_push("description")
    assert got == {"from": a.peer_id, "description": {"type": "answer", "sdp": SDP}}

    # rollback may omit sdp; pranswer is allowed.
    await a.call("relay_description", {"to": b.peer_id, "description": {"type": "rollback"}})
    got = await b.next_push("description")
    assert got["from"] == a.peer_id and got["description"]["type"] == "rollback"
    await a.call("relay_description", {"to": c.peer_id,
                                       "description": {"type": "pranswer", "sdp": SDP}})
    got = await c.next_push("description")
    assert got == {"from": a.peer_id, "description": {"type": "pranswer", "sdp": SDP}}


async def test_relay_candidate(server):
    lobby, (a, b, c) = await media_lobby(server.port, ["Ann", "Ben", "Cat"])
    cand = {"candidate": "candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host",
            "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"}
    assert await c.call("relay_candidate", {"to": a.peer_id, "candidate": cand}) == {}
    got = await a.next_push("candidate")
    assert got == {"from": c.peer_id, "candidate": cand}

    # Optional fields may be null or absent; unknown ones are not forwarded.
    await c.call("relay_candidate", {"to": b.peer_id, "candidate": {
        "candidate": "candidate:2 1 UDP 1 127.0.0.1 50001 typ host", "sdpMid": None,
        "sdpMLineIndex": None, "bogus": 1}})
    got = await b.next_push("candidate")
    assert got["from"] == c.peer_id
    assert got["candidate"]["candidate"] == "candidate:2 1 UDP 1 127.0.0.1 50001 typ host"
    assert "bogus" not in got["candidate"]
    assert got["candidate"].get("sdpMid") is None
    assert got["candidate"].get("sdpMLineIndex") is None

    # null: end of candidates.
    await c.call("relay_candidate", {"to": a.peer_id, "candidate": None})
    got = await a.next_push("candidate")
    assert got == {"from": c.peer_id, "candidate": None}
    await b.sync()
    assert b.take("candidate") == []


async def test_relay_errors(server):
    lobby, (a, b) = await media_lobby(server.port, ["Ann", "Ben"])
    x = await authed(server.port, "Xen")
    other = await make_lobby(x, "Elsewhere")
    await x.call("join_lobby", {"lobby_id": other["id"], "has_media": True})
    nobody = await authed(server.port, "Nob")  # in no lobby
    desc = {"type": "offer", "sdp": SDP}
    cand = {"candidate": "candidate:1 1 UDP 1 127.0.0.1 1 typ host"}

    for kind, payload in (("relay_description", {"description": desc}),
                          ("relay_candidate", {"candidate": cand})):
        await a.fail(kind, {"to": a.peer_id, **payload}, code="bad_target")
        await a.fail(kind, {"to": x.peer_id, **payload}, code="unknown_peer")
        await a.fail(kind, {"to": "0123456789abcdef", **payload}, code="unknown_peer")
        await a.fail(kind, {"to": nobody.peer_id, **payload}, code="unknown_peer")
        await nobody.fail(kind, {"to": a.peer_id, **payload}, code="not_in_lobby")
        d = await a.fail(kind, {**payload}, code="bad_field")
        assert d.get("field") == "data.to"
        d = await a.fail(kind, {"to": 5, **payload}, code="bad_field")
        assert d.get("field") == "data.to"

    for bad in ({"type": "bogus", "sdp": SDP}, {"type": "offer"}, {"sdp": SDP}, "offer",
                {"type": "offer", "sdp": 5}):
        d = await a.fail("relay_description", {"to": b.peer_id, "description": bad},
                         code="bad_field")
        assert d.get("field", "").startswith("data.description"), d
    for bad in ("candidate:1", 5, {"candidate": 5}, {"sdpMid": "0"},
                {"candidate": "c", "sdpMLineIndex": "0"}):
        d = await a.fail("relay_candidate", {"to": b.peer_id, "candidate": bad},
                         code="bad_field")
        assert d.get("field", "").startswith("data.candidate"), d
    await b.sync()
    await x.sync()
    assert b.take("description") == [] and b.take("candidate") == []
    assert x.take("description") == [] and x.take("candidate") == []


async def test_disconnect_then_grace_expiry_removes_peer(servers):
    srv = servers.start("--resume-grace-ms", "700")
    lobby, (a, b, c) = await media_lobby(srv.port, ["Ann", "Ben", "Cat"])
    for x in (a, b, c):
        x.clear()
    await c.abort()
    for x in (a, b):
        d = await x.next_push("participant_updated")
        assert d["participant"]["peer_id"] == c.peer_id
        assert d["participant"]["connected"] is False
    # Disconnected in its grace: relays to it are refused and not queued.
    await a.fail("relay_description", {"to": c.peer_id,
                                       "description": {"type": "offer", "sdp": SDP}},
                 code="unknown_peer")
    for x in (a, b):
        assert (await x.next_push("peer_removed", timeout=10)) == {"peer_id": c.peer_id}
        left = await x.next_push("participant_left")
        assert left == {"lobby_id": lobby["id"], "peer_id": c.peer_id, "reason": "grace_expired"}
    # The pair that is left still relays.
    await a.call("relay_candidate", {"to": b.peer_id, "candidate": None})
    assert (await b.next_push("candidate"))["from"] == a.peer_id


async def test_resume_within_grace_reintroduces(servers):
    srv = servers.start("--resume-grace-ms", "30000")
    lobby, (a, b, c) = await media_lobby(srv.port, ["Ann", "Ben", "Cat"])
    for x in (a, b, c):
        x.clear()
    token = c.token
    await c.abort()
    for x in (a, b):
        d = await x.next_push("participant_updated")
        assert d["participant"]["connected"] is False

    c2 = await resume(srv.port, token, "Cat again")
    assert c2.welcome["peer_id"] == c.peer_id
    assert c2.received[0]["type"] == "welcome", "welcome comes before the peer_added of a resume"
    assert c2.welcome["lobby"]["lobby"]["id"] == lobby["id"]
    await c2.sync()
    adds = c2.take("peer_added")
    assert sorted(d["peer_id"] for d in adds) == sorted([a.peer_id, b.peer_id])
    assert all(d["should_offer"] is True for d in adds)
    for x in (a, b):
        await x.sync()
        seq = [(m["type"], m["data"]) for m in x.pushes
               if m["type"] in ("peer_removed", "peer_added")]
        assert len(seq) == 2, seq
        assert seq[0] == ("peer_removed", {"peer_id": c.peer_id})
        assert seq[1][0] == "peer_added"
        assert seq[1][1]["peer_id"] == c.peer_id and seq[1][1]["should_offer"] is False
    # Relays reach the new connection.
    await a.call("relay_description", {"to": c.peer_id,
                                       "description": {"type": "answer", "sdp": SDP}})
    assert (await c2.next_push("description"))["from"] == a.peer_id


async def test_leave_sends_peer_removed(server):
    lobby, (a, b, c) = await media_lobby(server.port, ["Ann", "Ben", "Cat"])
    for x in (a, b, c):
        x.clear()
    await b.call("leave_lobby")
    for x in (a, c):
        assert (await x.next_push("peer_removed")) == {"peer_id": b.peer_id}
        left = await x.next_push("participant_left")
        assert left == {"lobby_id": lobby["id"], "peer_id": b.peer_id, "reason": "left"}
    await a.fail("relay_candidate", {"to": b.peer_id, "candidate": None}, code="unknown_peer")
    await b.fail("relay_candidate", {"to": a.peer_id, "candidate": None}, code="not_in_lobby")


async def test_bot_flag_in_peer_added(server):
    a = await authed(server.port, "Ann")
    bot = await authed(server.port, "Botty", bot=True)
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    await bot.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    d = await a.next_push("peer_added")
    assert d == {"peer_id": bot.peer_id, "name": "Botty", "is_bot": True, "should_offer": False}


async def test_resume_replacing_live_connection_reintroduces(server):
    lobby, (a, b, c) = await media_lobby(server.port, ["Ann", "Ben", "Cat"])
    for x in (a, b, c):
        x.clear()
    c2 = await resume(server.port, c.token, "Cat elsewhere")
    assert await c.wait_closed() == 4001
    assert c2.welcome["lobby"]["lobby"]["id"] == lobby["id"]
    await c2.sync()
    adds = c2.take("peer_added")
    assert sorted((d["peer_id"], d["should_offer"]) for d in adds) == \
        sorted([(a.peer_id, True), (b.peer_id, True)])
    for x in (a, b):
        await x.sync()
        seq = [(m["type"], m["data"]) for m in x.pushes
               if m["type"] in ("peer_removed", "peer_added")]
        assert [t for t, _ in seq] == ["peer_removed", "peer_added"], seq
        assert seq[0][1] == {"peer_id": c.peer_id}
        assert seq[1][1]["peer_id"] == c.peer_id and seq[1][1]["should_offer"] is False
        # It stays a member: no participant_left.
        assert x.take("participant_left") == []
    await b.call("relay_candidate", {"to": c.peer_id, "candidate": None})
    assert (await c2.next_push("candidate")) == {"from": b.peer_id, "candidate": None}
