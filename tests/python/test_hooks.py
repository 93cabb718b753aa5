"""Decision hooks for a Python host (docs/embedding.md, "Hooks"): plain and async def hooks
that allow, deny, adjust and rewrite, that await before deciding, that raise, and that never
answer; real clients over 127.0.0.1 see each outcome."""

import asyncio
import json

import pytest

import lobbykit
from conftest import TIMEOUT, fast_limits


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def url(server: lobbykit.Server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


def test_async_hooks_await_before_deciding_and_see_the_request():
    seen = []

    async def main():
        with lobbykit.Server(port=0, store_path="", limits=fast_limits()) as server:
            invited = {"abc"}

            async def authenticate(request):
                seen.append(request)
                await asyncio.sleep(0.05)  # a database look-up, say
                if request["data"].get("invite") not in invited:
                    raise lobbykit.Denied("not_invited", "Ask for an invitation.")
                return {"name": "Guest"}

            async def chat(request):
                await asyncio.sleep(0)
                if "darn" in request["text"]:
                    return {"text": request["text"].replace("darn", "d***")}
                return None

            server.on_authenticate(authenticate)
            server.on_chat(chat)

            async with lobbykit.AsyncClient(url(server), auth_data_json=json.dumps(
                    {"invite": "abc"})) as guest:
                snap = await guest.snapshot()
                assert snap.name == "Guest"
                lobby = (await guest.create_lobby("Hooked"))["lobby"]
                await guest.join_lobby(lobby["id"])
                await guest.chat("darn it")
                snap = await guest.snapshot()
                assert [m.text for m in snap.chat] == ["d*** it"]

            request = seen[0]
            assert request["hook"] == "authenticate"
            assert request["address"] == "127.0.0.1"
            assert request["data"] == {"invite": "abc"}
            assert request["resume"] is False

            refused = lobbykit.AsyncClient(url(server), auth_data_json='{"invite":"nope"}')
            with pytest.raises(lobbykit.RequestError) as info:
                await asyncio.wait_for(refused.start(), TIMEOUT)
            assert info.value.code == "denied"
            assert info.value.reason == "not_invited"
            await refused.stop()
    run(main())


def test_plain_hooks_deny_join_and_adjust_lobbies():
    with lobbykit.Server(port=0, store_path="", limits=fast_limits()) as server:
        server.on_create_lobby(lambda request: {"max_participants": 2, "private": True})
        server.on_join(lambda request: request["name"] != "Mallory")

        async def main():
            async with lobbykit.AsyncClient(url(server), name="Ada") as ada, \
                    lobbykit.AsyncClient(url(server), name="Mallory") as mallory:
                lobby = (await ada.create_lobby("Small"))["lobby"]
                assert lobby["max_participants"] == 2
                assert lobby["private"] is True
                await ada.join_lobby(lobby["id"])
                with pytest.raises(lobbykit.RequestError) as info:
                    await mallory.join_lobby(lobby["id"])
                assert info.value.code == "denied"
                assert info.value.reason == "denied"

                server.on_join(None)  # removed: Mallory may join now
                await mallory.join_lobby(lobby["id"])
        run(main())


def test_a_hook_that_raises_or_never_answers_refuses_the_request():
    failures = []

    async def main():
        # The raising hook must run on this test's loop within the deadline (else the reply
        # is hook_timeout, not hook_failed); the silent one waits it out, once.
        with lobbykit.Server(port=0, store_path="",
                             limits=fast_limits(hook_timeout_ms=2000)) as server:
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, context: failures.append(context))

            async def broken(request):
                raise KeyError("the database is down")

            never = asyncio.Event()

            async def silent(request):
                await never.wait()  # never answers

            server.on_chat(broken)
            async with lobbykit.AsyncClient(url(server), name="Ada") as ada:
                lobby = (await ada.create_lobby("Room"))["lobby"]
                await ada.join_lobby(lobby["id"])
                with pytest.raises(lobbykit.RequestError) as info:
                    await ada.chat("hello")
                assert info.value.code == "hook_failed"
                assert "database" not in info.value.message
                assert isinstance(failures[0]["exception"], KeyError)

                server.on_chat(silent)
                with pytest.raises(lobbykit.RequestError) as info:
                    await ada.chat("hello again")
                assert info.value.code == "hook_timeout"
                never.set()
                snap = await ada.snapshot()
                assert len(snap.chat) == 0
    run(main())


def test_an_async_hook_needs_a_loop():
    with lobbykit.Server(port=0, store_path="") as server:
        async def hook(request):
            return True
        with pytest.raises(RuntimeError, match="asyncio loop"):
            server.on_chat(hook)
        with pytest.raises(ValueError):
            server._core.set_hook("no_such_hook", None)


def test_event_handlers_may_call_the_server_back_from_an_operation():
    """A host operation run inline (before start, or on the loop thread) fires events whose
    handlers call the server again: nothing deadlocks."""
    import threading
    server = lobbykit.Server(port=0, store_path="", limits=fast_limits())
    seen = []

    def handler(event):
        if event.type == "lobby_created":
            seen.append(len(server.list_lobbies()))
        if event.type == "chat_posted":
            seen.append(len(server.list_sessions()))

    server.subscribe(handler)
    done = threading.Event()

    def before_start():
        server.create_lobby("Early")  # no loop yet: runs here, its event handler calls back
        done.set()
    t = threading.Thread(target=before_start, daemon=True)
    t.start()
    assert done.wait(TIMEOUT), "create_lobby before start() deadlocked in its event handler"
    assert seen == [1]

    server.start()
    try:
        lobby = server.list_lobbies()[0].lobby.id

        def joined(event):
            # On the loop thread: an operation whose own event handler calls back.
            if event.type == "participant_joined":
                server.post_notice(lobby, "hi " + event.participant.name)
        server.subscribe(joined)

        async def main():
            async with lobbykit.AsyncClient(url(server), name="Ada") as ada:
                await ada.join_lobby(lobby)
                snap = await ada.snapshot()
                deadline = asyncio.get_running_loop().time() + TIMEOUT
                while not snap.chat and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.02)
                    snap = await ada.snapshot()
                assert [m.text for m in snap.chat] == ["hi Ada"]
        run(main())
        assert seen[-1] == 1  # chat_posted's handler listed the one session
    finally:
        server.stop()
