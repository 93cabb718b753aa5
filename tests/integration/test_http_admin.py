"""The HTTP side of the server: health, metrics, lobbies, admin, static files.

Expected values are from docs/protocol.md ("HTTP API", "Admin"). Paths that must not be
normalised by a client are written with raw sockets.
"""

import asyncio
import json

import pytest

from conftest import (Client, ahttp, authed, make_lobby, metrics, now_ms, raw_http,
                      raw_status, resume, until)

ADMIN = "s3cret-admin-token"
BEARER = {"Authorization": f"Bearer {ADMIN}"}


def json_body(r):
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    return r.json()


async def test_health(server):
    r = await ahttp(server.port, "GET", "/api/health")
    assert r.status == 200
    assert json_body(r) == {"status": "ok", "version": "0.1.0", "protocol_version": 1}


async def test_unknown_api_path_and_method(server):
    r = await ahttp(server.port, "GET", "/api/nope")
    assert r.status == 404 and json_body(r)["code"] == "not_found"
    r = await ahttp(server.port, "DELETE", "/api/lobbies")
    assert r.status == 405 and json_body(r)["code"] == "method_not_allowed"
    r = await ahttp(server.port, "POST", "/api/health", body={})
    assert r.status == 405 and json_body(r)["code"] == "method_not_allowed"


async def test_metrics_move_with_traffic(server):
    before = await metrics(server.port)
    base_conn = before.connections()
    a = await authed(server.port, "Ada")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    for i in range(3):
        await a.call("chat", {"text": f"m{i}"})
    b = await authed(server.port, "Bob")
    await b.fail("chat", {"text": "x"}, code="not_in_lobby")
    await b.fail("chat", {"text": "y"}, code="not_in_lobby")

    after = await metrics(server.port)
    assert after.connections() == base_conn + 2
    assert after.messages_in("chat") - before.messages_in("chat") == 5
    assert after.messages_in("auth") - before.messages_in("auth") == 2
    assert after.errors("not_in_lobby") - before.errors("not_in_lobby") == 2
    # Each of the 3 chats went out once as a chat push (one member).
    assert after.messages_out("chat") - before.messages_out("chat") == 3
    # Byte counters are counters and moved.
    for fam in after.types:
        if after.types[fam] == "counter" and "bytes" in fam:
            assert after.value(fam) > before.value(fam), fam
    # Every family the doc lists is there: sessions, lobbies, participants.
    for what in ("sessions", "lobbies", "participants"):
        assert any(what in n for n in after.types), (what, list(after.types))
    assert after.value(after.family("gauge", r"(^|_)lobbies$")) == 1
    assert after.value(after.family("gauge", r"(^|_)participants$")) == 1

    await a.close()
    await b.close()
    await until(lambda: _conn_is(server.port, base_conn), 10, "connections gauge back")


async def _conn_is(port, n):
    return (await metrics(port)).connections() == n


async def test_lobbies_get_and_post(server):
    r = await ahttp(server.port, "POST", "/api/lobbies", body={"name": "Hall", "persistent": True,
                                                                "max_participants": 10})
    assert r.status == 201, r
    lobby = json_body(r)["lobby"]
    assert lobby["name"] == "Hall" and lobby["persistent"] is True
    assert lobby["private"] is False and lobby["max_participants"] == 10
    assert lobby["participants"] == 0 and abs(lobby["created_ms"] - now_ms()) < 60_000

    r = await ahttp(server.port, "POST", "/api/lobbies", body={"name": "hidden",
                                                                "private": True})
    assert r.status == 201
    r = await ahttp(server.port, "GET", "/api/lobbies")
    assert r.status == 200
    assert [l["id"] for l in json_body(r)["lobbies"]] == [lobby["id"]]

    r = await ahttp(server.port, "POST", "/api/lobbies", body={"name": "HALL"})
    assert r.status == 409 and json_body(r)["code"] == "lobby_exists"
    r = await ahttp(server.port, "POST", "/api/lobbies", body={"name": ""})
    assert r.status == 400 and json_body(r)["code"] == "bad_field"
    r = await ahttp(server.port, "POST", "/api/lobbies", body={"name": "x" * 65})
    assert r.status == 400 and json_body(r)["code"] == "bad_field"
    r = await ahttp(server.port, "POST", "/api/lobbies", body=b"{not json",
                    headers={"Content-Type": "application/json"})
    assert r.status == 400 and json_body(r)["code"] == "bad_json"
    r = await ahttp(server.port, "POST", "/api/lobbies", body=b"[1, 2]",
                    headers={"Content-Type": "application/json"})
    assert r.status == 400

    # Visible to WebSocket clients.
    c = await authed(server.port, "Ada")
    listed = (await c.call("list_lobbies"))["lobbies"]
    assert [l["id"] for l in listed] == [lobby["id"]]
    await c.call("join_lobby", {"name": "hall"})


async def test_http_body_too_large(server):
    body = json.dumps({"name": "Big", "pad": "x" * (70 * 1024)})
    r = await ahttp(server.port, "POST", "/api/lobbies", body=body.encode(),
                    headers={"Content-Type": "application/json"})
    assert r.status == 413 and json_body(r)["code"] == "too_large"
    r = await ahttp(server.port, "GET", "/api/lobbies")
    assert r.status == 200 and json_body(r)["lobbies"] == []


async def test_admin_off_without_token(server):
    for method, path in (("GET", "/api/admin/sessions"), ("GET", "/api/admin/lobbies"),
                         ("POST", "/api/admin/sessions/abc/kick")):
        r = await ahttp(server.port, method, path, headers={"Authorization": "Bearer x"})
        assert r.status == 404, (method, path, r)


async def test_admin_needs_token(servers):
    srv = servers.start(admin_token=ADMIN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN},
                    {"Authorization": f"Basic {ADMIN}"},
                    {"Authorization": f"Bearer {ADMIN}x"},
                    {"Authorization": f"Bearer {ADMIN[:-1]}"}):
        for method, path in (("GET", "/api/admin/sessions"), ("GET", "/api/admin/lobbies"),
                             ("DELETE", "/api/admin/lobbies/abc"),
                             ("POST", "/api/admin/sessions/abc/kick")):
            r = await ahttp(srv.port, method, path, headers=headers)
            assert r.status == 401, (headers, method, path, r)
            assert json_body(r)["code"] == "unauthorized"
    r = await ahttp(srv.port, "GET", "/api/admin/sessions", headers=BEARER)
    assert r.status == 200 and json_body(r) == {"sessions": []}


async def test_admin_sessions_and_lobbies(servers):
    srv = servers.start(admin_token=ADMIN)
    a = await authed(srv.port, "Ada", password="pw")
    b = await authed(srv.port, "Bob", bot=True)
    lobby = await make_lobby(a, "Secret", private=True)
    await a.call("join_lobby", {"lobby_id": lobby["id"]})

    r = await ahttp(srv.port, "GET", "/api/admin/sessions", headers=BEARER)
    assert r.status == 200
    sessions = {s["peer_id"]: s for s in json_body(r)["sessions"]}
    assert set(sessions) == {a.peer_id, b.peer_id}
    sa, sb = sessions[a.peer_id], sessions[b.peer_id]
    assert set(sa) >= {"peer_id", "name", "is_bot", "connected", "lobby_id", "name_protected",
                       "created_ms", "last_seen_ms"}
    assert sa["name"] == "Ada" and sa["name_protected"] is True and sa["is_bot"] is False
    assert sa["connected"] is True and sa["lobby_id"] == lobby["id"]
    assert sb["name"] == "Bob" and sb["is_bot"] is True and sb["name_protected"] is False
    assert not sb["lobby_id"]
    assert abs(sa["created_ms"] - now_ms()) < 60_000
    # No token anywhere in the admin view.
    assert a.token not in r.body.decode() and b.token not in r.body.decode()

    r = await ahttp(srv.port, "GET", "/api/admin/lobbies", headers=BEARER)
    assert [l["id"] for l in json_body(r)["lobbies"]] == [lobby["id"]]
    assert json_body(r)["lobbies"][0]["private"] is True


async def test_admin_kick(servers):
    srv = servers.start(admin_token=ADMIN)
    a = await authed(srv.port, "Ada")
    b = await authed(srv.port, "Bob")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    await b.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    await a.next_push("participant_joined")

    r = await ahttp(srv.port, "POST", f"/api/admin/sessions/{b.peer_id}/kick", headers=BEARER)
    assert r.status == 200 and json_body(r) == {"ok": True}
    assert await b.wait_closed() == 4002
    # lobby_left (kicked) reaches the client before the close.
    assert (await b.next_push("lobby_left")) == {"lobby_id": lobby["id"], "reason": "kicked"}
    left = await a.next_push("participant_left")
    assert left == {"lobby_id": lobby["id"], "peer_id": b.peer_id, "reason": "kicked"}
    assert (await a.next_push("peer_removed")) == {"peer_id": b.peer_id}
    # The session is deleted: its token no longer works and its name is free.
    d = await authed(srv.port)
    e = await Client.connect(srv.port)
    await e.fail("auth", {"token": b.token}, code="invalid_token")
    await d.call("set_name", {"name": "Bob"})
    r = await ahttp(srv.port, "GET", "/api/admin/sessions", headers=BEARER)
    assert b.peer_id not in [s["peer_id"] for s in json_body(r)["sessions"]]

    r = await ahttp(srv.port, "POST", f"/api/admin/sessions/{b.peer_id}/kick", headers=BEARER)
    assert r.status == 404 and json_body(r)["code"] == "session_not_found"


async def test_admin_rename(servers):
    srv = servers.start(admin_token=ADMIN)
    a = await authed(srv.port, "Ada")
    b = await authed(srv.port, "Bob")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await b.call("join_lobby", {"lobby_id": lobby["id"]})

    r = await ahttp(srv.port, "POST", f"/api/admin/sessions/{b.peer_id}/rename",
                    body={"name": "Zed"}, headers=BEARER)
    assert r.status == 200 and json_body(r) == {"peer_id": b.peer_id, "name": "Zed"}
    assert (await b.next_push("name_changed")) == {"name": "Zed"}
    for x in (a, b):
        d = await x.next_push("participant_updated")
        assert d["participant"]["peer_id"] == b.peer_id and d["participant"]["name"] == "Zed"

    r = await ahttp(srv.port, "POST", f"/api/admin/sessions/{b.peer_id}/rename",
                    body={"name": "ada"}, headers=BEARER)
    assert r.status == 409 and json_body(r)["code"] == "name_taken"
    r = await ahttp(srv.port, "POST", f"/api/admin/sessions/{b.peer_id}/rename",
                    body={"name": ""}, headers=BEARER)
    assert r.status == 400 and json_body(r)["code"] == "bad_field"
    r = await ahttp(srv.port, "POST", "/api/admin/sessions/0000000000000000/rename",
                    body={"name": "Q"}, headers=BEARER)
    assert r.status == 404 and json_body(r)["code"] == "session_not_found"
    # The old name is free again.
    c = await authed(srv.port)
    await c.call("set_name", {"name": "Bob"})


async def test_admin_password_set_and_clear(servers):
    srv = servers.start(admin_token=ADMIN)
    a = await authed(srv.port, "Ada")
    r = await ahttp(srv.port, "PUT", "/api/admin/names/ADA/password", body={"password": "pw"},
                    headers=BEARER)
    assert r.status == 200 and json_body(r) == {"ok": True}
    b = await authed(srv.port)
    await b.fail("set_name", {"name": "Ada"}, code="password_required")
    await b.fail("set_name", {"name": "Ada", "password": "nope"}, code="wrong_password")
    token = a.token
    await a.close()
    a2 = await resume(srv.port, token)
    assert a2.welcome["name_protected"] is True

    r = await ahttp(srv.port, "DELETE", "/api/admin/names/Ada/password", headers=BEARER)
    assert r.status == 200 and json_body(r) == {"ok": True}
    await b.fail("set_name", {"name": "Ada"}, code="name_taken")  # held, unprotected now

    r = await ahttp(srv.port, "PUT", "/api/admin/names/Ada/password", body={"password": ""},
                    headers=BEARER)
    assert r.status == 400 and json_body(r)["code"] == "bad_field"
    r = await ahttp(srv.port, "PUT", "/api/admin/names/Ada/password", body={"password": 5},
                    headers=BEARER)
    assert r.status == 400 and json_body(r)["code"] == "bad_field"
    r = await ahttp(srv.port, "PUT", "/api/admin/names/Nobody/password",
                    body={"password": "pw"}, headers=BEARER)
    assert r.status == 404 and json_body(r)["code"] == "name_not_found"

    # With the admin's password, another session can take the name over.
    r = await ahttp(srv.port, "PUT", "/api/admin/names/ada/password", body={"password": "pw2"},
                    headers=BEARER)
    assert r.status == 200
    d = await b.call("set_name", {"name": "Ada", "password": "pw2"})
    assert d["protected"] is True
    assert (await a2.next_push("name_changed")) == {"name": ""}


async def test_admin_remove_lobby(servers):
    srv = servers.start(admin_token=ADMIN)
    a = await authed(srv.port, "Ada")
    b = await authed(srv.port, "Bob")
    lobby = await make_lobby(a, "Doomed")
    await a.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    await b.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    r = await ahttp(srv.port, "DELETE", f"/api/admin/lobbies/{lobby['id']}", headers=BEARER)
    assert r.status == 200 and json_body(r) == {"ok": True}
    for x in (a, b):
        d = await x.next_push("lobby_left")
        assert d == {"lobby_id": lobby["id"], "reason": "lobby_removed"}
    await a.fail("chat", {"text": "x"}, code="not_in_lobby")
    await a.fail("join_lobby", {"lobby_id": lobby["id"]}, code="lobby_not_found")
    assert (await a.call("list_lobbies"))["lobbies"] == []
    r = await ahttp(srv.port, "DELETE", f"/api/admin/lobbies/{lobby['id']}", headers=BEARER)
    assert r.status == 404 and json_body(r)["code"] == "lobby_not_found"
    # The name is free again.
    await make_lobby(a, "Doomed")


async def test_admin_creates_shows_and_changes_lobbies(servers):
    srv = servers.start("--max-lobbies-per-address", "1", admin_token=ADMIN)
    a = await authed(srv.port, "Ada")
    b = await authed(srv.port, "Bob")
    await make_lobby(a, "Ada's")  # the address's one lobby: the admin's are not counted
    r = await ahttp(srv.port, "POST", "/api/admin/lobbies",
                    body={"name": "Hall", "private": True, "max_participants": 5}, headers=BEARER)
    assert r.status == 201, r
    hall = json_body(r)["lobby"]
    assert (hall["name"], hall["private"], hall["max_participants"]) == ("Hall", True, 5)
    r = await ahttp(srv.port, "POST", "/api/admin/lobbies", body={"name": "hall"}, headers=BEARER)
    assert r.status == 409 and json_body(r)["code"] == "lobby_exists"
    r = await ahttp(srv.port, "POST", "/api/admin/lobbies", body={}, headers=BEARER)
    assert r.status == 400 and json_body(r)["field"] == "data.name"

    await a.call("join_lobby", {"lobby_id": hall["id"]})
    await b.call("join_lobby", {"lobby_id": hall["id"]})
    r = await ahttp(srv.port, "GET", f"/api/admin/lobbies/{hall['id']}", headers=BEARER)
    assert r.status == 200
    detail = json_body(r)
    assert detail["lobby"]["id"] == hall["id"] and detail["lobby"]["participants"] == 2
    assert [p["peer_id"] for p in detail["participants"]] == [a.peer_id, b.peer_id]
    r = await ahttp(srv.port, "GET", "/api/admin/lobbies/0000000000000000", headers=BEARER)
    assert r.status == 404 and json_body(r)["code"] == "lobby_not_found"

    # A cap below the member count: nobody leaves, a newcomer is refused.
    r = await ahttp(srv.port, "PATCH", f"/api/admin/lobbies/{hall['id']}",
                    body={"name": "Great hall", "private": False, "max_participants": 1},
                    headers=BEARER)
    assert r.status == 200, r
    assert json_body(r)["lobby"]["name"] == "Great hall"
    for x in (a, b):
        d = await x.next_push("lobby_updated")
        assert d["lobby_id"] == hall["id"]
        assert (d["lobby"]["name"], d["lobby"]["private"], d["lobby"]["max_participants"],
                d["lobby"]["participants"]) == ("Great hall", False, 1, 2)
    c = await authed(srv.port, "Cy")
    await c.fail("join_lobby", {"name": "great hall"}, code="lobby_full")
    r = await ahttp(srv.port, "PATCH", f"/api/admin/lobbies/{hall['id']}",
                    body={"persistent": "yes"}, headers=BEARER)
    assert r.status == 400 and json_body(r)["field"] == "data.persistent"
    r = await ahttp(srv.port, "PATCH", f"/api/admin/lobbies/{hall['id']}",
                    body={"name": "ada's"}, headers=BEARER)
    assert r.status == 409 and json_body(r)["code"] == "lobby_exists"
    r = await ahttp(srv.port, "PUT", f"/api/admin/lobbies/{hall['id']}", body={}, headers=BEARER)
    assert r.status == 405


async def test_admin_notice_is_system_chat_and_survives_kill9(servers):
    srv = servers.start(admin_token=ADMIN)
    a = await authed(srv.port, "Ada")
    lobby = await make_lobby(a, "Room")
    await a.call("join_lobby", {"lobby_id": lobby["id"]})
    await a.call("chat", {"text": "hi"})
    await a.next_push("chat")
    r = await ahttp(srv.port, "POST", f"/api/admin/lobbies/{lobby['id']}/notice",
                    body={"text": "Maintenance at noon"}, headers=BEARER)
    assert r.status == 201, r
    m = json_body(r)["message"]
    assert (m["offset"], m["sender"], m["sender_name"], m["text"], m["system"]) == \
        (2, "", "", "Maintenance at noon", True)
    push = await a.next_push("chat")
    assert push["message"] == m
    r = await ahttp(srv.port, "POST", f"/api/admin/lobbies/{lobby['id']}/notice",
                    body={"text": ""}, headers=BEARER)
    assert r.status == 400 and json_body(r)["code"] == "bad_field"
    r = await ahttp(srv.port, "POST", "/api/admin/lobbies/0000000000000000/notice",
                    body={"text": "x"}, headers=BEARER)
    assert r.status == 404 and json_body(r)["code"] == "lobby_not_found"

    # Acknowledged (201), so it survives a crash, still the server's.
    token = a.token
    srv.kill9()
    srv.start()
    a2 = await resume(srv.port, token)
    hist = a2.welcome["lobby"]["history"]
    assert [(h["offset"], h["sender"], h["system"]) for h in hist] == \
        [(1, a.peer_id, False), (2, "", True)]


# ---- static files --------------------------------------------------------------------

SECRET = b"TOP-SECRET-OUTSIDE-THE-STATIC-DIR"


@pytest.fixture
def static_tree(tmp_path):
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<!doctype html><title>lobbykit test</title>")
    (root / "sub" / "a.txt").write_bytes(b"hello from sub")
    (root / "sub" / "index.html").write_bytes(b"sub index")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / "..secret").write_bytes(b"dotdot-name-inside")
    return root


TRAVERSALS = [
    "/../secret.txt",
    "/sub/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/sub%2f..%2f..%2fsecret.txt",
    "/sub/..%2f..%2fsecret.txt",
    "/%2f..%2f..%2fsecret.txt",
    "/..%5csecret.txt",
    "/sub/..\\..\\secret.txt",
    "/%252e%252e/secret.txt",
    "/index.html%00",
    "/index.html%00.txt",
    "/%00/../secret.txt",
    "/sub/a.txt%00",
    "//../secret.txt",
    "/./../secret.txt",
    "/%c0%ae%c0%ae/secret.txt",
]


def _raw_get(port, path):
    return raw_http(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                    .encode("latin-1"), timeout=5)


async def test_static_files(servers, static_tree):
    srv = servers.start(static_dir=static_tree)
    r = await ahttp(srv.port, "GET", "/")
    assert r.status == 200 and r.body == (static_tree / "index.html").read_bytes()
    assert r.headers.get("content-type", "").startswith("text/html")
    r = await ahttp(srv.port, "GET", "/sub/a.txt")
    assert r.status == 200 and r.body == b"hello from sub"
    r = await ahttp(srv.port, "GET", "/sub/")
    assert r.status == 200 and r.body == b"sub index"
    r = await ahttp(srv.port, "GET", "/missing.html")
    assert r.status == 404
    r = await ahttp(srv.port, "GET", "/sub/missing.txt")
    assert r.status == 404


async def test_static_traversal_refused(servers, static_tree):
    srv = servers.start(static_dir=static_tree)
    failures = []
    for path in TRAVERSALS:
        resp = await asyncio.to_thread(_raw_get, srv.port, path)
        status = raw_status(resp)
        if SECRET in resp:
            failures.append(f"{path}: LEAKED the file outside the static dir")
        elif status is None and not resp.eof:
            failures.append(f"{path}: no answer and no hang-up within 5 s")
        elif status is not None and not (400 <= status < 500):
            failures.append(f"{path}: status {status}, expected refusal (4xx): {resp[:200]!r}")
    assert not failures, "\n".join(failures)
    # Still serving.
    r = await ahttp(srv.port, "GET", "/sub/a.txt")
    assert r.status == 200 and r.body == b"hello from sub"


async def test_no_static_dir_is_404(server):
    r = await ahttp(server.port, "GET", "/")
    assert r.status == 404
    r = await ahttp(server.port, "GET", "/index.html")
    assert r.status == 404


async def test_oversized_request_headers(servers, static_tree):
    srv = servers.start(static_dir=static_tree)
    healthy = await authed(srv.port, "Ada")
    # Headers over 4 KiB: 431 and the connection closes (docs/protocol.md, HTTP API).
    big = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (64 * 1024) + b"\r\n\r\n"
    resp = await asyncio.to_thread(raw_http, srv.port, big, 5)
    assert raw_status(resp) == 431 and b"\r\nconnection: close\r\n" in resp, resp[:300]
    assert b"lobbykit test" not in resp
    # Many headers adding up to a lot, too.
    many = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + \
        b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 60) for i in range(1000)) + b"\r\n"
    resp = await asyncio.to_thread(raw_http, srv.port, many, 5)
    assert raw_status(resp) == 431 and b"\r\nconnection: close\r\n" in resp, resp[:300]
    # Just under the limit is served.
    ok = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Ok: " + b"o" * 3000 + \
        b"\r\nConnection: close\r\n\r\n"
    resp = await asyncio.to_thread(raw_http, srv.port, ok, 5)
    assert raw_status(resp) == 200 and b"lobbykit test" in resp, resp[:200]
    # Others are still served, over HTTP and WebSocket.
    r = await ahttp(srv.port, "GET", "/")
    assert r.status == 200
    r = await ahttp(srv.port, "GET", "/api/health")
    assert r.status == 200
    await healthy.ping()
