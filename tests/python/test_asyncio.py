"""lobbykit.AsyncClient: awaitable requests, the events() stream, async with, and proof that
nothing blocks the event loop while requests are in flight."""

import asyncio
import threading

import pytest

import lobbykit
from lobbykit import events as ev
from conftest import TIMEOUT, target_of


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_requests_events_and_async_with(server, transport):
    async def main():
        async with lobbykit.AsyncClient(target_of(server, transport), name="Ada") as ada:
            assert ada.state == "connected"
            stream = ada.events()
            lobby = (await ada.create_lobby("Standup"))["lobby"]
            joined = await ada.join_lobby(lobby["id"])
            assert joined["lobby"]["id"] == lobby["id"]
            offsets = [(await ada.chat(f"m{i}"))["offset"] for i in range(5)]
            assert offsets == [1, 2, 3, 4, 5]
            with pytest.raises(lobbykit.RequestError) as info:
                await ada.join_lobby("0000000000000000")
            assert info.value.code == "lobby_not_found"
            snap = await ada.snapshot()
            assert [m.text for m in snap.chat] == [f"m{i}" for i in range(5)]
            seen = []
            async for event in stream:
                seen.append(event)
                if isinstance(event, ev.Chat) and event.message.offset == 5:
                    break
            kinds = [e.type for e in seen]
            assert kinds.index("lobby_joined") < kinds.index("chat")
            assert [e.message.offset for e in seen if isinstance(e, ev.Chat)] == offsets
            await stream.aclose()
        assert ada.state == "disconnected"
    run(main())


def test_events_stream_ends_after_stop(server, transport):
    async def main():
        client = lobbykit.AsyncClient(target_of(server, transport))
        stream = client.events()    # before start: sees every event
        await asyncio.wait_for(client.start(), TIMEOUT)
        await client.stop()
        seen = [e async for e in stream]
        assert seen[0] == ev.StateChanged("connecting") and ev.StateChanged("connected") in seen
        assert any(isinstance(e, ev.Welcome) for e in seen)
        assert seen[-1] == ev.StateChanged("disconnected")
        late = client.events()
        assert [e async for e in late] == []
        with pytest.raises(lobbykit.Error):
            await client.wait_connected()
    run(main())


def test_nothing_blocks_the_event_loop(make_server, transport):
    """The server's reply to a chat waits until a task on this event loop opens a gate, so
    the request completes only if the loop runs while it is in flight. A heartbeat counts
    the loop's turns meanwhile."""
    server = make_server()
    gate = threading.Event()
    gate_opened_in_time = []

    def hold_reply(event):   # the server's loop thread: hold the reply until the gate opens
        if event.type == "chat_posted" and event.message.text == "gated":
            gate_opened_in_time.append(gate.wait(TIMEOUT))

    server.subscribe(hold_reply)

    async def main():
        async with lobbykit.AsyncClient(target_of(server, transport), name="Ada") as ada:
            await ada.join_lobby((await ada.create_lobby("Gate"))["lobby"]["id"])
            beats = 0

            async def heartbeat():
                nonlocal beats
                while True:
                    beats += 1
                    if beats == 5:
                        gate.set()
                    await asyncio.sleep(0.001)

            reply = ada.chat("gated")          # in flight now
            others = [ada.list_lobbies() for _ in range(10)]
            ticker = asyncio.ensure_future(heartbeat())
            try:
                assert (await asyncio.wait_for(reply, TIMEOUT)) == {"offset": 1}
                assert len(await asyncio.gather(*others)) == 10
            finally:
                ticker.cancel()
            assert beats >= 5
        assert gate_opened_in_time == [True], "the reply came only after the gate's timeout"
    run(main())


def test_cancelled_request_and_concurrent_requests(server, transport):
    async def main():
        async with lobbykit.AsyncClient(target_of(server, transport), name="Ada") as ada:
            await ada.join_lobby((await ada.create_lobby("Many"))["lobby"]["id"])
            abandoned = ada.chat("abandoned")
            abandoned.cancel()
            results = await asyncio.gather(*[ada.chat(f"c{i}") for i in range(50)])
            offsets = sorted(r["offset"] for r in results)
            assert len(set(offsets)) == 50
            assert (await ada.snapshot()).last_offset == 51
    run(main())


def test_wait_connected_and_giving_up():
    async def main():
        client = lobbykit.AsyncClient("ws://127.0.0.1:1/ws",
                                      reconnect=lobbykit.ReconnectPolicy(enabled=False))
        with pytest.raises(lobbykit.Error, match="gave_up"):
            await asyncio.wait_for(client.start(), TIMEOUT)
        await client.stop()
    run(main())


def test_requires_a_running_loop():
    with pytest.raises(RuntimeError):
        lobbykit.AsyncClient("ws://127.0.0.1:1/ws")
