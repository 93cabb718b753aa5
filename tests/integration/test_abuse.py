"""Abuse limits of the real server: deceptive names, the rate-limit reply, session caps and
the short life of unnamed sessions, lobby quotas.

Expected values are from docs/protocol.md ("Names", "Limits", "Errors", "Close codes");
the limits are set small by flag so that each test is quick.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from conftest import (Client, HOST, ahttp, authed, connect, make_lobby, metrics, resume,
                      until, ws_burst, ws_frame, OP_TEXT)


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
