"""lobbykit.Server's bot operations (docs/bots.md) for a Python host: add, list, remove, drain,
against a provider speaking the documented protocol over Python's websockets."""

import asyncio
import json
import urllib.request

import pytest
import websockets

import lobbykit
from conftest import TIMEOUT, fast_limits

KEY = "host-test-key"


def make_lobby(port: int, name: str) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/lobbies", method="POST",
                                 data=json.dumps({"name": name}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return json.loads(r.read())["lobby"]["id"]


async def next_of(ws, type_: str) -> dict:
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if msg["type"] == type_:
            return msg.get("data") or {}


def test_a_host_adds_lists_drains_and_removes_bots():
    with lobbykit.Server(port=0, store_path="", provider_keys=[KEY],
                         limits=fast_limits()) as server:
        lobby = make_lobby(server.port, "with bots")

        with pytest.raises(lobbykit.RequestError) as info:
            server.add_bot("no-such-lobby", "assistant")
        assert info.value.code == "lobby_not_found"
        with pytest.raises(lobbykit.RequestError) as info:
            server.add_bot(lobby, "assistant")
        assert info.value.code == "unknown_kind"

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
                await ws.send(json.dumps({"type": "provider_hello", "id": 1, "data": {
                    "key": KEY, "name": "py-host", "max_jobs": 3,
                    "kinds": [{"kind": "assistant", "description": "answers"}]}}))
                hello = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                assert hello["type"] == "result", hello
                provider_id = hello["data"]["provider_id"]

                # The blocking host calls run on a thread: this loop keeps reading.
                added = await asyncio.to_thread(server.add_bot, lobby, "assistant", "",
                                                {"voice": "en"})
                assert added["created"] is True
                d = added["dispatch"]
                assert (d["kind"], d["key"], d["metadata"]) == ("assistant", "assistant",
                                                                {"voice": "en"})
                offer = await next_of(ws, "job_offer")
                assert offer["dispatch_id"] == d["dispatch_id"]
                assert offer["metadata"] == {"voice": "en"}

                again = await asyncio.to_thread(server.add_bot, lobby, "assistant")
                assert again["created"] is False
                assert again["dispatch"]["dispatch_id"] == d["dispatch_id"]

                overview = await asyncio.to_thread(server.bots)
                assert [x["dispatch_id"] for x in overview["dispatches"]] == [d["dispatch_id"]]
                assert overview["kinds"] == [{"kind": "assistant", "description": "answers",
                                              "available": True}]
                assert [(p["provider_id"], p["running"]) for p in overview["providers"]] == \
                    [(provider_id, 1)]

                await asyncio.to_thread(server.drain_bot_provider, provider_id)
                await next_of(ws, "drain")
                with pytest.raises(lobbykit.RequestError):
                    await asyncio.to_thread(server.drain_bot_provider, "p-none")

                await asyncio.to_thread(server.remove_bot, lobby, "assistant")
                cancel = await next_of(ws, "job_cancel")
                assert cancel == {"job_id": offer["job_id"], "reason": "removed"}
                with pytest.raises(lobbykit.RequestError) as info:
                    await asyncio.to_thread(server.remove_bot, lobby, "assistant")
                assert info.value.code == "dispatch_not_found"

        asyncio.run(scenario())


def test_bot_options_are_fields_of_the_option_classes():
    options = lobbykit.ServerOptions(provider_keys=["a", "sha256:" + "0" * 64])
    assert options.provider_keys == ["a", "sha256:" + "0" * 64]
    limits = lobbykit.Limits()
    assert limits.bot_reclaim_ms == 10_000
    assert limits.allow_member_bots is True
    assert "max_bots_per_lobby" in limits._fields
