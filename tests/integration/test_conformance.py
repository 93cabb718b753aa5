"""Transport-level attacks and conformance: HTTP request framing, pipelining and keep-alive
(the single write that used to freeze the server's loop), the WebSocket upgrade, frames a
server must refuse, close frames.

Every attack is followed by the two checks that would have caught the freeze: the server's
CPU goes back to idle, and clients are still served (an already-connected WebSocket client
gets a ping reply, a new HTTP client gets /api/health). Expected answers come from
docs/protocol.md ("HTTP API", "Close codes")."""

import asyncio
import base64
import json
import os
import re
import socket
import struct
import time

import pytest

from conftest import (HOST, OP_CLOSE, OP_TEXT, RawWs, ahttp, assert_healthy, assert_idle,
                      authed, close_code_of, raw_http, raw_status, ws_frame)


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance-www")
    (root / "index.html").write_bytes(b"<!doctype html>conformance")
    # Larger than what one write and the socket buffers take, so it is still being sent
    # while pipelined bytes wait behind the request.
    (root / "big.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    return root


@pytest.fixture(scope="module")
def srv(module_servers, www):
    return module_servers.start(memory=True, static_dir=www)


def body_req(method: str, path: str = "/api/lobbies", body: bytes = b'{"name":"pipelined"}',
             extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def plain_req(method: str, path: str = "/api/health") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


CHUNKED = (b"POST /api/lobbies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"14\r\n{\"name\":\"chunked-1\"}\r\n0\r\n\r\n")
BOTH_LENGTHS = (b"POST /api/lobbies HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) +
           b"\r\nSec-WebSocket-Version: 13\r\n\r\n")

FIRST = {m: plain_req(m) for m in ("GET", "HEAD", "DELETE", "OPTIONS")}
FIRST.update({m: body_req(m) for m in ("POST", "PUT", "PATCH")})
FIRST["both-lengths"] = BOTH_LENGTHS
FIRST["chunked"] = CHUNKED
SECOND = {
    "post": body_req("POST"),
    "put": body_req("PUT", "/api/lobbies/x"),
    "chunked": CHUNKED,
    "both-lengths": BOTH_LENGTHS,
    "post-without-length": b"POST /api/lobbies HTTP/1.1\r\nHost: x\r\n\r\n{}",
    "get-with-body": body_req("GET", "/api/health"),
    "upgrade": UPGRADE,
}


def write_read(port: int, chunks, pause: float = 0.0, timeout: float = 3.0) -> bytes:
    """Blocking: writes each chunk (pausing between), then reads until the server closes or
    `timeout` passes. Write errors are ignored: the server may hang up half-way."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    out = b""
    try:
        for i, chunk in enumerate(chunks):
            if i and pause:
                time.sleep(pause)
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


async def still_served(srv, healthy) -> None:
    await assert_idle(srv)
    await assert_healthy(healthy)
    r = await ahttp(srv.port, "GET", "/api/health")
    assert r.status == 200 and r.json()["status"] == "ok", r


# ---- the freeze: pipelined requests in one write -------------------------------------

def responses(data: bytes, bodiless: int = 0) -> list:
    """Splits what the server sent into (status, head, body) by Content-Length; a 101 ends
    HTTP on the connection. The first `bodiless` answers are to HEAD requests."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 "), data[:300]
        status = int(head[9:12])
        if status == 101:
            out.append((status, head, b""))
            break
        m = re.search(rb"(?im)^content-length: (\d+)\r?$", head)
        assert m, head
        n = int(m.group(1)) if len(out) >= bodiless else 0
        assert len(rest) >= n, (head, rest[:100])
        out.append((status, head, rest[:n]))
        data = rest[n:]
    return out


# What a request gets when it is answered: a refused framing closes the connection.
CLOSES = {"both-lengths": 400, "chunked": 411, "post-without-length": 411}


@pytest.mark.parametrize("second", list(SECOND))
@pytest.mark.parametrize("first", list(FIRST))
async def test_pipelined_pair_in_one_write(srv, first, second):
    """Two requests in one write are answered in order, as HTTP/1.1 pipelining asks,
    unless the first one's framing is refused: then it is answered and the connection ends."""
    healthy = await authed(srv.port, label="healthy")
    got = await asyncio.to_thread(write_read, srv.port, [FIRST[first] + SECOND[second]])
    answers = responses(got, 1 if first == "HEAD" else 0)
    want = 1 if first in CLOSES else 2
    assert len(answers) == want, [a[:2] for a in answers]
    if first in CLOSES:
        assert answers[0][0] == CLOSES[first] and b"connection: close" in answers[0][1]
    else:
        assert answers[0][0] < 500, answers[0][:2]
        assert b"connection: keep-alive" in answers[0][1], answers[0][1]
        if second in CLOSES:
            assert answers[1][0] == CLOSES[second], answers[1][:2]
        elif second == "upgrade":
            assert answers[1][0] == 101
        else:
            assert answers[1][0] < 500, answers[1][:2]
    await still_served(srv, healthy)


async def test_the_reported_freeze_answers_both_requests(srv):
    """GET /api/health then POST /api/lobbies in one write: both are answered, in order."""
    healthy = await authed(srv.port, label="healthy")
    body = b'{"name":"reported-freeze"}'
    got = await asyncio.to_thread(write_read, srv.port,
                                  [FIRST["GET"] + body_req("POST", body=body)])
    answers = responses(got)
    assert [a[0] for a in answers] == [200, 201], [a[:2] for a in answers]
    assert json.loads(answers[0][2])["status"] == "ok"
    assert json.loads(answers[1][2])["lobby"]["name"] == "reported-freeze"
    await still_served(srv, healthy)


@pytest.mark.parametrize("count", [3, 10, 50])
async def test_many_pipelined_requests(srv, count):
    healthy = await authed(srv.port, label="healthy")
    kinds = list(FIRST.values()) + list(SECOND.values())
    payload = b"".join(kinds[i % len(kinds)] for i in range(count))
    await asyncio.to_thread(write_read, srv.port, [payload])
    await still_served(srv, healthy)


@pytest.mark.parametrize("step", [1, 7, 64])
async def test_pipelined_bodies_split_across_writes(srv, step):
    """POST, POST, GET, POST written a few bytes at a time: bodies and request boundaries
    fall in the middle of writes."""
    healthy = await authed(srv.port, label="healthy")
    data = SECOND["post"] + SECOND["post"] + FIRST["GET"] + BOTH_LENGTHS + SECOND["post"]
    chunks = [data[i:i + step] for i in range(0, len(data), step)]
    await asyncio.to_thread(write_read, srv.port, chunks, 0.0005 if step == 1 else 0.005)
    await still_served(srv, healthy)


async def test_pipelined_bytes_behind_a_static_file_nobody_reads(srv):
    """A static file is requested with a pipelined POST behind the request, and the client
    never reads: the loop goes back to idle and serves others."""
    healthy = await authed(srv.port, label="healthy")
    s = socket.create_connection((HOST, srv.port))
    try:
        s.sendall(plain_req("GET", "/index.html") + SECOND["post"])
        await still_served(srv, healthy)
    finally:
        s.close()


# ---- HTTP request framing ------------------------------------------------------------

@pytest.mark.parametrize("request_bytes,status,code", [
    (BOTH_LENGTHS, 400, b'"bad_request"'),
    (CHUNKED, 411, b'"length_required"'),
    (b"POST /api/lobbies HTTP/1.1\r\nHost: x\r\n\r\n", 411, b'"length_required"'),
    (b"PUT /api/lobbies HTTP/1.1\r\nHost: x\r\n\r\n", 411, b'"length_required"'),
    (body_req("POST", extra="Content-Length: 3\r\n"), 400, b'"bad_request"'),
    (b"POST /api/lobbies HTTP/1.1\r\nHost: x\r\nContent-Length: +20\r\n\r\n" + b"x" * 20,
     400, b'"bad_request"'),
    (b"POST /api/lobbies HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}", 400,
     b'"bad_request"'),
], ids=["both-lengths", "chunked", "post-no-length", "put-no-length", "two-lengths",
        "signed-length", "junk-length"])
async def test_request_framing_is_refused(srv, request_bytes, status, code):
    healthy = await authed(srv.port, label="healthy")
    got = await asyncio.to_thread(raw_http, srv.port, request_bytes)
    assert raw_status(got) == status, got[:300]
    assert code in got and b"connection: close" in got.lower(), got[:400]
    await still_served(srv, healthy)


async def test_keep_alive_serves_requests_one_after_another(srv):
    """One connection, requests sent one at a time after each answer (as browsers do)."""
    s = socket.create_connection((HOST, srv.port), timeout=5)
    try:
        for i, req in enumerate([plain_req("GET"), body_req("POST", body=b'{"name":"ka-1"}'),
                                 plain_req("GET", "/"), plain_req("GET", "/api/lobbies")]):
            s.sendall(req)
            data = b""
            while True:
                answers = None
                try:
                    answers = responses(data)
                except AssertionError:
                    pass
                if answers:
                    break
                chunk = s.recv(65536)
                assert chunk, f"request {i}: the server closed a kept-alive connection"
                data += chunk
            assert answers[0][0] in (200, 201), (i, answers[0][:2])
            assert b"connection: keep-alive" in answers[0][1]
    finally:
        s.close()


@pytest.mark.parametrize("req", [
    b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/health HTTP/1.0\r\n\r\n",
], ids=["connection-close", "http-1.0"])
async def test_close_is_honoured(srv, req):
    t0 = time.monotonic()
    got = await asyncio.to_thread(write_read, srv.port, [req], 0.0, 5.0)
    assert raw_status(got) == 200 and b"\r\nconnection: close\r\n" in got.lower(), got[:300]
    # write_read reads until the server closes, or 5 s.
    assert time.monotonic() - t0 < 4, "the connection stayed open"


async def test_bad_request_lines_get_400(srv):
    for req in (b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET x HTTP/1.1\r\n\r\n",
                b"G\x01T / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\n bad-fold\r\n\r\n",
                b"GET / HTTP/1.1\r\nname : v\r\n\r\n", b"GET / HTTP/1.1\nHost: x\n\n"):
        got = await asyncio.to_thread(raw_http, srv.port, req)
        assert raw_status(got) == 400, (req, got[:200])


async def test_oversized_head_gets_431(srv):
    req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n"
    got = await asyncio.to_thread(raw_http, srv.port, req)
    assert raw_status(got) == 431, got[:200]


async def test_static_file_is_served_whole(srv, www):
    got = await asyncio.to_thread(raw_http, srv.port, plain_req("GET", "/big.bin"), 20.0)
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    assert raw_status(got) == 200 and body == (www / "big.bin").read_bytes(), head
    head_only = await asyncio.to_thread(raw_http, srv.port, plain_req("HEAD", "/big.bin"))
    assert raw_status(head_only) == 200 and head_only.endswith(b"\r\n\r\n"), head_only[:300]
    assert b"content-length: %d" % (4 * 1024 * 1024) in head_only.lower()


# ---- WebSocket upgrade version -------------------------------------------------------

def upgrade_with(port: int, version_header: bytes) -> bytes:
    req = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n" +
           version_header + b"\r\n")
    return write_read(port, [req], timeout=3.0)


@pytest.mark.parametrize("version", [b"", b"Sec-WebSocket-Version: 12\r\n",
                                     b"Sec-WebSocket-Version: 8\r\n",
                                     b"Sec-WebSocket-Version: 14\r\n",
                                     b"Sec-WebSocket-Version: 13x\r\n"],
                         ids=["none", "12", "8", "14", "13x"])
async def test_other_websocket_versions_get_426(srv, version):
    got = await asyncio.to_thread(upgrade_with, srv.port, version)
    assert raw_status(got) == 426, got[:300]
    assert b"\r\nsec-websocket-version: 13\r\n" in got.lower(), got[:300]


async def test_version_13_is_upgraded(srv):
    got = await asyncio.to_thread(upgrade_with, srv.port, b"Sec-WebSocket-Version: 13\r\n")
    assert raw_status(got) == 101, got[:300]


# ---- WebSocket close frames ----------------------------------------------------------

async def read_until_close(raw: RawWs, timeout: float = 5.0) -> tuple:
    """(the server's close code or None, text frames before it) once the close frame or the
    end of the connection arrives."""
    texts = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            fin, op, data = await raw.recv_frame(max(0.01, deadline - time.monotonic()))
        except EOFError:
            return None, texts
        if op == OP_CLOSE:
            return close_code_of(data), texts
        if op == OP_TEXT:
            texts.append(data)


async def close_exchange(port: int, payload: bytes, then: bytes = b"") -> tuple:
    """Authenticates a raw client, sends a close frame with `payload` (and `then` in the
    same write), and returns (the server's close code, text frames after the close)."""
    raw = await RawWs.connect(port)
    try:
        await raw.send_json({"type": "auth", "id": "a"})
        assert (await raw.recv_json())["type"] == "welcome"
        await raw.send_bytes(ws_frame(OP_CLOSE, payload) + then)
        return await read_until_close(raw)
    finally:
        raw.abort()


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


@pytest.mark.parametrize("payload,answer", [
    (close_payload(5000), 1002),
    (close_payload(65535), 1002),
    (close_payload(999), 1002),
    (close_payload(1004), 1002),
    (close_payload(1005), 1002),
    (close_payload(1006), 1002),
    (close_payload(1015), 1002),
    (close_payload(2999), 1002),
    (b"\x03", 1002),
    (close_payload(1000, b"bye \xff"), 1007),
    (close_payload(4000, b"\xc0\xaf"), 1007),
], ids=["5000", "65535", "999", "1004", "1005", "1006", "1015", "2999", "one-byte",
        "reason-not-utf8", "reason-overlong"])
async def test_malformed_close_frame_is_answered(srv, payload, answer):
    healthy = await authed(srv.port, label="healthy")
    code, _ = await close_exchange(srv.port, payload)
    assert code == answer
    await assert_healthy(healthy)


@pytest.mark.parametrize("payload,answer", [
    (b"", None), (close_payload(1000), 1000), (close_payload(1001, b"going"), 1001),
    (close_payload(3000), 3000), (close_payload(4999, "fin \u00e9".encode()), 4999),
], ids=["empty", "1000", "1001-reason", "3000", "4999-utf8-reason"])
async def test_well_formed_close_is_echoed(srv, payload, answer):
    code, _ = await close_exchange(srv.port, payload)
    assert code == answer


async def test_nothing_after_the_clients_close_frame_is_acted_on(srv):
    """A close frame, then in the same write a chat and a ping with an id: the chat is not
    stored or broadcast, the ping is not answered."""
    listener = await authed(srv.port, name="conf-listener")
    lobby = (await listener.call("create_lobby", {"name": "conformance-after-close"}))["lobby"]
    await listener.call("join_lobby", {"lobby_id": lobby["id"]})

    raw = await RawWs.connect(srv.port)
    try:
        await raw.send_json({"type": "auth", "id": "a"})
        assert (await raw.recv_json())["type"] == "welcome"
        assert (await raw.request({"type": "set_name", "id": "n",
                                   "data": {"name": "conf-closer"}}))["type"] == "result"
        assert (await raw.request({"type": "join_lobby", "id": "j",
                                   "data": {"lobby_id": lobby["id"]}}))["type"] == "result"
        after = (ws_frame(OP_TEXT, b'{"type":"chat","id":"c","data":{"text":"after close"}}') +
                 ws_frame(OP_TEXT, b'{"type":"ping","id":"p"}'))
        await raw.send_bytes(ws_frame(OP_CLOSE, close_payload(1000)) + after)
        code, texts = await read_until_close(raw)
        assert code == 1000
        assert not any(b'"id":"c"' in t or b'"id":"p"' in t for t in texts), texts
    finally:
        raw.abort()
    history = await listener.call("chat_history", {"lobby_id": lobby["id"]})
    assert [m["text"] for m in history["messages"]] == [], history
    assert not any(p.get("type") == "chat" for p in listener.pushes), listener.pushes


# ---- WebSocket frames a server must refuse (RFC 6455 5.1, 5.2, 5.4, 5.5) -------------

def frame_raw(b0: int, payload: bytes, mask: bool = True) -> bytes:
    """A frame with a hand-set first byte (FIN, RSV bits, opcode)."""
    head = bytes([b0])
    n = len(payload)
    if mask:
        key = os.urandom(4)
        body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        return head + bytes([0x80 | n]) + key + body if n < 126 else \
            head + bytes([0x80 | 126]) + struct.pack("!H", n) + key + body
    return head + (bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n)) + payload


@pytest.mark.parametrize("frames", [
    frame_raw(0x81, b'{"type":"ping","id":"u"}', mask=False),      # unmasked text
    frame_raw(0x89, b"hi", mask=False),                             # unmasked ping
    frame_raw(0xC1, b'{"type":"ping","id":"r"}'),                   # RSV1, nothing negotiated
    frame_raw(0xA1, b'{"type":"ping","id":"r"}'),                   # RSV2
    frame_raw(0x83, b"x"),                                          # reserved data opcode
    frame_raw(0x8B, b"x"),                                          # reserved control opcode
    frame_raw(0x09, b"x"),                                          # fragmented ping
    frame_raw(0x89, b"p" * 126),                                    # ping over 125 bytes
    frame_raw(0x80, b"x"),                                          # continuation of nothing
    frame_raw(0x01, b'{"type":') + frame_raw(0x81, b'"ping"}'),     # new message inside one
], ids=["unmasked-text", "unmasked-ping", "rsv1", "rsv2", "opcode-3", "opcode-11",
        "fragmented-ping", "long-ping", "lone-continuation", "text-inside-text"])
async def test_protocol_violations_close_1002(srv, frames):
    healthy = await authed(srv.port, label="healthy")
    raw = await RawWs.connect(srv.port)
    try:
        await raw.send_json({"type": "auth", "id": "a"})
        assert (await raw.recv_json())["type"] == "welcome"
        await raw.send_bytes(frames + ws_frame(OP_TEXT, b'{"type":"ping","id":"after"}'))
        code, texts = await read_until_close(raw)
        assert code == 1002, (code, texts)
        # Nothing in or after the offending frame was acted on.
        assert not any(b'"id":"u"' in t or b'"id":"r"' in t or b'"after"' in t for t in texts)
    finally:
        raw.abort()
    await assert_healthy(healthy)
