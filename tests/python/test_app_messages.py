"""Application messages and metadata from Python (docs/embedding.md, "Application messages
and metadata"): AsyncClients on a real server exchange messages, a host's per-name handler
(plain and async def) answers or refuses, the host sends its own, and metadata changes reach
members and host as events."""

import asyncio

import pytest

import lobbykit
from lobbykit import events, server_events
from conftest import EventLog, TIMEOUT, fast_limits


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def url(server: lobbykit.Server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


async def next_of(stream, cls, predicate=lambda e: True):
    """The next event of class cls on an events() stream that matches."""
    async def find():
        async for event in stream:
            if isinstance(event, cls) and predicate(event):
                return event
        raise AssertionError(f"the stream ended before a {cls.__name__}")
    return await asyncio.wait_for(find(), TIMEOUT)


def test_async_clients_exchange_messages_and_handlers_answer():
    async def main():
        with lobbykit.Server(port=0, store_path="", limits=fast_limits()) as server:
            log = EventLog()
            server.subscribe(log)
            asked = []

            async def roll(request):
                asked.append(request)
                await asyncio.sleep(0)  # e.g. a game engine in another task
                return {"reply": {"dice": 4}}  # handled: nobody else receives it

            def everything(request):
                asked.append(request)
                if request["type"] == "cheat":
                    raise lobbykit.Denied("not_allowed", "No cheating.")
                if request["type"] == "echo":
                    return {"reply": request["payload"], "deliver": True}
                return None

            server.on_app_message("dice:roll", roll)
            server.on_app_message("", everything)

            async with lobbykit.AsyncClient(url(server), name="Ada") as ada, \
                    lobbykit.AsyncClient(url(server), name="Bo") as bo:
                lobby = server.create_lobby("Table")
                await ada.join_lobby(lobby.id)
                await bo.join_lobby(lobby.id)
                bo_stream = bo.events()
                ada_peer = (await ada.snapshot()).peer_id
                bo_peer = (await bo.snapshot()).peer_id

                result = await ada.send_app_message("move", {"x": 1, "y": [2]})
                assert result == {"delivered": 1}
                got = await next_of(bo_stream, events.AppMessage)
                assert (got.lobby_id, got.name, got.from_, got.from_name, got.to) == \
                    (lobby.id, "move", ada_peer, "Ada", "")
                assert got.payload == {"x": 1, "y": [2]}

                rolled = await ada.send_app_message("dice:roll", to=bo_peer)
                assert rolled == {"delivered": 0, "reply": {"dice": 4}}

                echoed = await ada.send_app_message("echo", "hi")
                assert echoed == {"delivered": 1, "reply": "hi"}
                got = await next_of(bo_stream, events.AppMessage)
                assert (got.name, got.payload) == ("echo", "hi")

                with pytest.raises(lobbykit.RequestError) as info:
                    await ada.send_app_message("cheat")
                assert (info.value.code, info.value.reason) == ("denied", "not_allowed")
                with pytest.raises(lobbykit.RequestError) as info:
                    await ada.send_app_message("whisper", to=ada_peer)
                assert info.value.code == "bad_target"
                with pytest.raises(lobbykit.RequestError) as info:
                    await ada.send_app_message("bad name")
                assert info.value.code == "bad_field"

                assert [r["type"] for r in asked] == ["move", "dice:roll", "echo", "cheat"]
                first = asked[0]
                assert (first["hook"], first["peer_id"], first["name"], first["lobby_id"],
                        first["to"], first["payload"]) == \
                    ("app_message", ada_peer, "Ada", lobby.id, "", {"x": 1, "y": [2]})
                assert asked[1]["to"] == bo_peer

                # The host saw the delivered ones only.
                seen = log.wait_count(lambda e: isinstance(e, server_events.AppMessage), 2)
                assert [(e.name, e.from_, e.delivered) for e in seen] == \
                    [("move", ada_peer, 1), ("echo", ada_peer, 1)]
                assert seen[0].payload == {"x": 1, "y": [2]}

                # The host's own message, to one member.
                await server.send_app_message_async(lobby.id, "notice", [1, "two"], to=bo_peer)
                got = await next_of(bo_stream, events.AppMessage)
                assert (got.name, got.from_, got.from_name, got.to, got.payload) == \
                    ("notice", "", "", bo_peer, [1, "two"])
                with pytest.raises(lobbykit.RequestError) as info:
                    server.send_app_message(lobby.id, "notice", to="nobody")
                assert info.value.code == "unknown_peer"
                with pytest.raises(lobbykit.RequestError) as info:
                    server.send_app_message("nope", "notice")
                assert info.value.code == "lobby_not_found"

                # Handlers removed: delivered without asking.
                server.on_app_message("dice:roll", None)
                server.on_app_message("", None)
                assert (await ada.send_app_message("cheat")) == {"delivered": 1}
                assert len(asked) == 4
    run(main())


def test_metadata_reaches_members_and_the_host():
    async def main():
        limits = fast_limits(max_metadata_bytes=64)
        with lobbykit.Server(port=0, store_path="", limits=limits) as server:
            log = EventLog()
            server.subscribe(log)
            async with lobbykit.AsyncClient(url(server), name="Ada") as ada, \
                    lobbykit.AsyncClient(url(server), name="Bo") as bo:
                lobby = server.create_lobby("Room")
                await ada.join_lobby(lobby.id)
                await bo.join_lobby(lobby.id)
                ada_stream = ada.events()
                bo_peer = (await bo.snapshot()).peer_id

                assert (await bo.set_metadata({"hand": True})) == {"metadata": {"hand": True}}
                updated = await next_of(ada_stream, events.ParticipantUpdated,
                                        lambda e: e.participant.peer_id == bo_peer)
                assert updated.participant.metadata == {"hand": True}
                snap = await ada.snapshot()
                assert {p.name: p.metadata for p in snap.participants} == \
                    {"Ada": {}, "Bo": {"hand": True}}
                host_saw = log.wait_for(lambda e: isinstance(e, server_events.ParticipantUpdated)
                                        and e.participant.metadata == {"hand": True})
                assert host_saw.participant.peer_id == bo_peer

                with pytest.raises(lobbykit.RequestError) as info:
                    await bo.set_metadata({"topic": "x"}, target="lobby")
                assert info.value.code == "forbidden"  # not a moderator
                with pytest.raises(lobbykit.RequestError) as info:
                    await bo.set_metadata({"k": "x" * 100})
                assert (info.value.code, info.value.field) == ("bad_field", "data.metadata")

                changed = await server.set_lobby_metadata_async(lobby.id, {"round": 2})
                assert changed.metadata == {"round": 2}
                got = await next_of(ada_stream, events.LobbyUpdated)
                assert got.lobby.metadata == {"round": 2}
                assert (await ada.snapshot()).lobby.metadata == {"round": 2}
                assert log.wait_for(lambda e: isinstance(e, server_events.LobbyUpdated)) \
                    .lobby.metadata == {"round": 2}

                session = server.set_session_metadata(bo_peer, {"team": "red"})
                assert session.metadata == {"team": "red"}
                got = await next_of(ada_stream, events.ParticipantUpdated,
                                    lambda e: e.participant.metadata == {"team": "red"})
                assert got.participant.peer_id == bo_peer
                assert server.get_lobby(lobby.id).lobby.metadata == {"round": 2}
                with pytest.raises(lobbykit.RequestError) as info:
                    server.set_lobby_metadata(lobby.id, {"k": "x" * 100})
                assert info.value.code == "bad_field"
                with pytest.raises(lobbykit.RequestError) as info:
                    server.set_session_metadata("nobody", {})
                assert info.value.code == "session_not_found"
    run(main())


def test_participant_metadata_can_be_turned_off():
    limits = fast_limits(allow_participant_metadata=False)
    with lobbykit.Server(port=0, store_path="", limits=limits) as server:
        with lobbykit.Client(url(server), name="Ada") as ada:
            with pytest.raises(lobbykit.RequestError) as info:
                ada.set_metadata({"hand": True})
            assert info.value.code == "forbidden"
