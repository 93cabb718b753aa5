#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

The seeds are real protocol messages (from docs/protocol.md and the unit tests), encoded in
each target's input format (see the comment at the top of each fuzz_<target>.cpp). The files
are checked in; run this again after changing a format or adding a seed:

    /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, seeds):
    folder = os.path.join(HERE, "corpus", target)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def j(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def s(data):
    """A length-prefixed string, as fuzz::Input::text() reads it."""
    data = data.encode() if isinstance(data, str) else data
    assert len(data) < 0x8000
    return (bytes([len(data)]) if len(data) < 0x80
            else bytes([0x80 | (len(data) >> 8), len(data) & 0xFF])) + data


# --- envelope: one inbound message -----------------------------------------------------------

ENVELOPES = {
    "auth": {"type": "auth", "id": 1, "data": {}},
    "auth-resume": {"type": "auth", "id": "a1", "data": {"token": "5c0d" * 8}},
    "auth-bot": {"type": "auth", "data": {"bot": True}},
    "set-name": {"type": "set_name", "id": 2, "data": {"name": "Ada", "password": "pw"}},
    "ping": {"type": "ping", "id": 3},
    "list-lobbies": {"type": "list_lobbies", "id": 4, "data": None},
    "create-lobby": {"type": "create_lobby", "id": 5,
                     "data": {"name": "Standup", "private": False, "persistent": True,
                              "max_participants": 8}},
    "join-lobby": {"type": "join_lobby", "id": 7, "data": {"lobby_id": "3f0c9a1be4d27a55"}},
    "join-by-name": {"type": "join_lobby", "id": 8,
                     "data": {"name": "Standup", "has_media": True, "audio_muted": True}},
    "leave-lobby": {"type": "leave_lobby", "id": 9, "data": {}},
    "chat": {"type": "chat", "id": 10, "data": {"text": "hi \u00e9\u4e2d \U0001F600"}},
    "chat-history": {"type": "chat_history", "id": 11, "data": {"after": 41, "limit": 500}},
    "update-media": {"type": "update_media", "id": 12,
                     "data": {"has_media": True, "video_muted": True}},
    "relay-description": {"type": "relay_description", "id": 13,
                          "data": {"to": "9b1e0c6a2f4d7e13",
                                   "description": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"}}},
    "relay-candidate": {"type": "relay_candidate", "id": 14,
                        "data": {"to": "9b1e0c6a2f4d7e13",
                                 "candidate": {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host",
                                               "sdpMid": "0", "sdpMLineIndex": 0,
                                               "usernameFragment": "abcd"}}},
    "relay-end-of-candidates": {"type": "relay_candidate", "data": {"to": "9b1e0c6a2f4d7e13",
                                                                     "candidate": None}},
    "unknown-type": {"type": "bogus", "id": 15, "data": {}},
}
envelope_seeds = {name: j(msg) for name, msg in ENVELOPES.items()}
envelope_seeds.update({
    "escapes": r'{"type":"chat","id":"x\"y","data":{"text":"\u0041\ud83d\ude00\n\t\\ \/"}}',
    "whitespace": ' { "type" : "ping" , "id" : -7 , "data" : { } } ',
    "bad-json": '{"type":"chat","data":{"text":"hi"}',
    "not-object": '["auth",{}]',
    "id-float": '{"type":"ping","id":1.5}',
    "id-too-long": j({"type": "ping", "id": "i" * 65}),
    "type-empty": '{"type":"","data":{}}',
    "data-array": '{"type":"ping","data":[]}',
    "lone-surrogate": r'{"type":"ping","id":"\udc00"}',
    "too-deep": '{"type":"chat","data":' + '{"a":' * 40 + '1' + '}' * 40 + '}',
    "long-string": j({"type": "chat", "data": {"text": "abcdefghijklmnop" * 8}}),
})
write("envelope", envelope_seeds)

# --- messages: a selector byte ('0'..'?' pick 0..15), then the data object; files are named by it --

messages_seeds = {
    "0-auth": "0" + j({"token": "5c0d" * 8, "bot": False}),
    "1-set-name": "1" + j({"name": "  Ada Lovelace ", "password": "secret"}),
    "1-set-name-control": "1" + j({"name": "A\u0085da"}),
    "2-create-lobby": "2" + j({"name": "Standup", "private": True, "max_participants": 64}),
    "3-join-lobby": "3" + j({"lobby_id": "3f0c9a1be4d27a55", "has_media": True}),
    "3-join-both": "3" + j({"lobby_id": "3f0c", "name": "Standup"}),
    "4-chat": "4" + j({"text": "hi \u00e9 \U0001F600"}),
    "5-chat-history": "5" + j({"after": 42, "limit": 50}),
    "6-update-media": "6" + j({"has_media": True, "audio_muted": False, "video_muted": None}),
    "7-description": "7" + j({"to": "9b1e0c6a2f4d7e13",
                              "description": {"type": "answer", "sdp": "v=0\r\n"}}),
    "7-rollback": "7" + j({"to": "9b1e0c6a2f4d7e13", "description": {"type": "rollback"}}),
    "8-candidate": "8" + j({"to": "9b1e0c6a2f4d7e13",
                            "candidate": {"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host",
                                          "sdpMid": "0", "sdpMLineIndex": 0,
                                          "usernameFragment": None}}),
    "8-end-of-candidates": "8" + j({"to": "9b1e0c6a2f4d7e13", "candidate": None}),
    "9-name": b"9 " + "  \u00c9mile \u4e2d ".encode(),
    "9-name-white-space": b"9 " + " \u000b\u00a0Ada\t\u2003 Lovelace\u0085".encode(),
    # lobby id, offset (2 bytes), sender, sender name, text, time, peer id, name, flags,
    # lobby name, max participants, participant count, created (numbers: a count byte, then
    # that many big-endian bytes).
    "10-encoders": b":" + s("L123") + bytes([2, 1, 42]) + s("p1") + s("Ada")
                  + s("tab\t\"q\" \\ \u001a\u001f and more text than sixteen bytes")
                  + bytes([1, 7]) + s("p1") + s("Ada") + bytes([0x5f]) + s("Standup")
                  + bytes([1, 64, 1, 2, 2, 1, 0]),
    "11-set-name-tight": ";" + j({"name": "Bob", "password": "ab"}),
    "12-create-lobby-tight": "<" + j({"name": "Room", "max_participants": 3}),
    "15-chat-history-tight": "?" + j({"after": 0, "limit": 1}),
    # 'A'..'E': the bot requests of docs/bots.md.
    "A-provider-hello": "A" + j({"key": "k", "name": "voicebot host", "version": "1.0",
                                 "kinds": [{"kind": "assistant", "description": "Answers"},
                                           {"kind": "reader"}],
                                 "max_jobs": 4, "resume": {"provider_id": "p-1", "token": "t"}}),
    "B-provider-status": "B" + j({"load": 0.25, "jobs": ["j-1", "j-2"], "accepting": True}),
    "C-job": "C" + j({"job_id": "j-1", "reason": "done", "retry": False}),
    "D-add-bot": "D" + j({"kind": "assistant", "key": "helper-2", "metadata": {"lang": "en"}}),
    "E-remove-bot": "E" + j({"dispatch_id": "d-1"}),
}
write("messages", messages_seeds)

# --- router: a limits byte, then operations ---------------------------------------------------
# Mirrors fuzz_router.cpp: op byte (0 open, 1 close, 2 request, 3 raw, 4 advance+tick,
# 5 worker, 6 tick, 7 restart, 8 finish closes), its slot, and for a request the type index,
# the id mode, a flags byte and the choices its type reads, in that order.

TYPES = ["auth", "set_name", "ping", "list_lobbies", "create_lobby", "join_lobby", "leave_lobby",
         "chat", "chat_history", "update_media", "relay_description", "relay_candidate",
         "join_lobby", "chat", "unknown", "list_bot_kinds", "add_bot", "remove_bot",
         "provider_hello", "provider_status", "job_accept", "job_decline", "job_end",
         "provider_drain", "job_accept", "kick_member", "mute_member", "app_message",
         "set_metadata"]
NAMES = ["Ada", "ada", "Bo", " Cy ", "D\u00e9", "Ellen-Maria", "x\u0085y", ""]
LOBBY_NAMES = ["Standup", "standup", "Room", "Lobby \u00dcn\u00efcode", "a-very-long-lobby-name",
               "Lab", "Caf\u00e9"]
STEPS = [1, 40, 100, 999, 1000, 2001, 5001, 10000, 60001, 300001, 20001, 86400001]


def op_open(k): return bytes([0, k])
def op_close(k): return bytes([1, k])
def op_advance(ms): return bytes([4, STEPS.index(ms)])
def op_worker(): return bytes([5])
def op_tick(): return bytes([6])
def op_restart(): return bytes([7])
def op_finish_closes(): return bytes([8])


def op_raw(k, text):
    return bytes([3, k]) + s(text)


def req(k, type_, *choices, id_mode=1, bits=0):
    return bytes([2, k, TYPES.index(type_), id_mode, bits]) + bytes(choices)


def auth(k, token_index=None, bot=False):
    bits = (1 if token_index is not None else 0) | (4 if bot else 0)
    return req(k, "auth", *([token_index] if token_index is not None else []), bits=bits)


def set_name(k, name, password_index=None):
    bits = 1 if password_index is not None else 0
    return req(k, "set_name", NAMES.index(name), *([password_index] if bits else []), bits=bits)


def create(k, name, private=False, persistent=False):
    return req(k, "create_lobby", LOBBY_NAMES.index(name), bits=(1 if private else 0) | (2 if persistent else 0))


def join_known(k, lobby_index, media=False):
    return req(k, "join_lobby", lobby_index, bits=2 if media else 0)


def join_named(k, name, media=False):
    return req(k, "join_lobby", LOBBY_NAMES.index(name), bits=1 | (2 if media else 0))


def chat(k, text_index, extra=None):
    if extra is None:
        return req(k, "chat", text_index)
    return req(k, "chat", text_index, extra >> 8, extra & 0xFF, bits=1)


DEFAULT, TIGHT = b"\x00", b"\x01"
two_users = (op_open(0) + auth(0) + op_open(1) + auth(1)
             + set_name(0, "Ada") + set_name(1, "Bo")
             + create(0, "Standup") + join_known(0, 0, media=True) + join_named(1, "Standup", media=True))
# A member adds a bot; a provider (key "test-provider-key") accepts; the bot authenticates with
# the credential and joins; status, removal, a provider drain and the silence deadline follow.
with_bot = (op_open(0) + auth(0) + set_name(0, "Ada") + create(0, "Standup") + join_known(0, 0)
            + op_open(1) + req(1, "provider_hello", NAMES.index("Bo"), 0, bits=0x20)
            + req(0, "list_bot_kinds") + req(0, "add_bot", 0, bits=4)
            + req(1, "job_accept", 0) + op_open(2) + req(2, "auth", 0, bits=8)
            + req(2, "join_lobby", 0, bits=2))
router_seeds = {
    "bots": DEFAULT + with_bot + req(1, "provider_status", 0, bits=3 | 8)
        + req(0, "remove_bot", 0) + req(1, "provider_drain") + req(0, "add_bot", 1)
        + op_advance(1000) + op_advance(2001) + op_advance(5001),
    "bots-provider-lost": TIGHT + with_bot + op_close(1) + op_advance(2001) + op_advance(1000)
        + op_open(3) + req(3, "provider_hello", 0, 0, bits=4) + req(3, "job_decline", 0)
        + req(3, "job_end", 0, bits=2) + op_restart() + op_open(0) + auth(0, 0),
    # Application messages to the lobby and to one member, with a payload; metadata.
    "app-messages": DEFAULT + two_users + req(0, "app_message", 0) + req(0, "app_message", 0, 0, 0, bits=3)
        + req(1, "app_message", 1, 0, bits=1 | 8) + req(1, "set_metadata", 1)
        + req(0, "set_metadata", 0, bits=1),
    "auth-ping": DEFAULT + op_open(0) + auth(0) + req(0, "ping") + req(0, "list_lobbies", id_mode=2),
    "two-users-mesh": DEFAULT + two_users
        + req(0, "relay_description", 1, 0) + req(1, "relay_description", 0, 1)
        + req(0, "relay_candidate", 1, bits=6) + req(0, "relay_candidate", 1, bits=1)
        + req(0, "relay_description", 0, 0, bits=8),
    "chat-and-history": TIGHT + two_users + chat(0, 0) + chat(1, 2) + chat(0, 3) + chat(0, 5)
        + chat(1, 0, extra=300) + chat(0, 4) + req(1, "chat_history", 1, 2, bits=3)
        + req(1, "chat_history"),
    "media-and-leave": DEFAULT + two_users + req(0, "update_media", bits=1)
        + req(0, "update_media", bits=3 | 12) + req(1, "leave_lobby") + req(1, "leave_lobby"),
    "resume-and-replace": DEFAULT + op_open(0) + auth(0) + set_name(0, "Ada") + create(0, "Room")
        + join_known(0, 0, media=True) + op_close(0) + op_advance(1000) + op_open(1) + auth(1, 0)
        + op_open(2) + auth(2, 0) + op_finish_closes() + req(2, "ping"),
    "grace-expiry": TIGHT + two_users + op_close(1) + op_advance(2001) + op_advance(1000)
        + op_advance(5001) + op_advance(20001),
    "auth-timeout": TIGHT + op_open(0) + op_advance(1000) + op_tick() + op_finish_closes()
        + op_open(0) + req(0, "auth", bits=2),
    "protected-name": DEFAULT + op_open(0) + auth(0) + set_name(0, "Ada", 1) + op_worker()
        + op_open(1) + auth(1) + set_name(1, "ada") + set_name(1, "Ada", 0) + op_worker()
        + set_name(1, "Ada", 1) + op_worker() + set_name(0, "Bo"),
    "password-throttle": TIGHT + op_open(0) + auth(0) + set_name(0, "Ada", 1) + op_worker()
        + op_open(1) + auth(1) + set_name(1, "Ada", 0) + op_worker() + set_name(1, "Ada", 2)
        + op_worker() + set_name(1, "Ada", 0) + op_worker() + op_advance(1000)
        + set_name(1, "Ada", 1) + set_name(1, "Bo", 1) + op_worker(),
    "restart-resume": DEFAULT + op_open(0) + auth(0) + set_name(0, "Ada") + create(0, "Room", persistent=True)
        + join_known(0, 0) + chat(0, 0) + op_restart() + op_open(0) + auth(0, 0)
        + req(0, "chat_history") + chat(0, 1),
    "lobby-limits": TIGHT + op_open(0) + auth(0) + set_name(0, "Ada") + create(0, "Standup")
        + create(0, "standup") + create(0, "Room", private=True) + create(0, "Lobby \u00dcn\u00efcode")
        + create(0, "a-very-long-lobby-name") + req(0, "list_lobbies")
        + op_open(1) + auth(1) + set_name(1, "Bo") + op_open(2) + auth(2) + set_name(2, " Cy ")
        + op_open(3) + auth(3) + set_name(3, "D\u00e9")
        + join_known(0, 1) + join_known(1, 1) + join_known(2, 1) + join_known(3, 1),
    "raw-messages": DEFAULT + op_open(0) + op_raw(0, '{"type":"ping","id":1}')
        + op_raw(0, '{"type":"auth","id":"a","data":{"bot":true}}')
        + op_raw(0, '{"type":"chat","id":2,"data":{"text":"hi"}}')
        + op_raw(0, '{"type":"nope","id":[1]}') + op_raw(0, '{oops') + op_raw(0, '[]')
        + op_raw(0, '{"type":"join_lobby","id":3,"data":{"lobby_id":"x","name":"y"}}')
        + op_raw(0, b'{"type":"chat","data":{"text":"\xff"}}'),
    "rate-limit": TIGHT + op_open(0) + auth(0) + b"".join(req(0, "ping") for _ in range(12))
        + op_advance(1000) + req(0, "ping"),
    "unknown-conn": DEFAULT + req(3, "ping") + op_raw(2, '{"type":"auth","id":1}') + op_close(1),
    # Tight limits: 3 sessions per address (slots 0 and 3 share one), 6 in all; idle ones
    # (no name, no lobby, no connection) are evicted first and expire after 3 s. Two named
    # sessions gone and one connected leave no room for a fourth from that address.
    "session-caps": TIGHT + op_open(0) + auth(0) + op_close(0) + op_open(0) + auth(0)
        + op_close(0) + op_open(0) + auth(0) + set_name(0, "Ada") + op_close(0)
        + op_open(0) + auth(0) + set_name(0, "Bo") + op_close(0) + op_open(0) + auth(0)
        + op_open(3) + auth(3) + op_finish_closes() + op_advance(5001)
        + op_open(1) + auth(1) + op_open(2) + auth(2) + auth(1, 2),
    # Tight limits: 2 lobbies per session and per address.
    "lobby-quota": TIGHT + op_open(0) + auth(0) + set_name(0, "Ada") + create(0, "Standup")
        + create(0, "Room") + create(0, "Lab") + op_open(3) + auth(3) + set_name(3, "Bo")
        + create(3, "Caf\u00e9") + op_open(1) + auth(1) + set_name(1, " Cy ")
        + create(1, "Caf\u00e9") + req(0, "list_lobbies"),
    # Tight limits: over the rate every request with an id gets one rate_limited reply, until
    # the refusals run out (6) and the connection is closed (4006).
    "flood": TIGHT + op_open(0) + auth(0) + b"".join(req(0, "ping") for _ in range(16))
        + op_raw(0, '{"type":"ping"}') + op_finish_closes(),
}
write("router", router_seeds)

# --- http: a setup byte, then requests --------------------------------------------------------
# Mirrors fuzz_http.cpp: method index, path, query, authorization choice (0 none, 1 and 2 the
# right token, 3 a wrong one, 4 a string that follows), body, then a worker flag byte.
# In paths, \x01 is Ada's peer id, \x02 the lobby id, \x03 Ada's name.

METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "get", "OPTIONS"]



def http(method, path, auth=0, body="", query="", worker=0, auth_text=""):
    out = bytes([METHODS.index(method)]) + s(path) + s(query) + bytes([auth])
    if auth == 4:
        out += s(auth_text)
    return out + s(body) + bytes([worker])


ADMIN_AND_FILES = b"\x03"
http_seeds = {
    "health-metrics": b"\x00" + http("GET", "/api/health") + http("POST", "/api/health")
        + http("GET", "/api/metrics") + http("GET", "/api/nothing"),
    "lobbies": b"\x00" + http("GET", "/api/lobbies") + http("POST", "/api/lobbies", body=j({"name": "Daily"}))
        + http("POST", "/api/lobbies", body=j({"name": "Hidden", "private": True, "max_participants": 2}))
        + http("POST", "/api/lobbies", body="{oops") + http("POST", "/api/lobbies", body=j({"name": "STANDUP"}))
        + http("DELETE", "/api/lobbies"),
    "admin-off": b"\x00" + http("GET", "/api/admin/sessions", auth=1) + http("POST", "/api/admin/sessions/\x01/kick", auth=1),
    "admin-sessions": ADMIN_AND_FILES + http("GET", "/api/admin/sessions", auth=1)
        + http("GET", "/api/admin/lobbies", auth=2) + http("GET", "/api/admin/sessions")
        + http("GET", "/api/admin/sessions", auth=3)
        + http("GET", "/api/admin/sessions", auth=4, auth_text="Basic admin-secret"),
    "admin-rename-kick": ADMIN_AND_FILES
        + http("POST", "/api/admin/sessions/\x01/rename", auth=1, body=j({"name": "Grace"}))
        + http("POST", "/api/admin/sessions/\x01/rename", auth=1, body=j({"name": "Bo"}))
        + http("POST", "/api/admin/sessions/\x01/kick", auth=1)
        + http("POST", "/api/admin/sessions/nobody/kick", auth=1),
    "admin-passwords": ADMIN_AND_FILES
        + http("PUT", "/api/admin/names/\x03/password", auth=1, body=j({"password": "new"}), worker=1)
        + http("DELETE", "/api/admin/names/\x03/password", auth=1)
        + http("PUT", "/api/admin/names/Nobody/password", auth=1, body=j({"password": ""}))
        + http("GET", "/api/admin/names/%41da/password", auth=1),
    "admin-delete-lobby": ADMIN_AND_FILES + http("DELETE", "/api/admin/lobbies/\x02", auth=1)
        + http("DELETE", "/api/admin/lobbies/\x02", auth=1) + http("GET", "/api/admin/lobbies/%zz", auth=1),
    "static-files": ADMIN_AND_FILES + http("GET", "/") + http("HEAD", "/app.js") + http("GET", "/sub/")
        + http("GET", "/index.html", query="v=1") + http("POST", "/") + http("GET", "/missing.css"),
    "static-traversal": ADMIN_AND_FILES + http("GET", "/../secret.txt") + http("GET", "/%2e%2e/secret.txt")
        + http("GET", "/sub/%2E%2E/%2E%2E/secret.txt") + http("GET", "/link.txt")
        + http("GET", "/sub\\..\\..\\secret.txt") + http("GET", "//etc/passwd") + http("GET", "/%00"),
}
write("http", http_seeds)

# --- client_decode: an options byte, then lines ('\n'): frames, or events 0x01..0x06 ---------

LOBBY = {"id": "L1", "name": "Standup", "private": False, "persistent": False,
         "max_participants": 64, "participants": 2, "created_ms": 1764110000000}
ADA = {"peer_id": "p1", "name": "Ada", "has_media": True, "audio_muted": False,
       "video_muted": True, "is_bot": False, "connected": True}
BO = {"peer_id": "p2", "name": "Bo", "has_media": True, "audio_muted": False,
      "video_muted": False, "is_bot": False, "connected": True}


def message(offset, text="hi"):
    return {"offset": offset, "sender": "p2", "sender_name": "Bo", "text": text,
            "time_ms": 1764110000123 + offset}


SNAPSHOT = {"lobby": LOBBY, "participants": [ADA, BO], "history": [message(41), message(42)],
            "history_complete": True, "last_offset": 42}
LIMITS = {"max_message_bytes": 65536, "max_chat_bytes": 4096, "max_name_chars": 32,
          "max_lobby_name_chars": 64, "chat_history": 500, "resume_grace_ms": 60000}


def welcome(lobby=None, resumed=False, name="Ada", limits=LIMITS, id_=1):
    return j({"type": "welcome", "id": id_, "data": {
        "peer_id": "p1", "token": "5c0d" * 8, "name": name, "is_bot": False, "resumed": resumed,
        "name_protected": False, "protocol_version": 1, "lobby": lobby, "limits": limits}})


def push(type_, data):
    return j({"type": type_, "data": data})


def result(id_, data, type_="result"):
    return j({"type": type_, "id": id_, "data": data})


def lines(options, *items):
    return options + b"\n".join(i.encode() if isinstance(i, str) else i for i in items)


CLOSED, TIME, OPENED, REQUEST, RECONNECT, STOP = (bytes([c]) for c in range(1, 7))
client_seeds = {
    "welcome-in-lobby": lines(b"@", welcome(SNAPSHOT),
                              push("chat", {"lobby_id": "L1", "message": message(43)}),
                              push("chat", {"lobby_id": "L1", "message": message(45)}),
                              result(2, {"messages": [message(44), message(45)], "complete": True,
                                         "has_more": False, "last_offset": 45})),
    "pushes": lines(b"@", welcome(SNAPSHOT),
                    push("participant_joined", {"lobby_id": "L1", "participant": {**BO, "peer_id": "p3"}}),
                    push("participant_updated", {"lobby_id": "L1", "participant": {**ADA, "has_media": False}}),
                    push("participant_left", {"lobby_id": "L1", "peer_id": "p2", "reason": "left"}),
                    push("name_changed", {"name": "Ada L"}),
                    push("peer_added", {"peer_id": "p2", "name": "Bo", "is_bot": False, "should_offer": True}),
                    push("description", {"from": "p2", "description": {"type": "offer", "sdp": "v=0\r\n"}}),
                    push("candidate", {"from": "p2", "candidate": {"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host",
                                                                   "sdpMid": "0", "sdpMLineIndex": 0,
                                                                   "usernameFragment": "u"}}),
                    push("candidate", {"from": "p2", "candidate": None}),
                    push("peer_removed", {"peer_id": "p2"}),
                    push("error", {"code": "rate_limited", "error": "Slow down.", "retry_after_ms": 11}),
                    push("lobby_left", {"lobby_id": "L1", "reason": "kicked"})),
    "new-session-takes-name": lines(b"A", welcome(None, name=""),
                                    result(2, {"name": "Ada", "protected": False}),
                                    push("name_changed", {"name": "Ada"})),
    "requests": lines(b"A", welcome(None, name="Ada"),
                      REQUEST + bytes([1]) + j({"lobby_id": "L1", "has_media": True}).encode(),
                      result(2, SNAPSHOT),
                      REQUEST + bytes([3]) + j({"text": "hello"}).encode(),
                      result(3, {"offset": 43}),
                      REQUEST + bytes([5]) + j({"has_media": False}).encode(),
                      result(4, {"participant": {**ADA, "has_media": False}}),
                      REQUEST + bytes([2]) + b"{}",
                      result(5, {"code": "not_in_lobby", "error": "Join a lobby first."}, "error"),
                      REQUEST + bytes([0]) + b"{oops",
                      REQUEST + bytes([7]) + b"{}", TIME + bytes([6])),
    # Closed (1006), the backoff retry comes, opened: auth is request 3 (2 was the
    # chat_history of the first welcome, failed by the close), then chat_history is 4.
    "reconnect-resume": lines(b"A", welcome(SNAPSHOT), CLOSED + bytes([2]), TIME + bytes([3]),
                              OPENED, welcome(SNAPSHOT, resumed=True, id_=3),
                              result(4, {"messages": [], "complete": True, "has_more": False,
                                         "last_offset": 42}),
                              CLOSED + bytes([6]), RECONNECT, TIME + bytes([7])),
    # With a token: invalid_token, then a new auth (request 2) without it.
    "auth-errors": lines(b"D", result(1, {"code": "invalid_token", "error": "unknown"}, "error"),
                         welcome(None, name="", id_=2), CLOSED + bytes([8]), STOP),
    "small-history": lines(b"@", welcome(SNAPSHOT, limits={**LIMITS, "chat_history": 2}),
                           push("chat", {"lobby_id": "L1", "message": message(43)}),
                           push("chat", {"lobby_id": "L1", "message": message(44)})),
    "odd-values": lines(b"@", '{"type":"welcome","id":1,"data":{"peer_id":7,"lobby":{"lobby":[],'
                              '"participants":{},"history":[1,null,{"offset":-1}],"last_offset":1e99},'
                              '"limits":{"chat_history":18446744073709551615}}}',
                        '{"type":"chat","data":{"lobby_id":"L1","message":{"offset":"9"}}}',
                        '{"type":"result","id":"2","data":{}}', '{"type":"result","id":99999999999999999999}',
                        '[1,2]', '{"type":"participant_left"}'),
}
write("client_decode", client_seeds)


# --- wire: the transport's codecs; first byte 0 = HTTP request head, 1 = WebSocket frames,
# --- 2 = a close frame's payload -------------------------------------------------------------
def masked(b0, payload, key=b"\x37\xfa\x21\x3d"):
    n = len(payload)
    head = bytes([b0]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


wire_seeds = {
    "http-get": b"\x00GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "http-post": b"\x00POST /api/lobbies?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n"
                 b"Content-Type: application/json\r\n\r\n{\"name\":\"a\"}",
    "http-both-lengths": b"\x00POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "http-upgrade": b"\x00GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "http-pipelined": b"\x00\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
    "ws-text": b"\x01" + masked(0x81, b'{"type":"ping","id":1}'),
    "ws-fragments": b"\x01" + masked(0x01, b'{"type":') + masked(0x89, b"p") + masked(0x80, b'"ping"}'),
    "ws-close": b"\x01" + masked(0x88, b"\x03\xe8bye"),
    "ws-long": b"\x01" + masked(0x81, b"a" * 300),
    "ws-unmasked": b"\x01\x81\x05hello",
    "close-ok": b"\x02\x03\xe8done",
    "close-bad-utf8": b"\x02\x0f\xa0\xff",
    "close-one-byte": b"\x02\x03",
}
write("wire", wire_seeds)
