"""What a bot author does first, as docs/python.md shows it: start with a name (start()
returns once the name is taken, or raises its error), join, then iterate events — and no
event of the join is lost, however late the first events() call comes. Also: a resumed
client sees its lobby in the Welcome, and what changed while it was away as events."""

import asyncio
import warnings

import pytest

import lobbykit
from lobbykit import events as ev
from conftest import TIMEOUT, EventLog, target_of


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def is_peer_added(peer_id):
    return lambda e: isinstance(e, ev.PeerAdded) and e.peer_id == peer_id


def test_the_documented_bot_pattern_sees_the_peers_of_its_join(server, transport):
    target = target_of(server, transport)
    with lobbykit.Client(target, name="Ada") as ada:
        lobby_id = ada.create_lobby("Standup")["lobby"]["id"]
        ada.join_lobby(lobby_id, has_media=True)
        ada_id = ada.snapshot().peer_id
        ada_log = EventLog()
        ada.subscribe(ada_log)

        async def bot():
            async with lobbykit.AsyncClient(target, name="Echo", is_bot=True) as client:
                await client.join_lobby_by_name("Standup", has_media=True)
                # The bot sets itself up before it listens (an audio track, say). The server
                # sent the join's peer_added before the reply to this request.
                await client.list_lobbies()
                seen = []

                async def first_peer():
                    async for event in client.events():
                        seen.append(event)
                        if isinstance(event, ev.PeerAdded):
                            return event
                    return None

                added = await asyncio.wait_for(first_peer(), TIMEOUT)
                assert added is not None and added.peer_id == ada_id and added.should_offer
                # The stream started at construction: the connection's first events are there.
                assert seen[0] == ev.StateChanged("connecting")
                assert any(isinstance(e, ev.Welcome) for e in seen)
                assert [e.name for e in seen if isinstance(e, ev.NameChanged)] == ["Echo"]
                return (await client.snapshot()).peer_id

        bot_id = run(bot())
        ada_log.wait_for(is_peer_added(bot_id), what="Ada's peer_added for the bot")


def test_a_client_subscribed_before_start_misses_nothing(server, transport):
    """The synchronous Client: subscribe() before start() sees every event; start() with a
    name returns once the name is taken."""
    target = target_of(server, transport)
    with lobbykit.Client(target, name="Ada") as ada:
        lobby_id = ada.create_lobby("Standup")["lobby"]["id"]
        ada.join_lobby(lobby_id, has_media=True)
        bot = lobbykit.Client(target, name="Echo", is_bot=True)
        log = EventLog()
        bot.subscribe(log)
        ready = bot.start()
        try:
            assert ready["name"] == "Echo" and bot.snapshot().name == "Echo"
            bot.join_lobby(lobby_id, has_media=True)
            log.wait_for(is_peer_added(ada.snapshot().peer_id))
            assert log.events[0] == ev.StateChanged("connecting")
        finally:
            bot.stop()


def test_events_before_the_first_stream_are_bounded_and_the_overflow_reported(server,
                                                                             transport):
    async def main():
        client = lobbykit.AsyncClient(target_of(server, transport))
        client.EVENT_BACKLOG = 1
        with pytest.warns(RuntimeWarning, match="events"):
            # Ready comes after connecting, connected and welcome.
            await asyncio.wait_for(client.start(), TIMEOUT)
        await client.stop()
        seen = [e async for e in client.events()]
        # connected and welcome did not fit, nor did the disconnected of stop().
        assert seen == [ev.StateChanged("connecting"), ev.EventsDropped(count=3)]
    run(main())


def test_start_with_a_password_then_join_at_once(server, transport):
    """With a password the name takes a hashing round on the server: joining right after
    start() used to fail with name_required."""
    target = target_of(server, transport)

    async def main():
        async with lobbykit.AsyncClient(target, name="Ada", password="secret") as ada:
            lobby = (await ada.create_lobby("Guarded"))["lobby"]
            await ada.join_lobby(lobby["id"])
            assert (await ada.snapshot()).name == "Ada"
    run(main())
    with lobbykit.Client(target, name="Bo", password="secret") as bo:
        bo.join_lobby(bo.create_lobby("Also guarded")["lobby"]["id"])


def test_start_raises_the_error_of_the_name(server, transport):
    target = target_of(server, transport)
    with lobbykit.Client(target, name="Ada", password="secret"):
        for options, code in (({"name": "Ada"}, "password_required"),
                              ({"name": "Ada", "password": "guess"}, "wrong_password"),
                              ({"name": "\u200b\u2060"}, "bad_field")):
            late = lobbykit.Client(target, **options)
            with pytest.raises(lobbykit.RequestError) as info:
                late.start()
            assert info.value.code == code
            assert late.state == "disconnected"  # a failed start() leaves nothing running
            with pytest.raises(lobbykit.RequestError) as again:
                late.wait_ready()                # settled once
            assert again.value.code == code

            async def main():
                client = lobbykit.AsyncClient(target, **options)
                with pytest.raises(lobbykit.RequestError) as info:
                    async with client:
                        raise AssertionError("entered with a refused name")
                assert info.value.code == code
                assert client.state == "disconnected"
            run(main())
        with lobbykit.Client(target, name="Bo"):
            with pytest.raises(lobbykit.RequestError, match="name_taken"):
                with lobbykit.Client(target, name="Bo"):
                    raise AssertionError("entered with a taken name")


def test_wait_ready_without_a_name_and_when_stopped(server, transport):
    client = lobbykit.Client(target_of(server, transport))
    with pytest.raises(TimeoutError):
        client.wait_ready(timeout=0.05)  # not started: nothing settles it
    assert client.start() is None        # no name: returns at once, as before
    ready = client.wait_ready(timeout=TIMEOUT)
    assert ready["name"] == "" and not ready["resumed"]
    assert ready["peer_id"] == client.snapshot().peer_id
    client.stop()
    idle = lobbykit.Client(target_of(server, transport))
    idle.stop()
    with pytest.raises(lobbykit.RequestError, match="stopped"):
        idle.wait_ready(timeout=TIMEOUT)


def test_waiting_to_start_from_a_callback_is_refused(server, transport):
    """start() with a name waits for the loops; in a lobbykit callback it would wait for the
    loop that runs the callback."""
    outcomes = []
    log = EventLog()

    def on_event(event):
        if isinstance(event, lobbykit.server_events.SessionCreated) and not outcomes:
            named = lobbykit.Client(target_of(server, transport), name="Inner")
            for call in (named.start, named.wait_ready):
                try:
                    call()
                    outcomes.append("returned")
                except RuntimeError:
                    outcomes.append("refused")
            outcomes.append(named.state)
            log(event)

    server.subscribe(on_event)
    with lobbykit.Client(target_of(server, transport)) as first:
        first.wait_connected(timeout=TIMEOUT)
        log.wait_for(lambda e: True)
    assert outcomes == ["refused", "refused", "disconnected"]


def test_a_resumed_client_sees_its_lobby_and_what_changed_while_away(server, transport):
    """Ada is away (another connection took her session, 4001) while Cy leaves and Bo joins;
    when she takes it back, her Welcome shows the lobby and its members, and the changes come
    as participant events."""
    target = target_of(server, transport)
    with lobbykit.Client(target, name="Ada") as ada, \
            lobbykit.Client(target, name="Cy") as cy:
        log = EventLog()
        ada.subscribe(log)
        lobby_id = ada.create_lobby("Standup")["lobby"]["id"]
        ada.join_lobby(lobby_id)
        cy.join_lobby(lobby_id)
        log.wait_for(lambda e: isinstance(e, ev.ParticipantJoined) and e.participant.name == "Cy")
        cy_id = cy.snapshot().peer_id

        with lobbykit.Client(target, token=ada.snapshot().token) as usurper:
            usurper.wait_connected(timeout=TIMEOUT)
            log.wait_for(lambda e: isinstance(e, ev.ErrorEvent) and e.code == "replaced")
            cy.leave_lobby()
            with lobbykit.Client(target, name="Bo") as bo:
                bo.join_lobby(lobby_id)
                bo_id = bo.snapshot().peer_id
                before = len(log.events)
                ada.reconnect()
                welcome = log.wait_for(lambda e: isinstance(e, ev.Welcome) and e.resumed)
                assert welcome.lobby is not None and welcome.lobby.id == lobby_id
                assert sorted(p.name for p in welcome.participants) == ["Ada", "Bo"]
                assert welcome.lobby.participants == 2
                log.wait_for(lambda e: isinstance(e, ev.ParticipantJoined)
                             and e.participant.peer_id == bo_id)
                after = log.events[before:]
                assert [(e.peer_id, e.reason) for e in after
                        if isinstance(e, ev.ParticipantLeft)] == [(cy_id, "missed")]
                assert sorted(p.name for p in ada.snapshot().participants) == ["Ada", "Bo"]
