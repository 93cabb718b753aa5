"""lobbykit.Server's operations (docs/embedding.md, "Operations"): a Python host acts on its
server, and real clients (in-process and over a socket) see the effects. Expected codes and
fields are those of docs/protocol.md."""

import asyncio

import pytest

import lobbykit
from lobbykit import events, server_events
from conftest import EventLog, TIMEOUT


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(lobbykit.RequestError) as info:
        call(*args, **kwargs)
    return info.value.code


def test_lobbies_are_created_listed_changed_and_removed(server, connect):
    log = EventLog()
    server.subscribe(log)
    hall = server.create_lobby("  Great   hall ", private=True, max_participants=3)
    assert isinstance(hall, lobbykit.Lobby)
    assert (hall.name, hall.private, hall.persistent, hall.max_participants) == \
        ("Great hall", True, False, 3)
    assert code_of(server.create_lobby, "great HALL") == "lobby_exists"
    assert code_of(server.create_lobby, "") == "bad_field"
    assert code_of(server.create_lobby, "Big", max_participants=10**6) == "bad_field"

    ada, ada_log = connect(name="Ada")
    bo, _ = connect(name="Bo")
    ada.join_lobby(hall.id)
    bo.join_lobby(hall.id)

    listed = server.list_lobbies()
    assert [d.lobby.id for d in listed] == [hall.id]  # private ones too
    detail = server.get_lobby(hall.id)
    assert isinstance(detail, lobbykit.LobbyDetail)
    assert [p.name for p in detail.participants] == ["Ada", "Bo"]
    assert detail.lobby.participants == 2
    assert code_of(server.get_lobby, "nope") == "lobby_not_found"

    sessions = {s.name: s for s in server.list_sessions()}
    assert set(sessions) == {"Ada", "Bo"}
    assert isinstance(sessions["Ada"], lobbykit.SessionInfo)
    assert sessions["Ada"].lobby_id == hall.id and sessions["Ada"].connected
    assert sessions["Ada"].peer_id == ada.snapshot().peer_id

    # Below the member count: nobody leaves, a third member is refused.
    changed = server.update_lobby(hall.id, name="Small hall", max_participants=1)
    assert (changed.name, changed.private, changed.max_participants) == ("Small hall", True, 1)
    updated = log.wait_for(lambda e: isinstance(e, server_events.LobbyUpdated))
    assert updated.lobby.name == "Small hall"
    assert len(server.get_lobby(hall.id).participants) == 2
    cy, _ = connect(name="Cy")
    with pytest.raises(lobbykit.RequestError) as info:
        cy.join_lobby(hall.id)
    assert info.value.code == "lobby_full"
    assert code_of(server.update_lobby, "nope", name="x") == "lobby_not_found"
    assert code_of(server.update_lobby, hall.id, max_participants=0) == "bad_field"

    server.remove_lobby(hall.id)
    left = ada_log.wait_for(lambda e: isinstance(e, events.LobbyLeft))
    assert left.reason == "lobby_removed"
    removed = log.wait_for(lambda e: isinstance(e, server_events.LobbyRemoved))
    assert (removed.lobby_id, removed.reason) == (hall.id, "removed")
    assert server.list_lobbies() == []
    assert code_of(server.remove_lobby, hall.id) == "lobby_not_found"


def test_a_notice_arrives_as_chat_from_the_server(server, connect):
    ada, ada_log = connect(name="Ada")
    lobby = server.create_lobby("Room")
    ada.join_lobby(lobby.id)
    ada.chat("hello")

    notice = server.post_notice(lobby.id, "The room closes at six")
    assert isinstance(notice, lobbykit.ChatMessage)
    assert (notice.offset, notice.system, notice.sender, notice.sender_name) == \
        (2, True, "", "")
    chat = ada_log.wait_for(lambda e: isinstance(e, events.Chat)
                            and e.message.text == "The room closes at six")
    assert chat.message.system is True and chat.message.sender == ""
    own = [m for m in ada.snapshot().chat if m.text == "hello"]
    assert own and own[0].system is False
    assert code_of(server.post_notice, lobby.id, "") == "bad_field"
    assert code_of(server.post_notice, "nope", "x") == "lobby_not_found"


def test_a_rename_reaches_the_lobby(server, connect):
    ada, ada_log = connect(name="Ada")
    bo, bo_log = connect(name="Bo")
    lobby = server.create_lobby("Room")
    ada.join_lobby(lobby.id)
    bo.join_lobby(lobby.id)
    peer = ada.snapshot().peer_id

    info = server.rename_session(peer, "Ada  Lovelace")
    assert (info.peer_id, info.name) == (peer, "Ada Lovelace")
    ada_log.wait_for(lambda e: isinstance(e, events.NameChanged) and e.name == "Ada Lovelace")
    upd = bo_log.wait_for(lambda e: isinstance(e, events.ParticipantUpdated)
                          and e.participant.peer_id == peer)
    assert upd.participant.name == "Ada Lovelace"
    assert code_of(server.rename_session, bo.snapshot().peer_id, "ada lovelace") == "name_taken"
    assert code_of(server.rename_session, "nobody", "Zed") == "session_not_found"


def test_a_kicked_client_sees_its_close(server, connect):
    ada, ada_log = connect(name="Ada", reconnect=lobbykit.ReconnectPolicy(enabled=False))
    peer = ada.snapshot().peer_id
    server.kick_session(peer)
    err = ada_log.wait_for(lambda e: isinstance(e, events.ErrorEvent))
    assert err.code == "kicked"
    assert server.list_sessions() == []
    assert code_of(server.kick_session, peer) == "session_not_found"


def test_reset_password_protects_and_frees_a_name(server, connect):
    ada, _ = connect(name="Ada")
    server.reset_password("ADA", "s3cret")
    assert server.list_sessions()[0].name_protected is True
    assert code_of(server.reset_password, "Nobody", "pw") == "name_not_found"
    assert code_of(server.reset_password, "Ada", "") == "bad_field"
    server.reset_password("Ada")
    assert server.list_sessions()[0].name_protected is False

    # From the server's own callback the waiting form refuses; the rest runs inline.
    outcomes = []

    def on_event(event):
        if isinstance(event, server_events.LobbyCreated):
            try:
                server.reset_password("Ada", "pw")
            except RuntimeError as e:
                outcomes.append("refused" if "callback" in str(e) else str(e))
            outcomes.append(server.get_lobby(event.lobby.id).lobby.name)

    log = EventLog()
    server.subscribe(on_event)
    server.subscribe(log)
    ada.create_lobby("Made by Ada")
    log.wait_for(lambda e: isinstance(e, server_events.LobbyCreated))
    assert outcomes == ["refused", "Made by Ada"]


def test_operations_work_before_start_and_after_stop(make_server):
    server = make_server(start=False)
    lobby = server.create_lobby("Early", persistent=True)
    assert server.post_notice(lobby.id, "first").offset == 1
    server.start()
    assert server.get_lobby(lobby.id).lobby.name == "Early"
    server.stop()
    assert server.update_lobby(lobby.id, name="Late").name == "Late"
    assert [d.lobby.name for d in server.list_lobbies()] == ["Late"]


def test_the_async_forms(server, connect):
    ada, ada_log = connect(name="Ada")
    peer = ada.snapshot().peer_id

    async def scenario():
        lobby = await server.create_lobby_async("Async room")
        # Two at once: each waits in its own thread, the event loop stays free.
        await asyncio.gather(server.reset_password_async("Ada", "pw"),
                             server.update_lobby_async(lobby.id, private=True))
        assert [s.name_protected for s in await server.list_sessions_async()] == [True]
        assert [d.lobby.private for d in await server.list_lobbies_async()] == [True]
        assert (await server.get_lobby_async(lobby.id)).lobby.name == "Async room"
        assert (await server.rename_session_async(peer, "Ada B")).name == "Ada B"
        assert (await server.post_notice_async(lobby.id, "hi")).system is True
        with pytest.raises(lobbykit.RequestError) as info:
            await server.kick_session_async("nobody")
        assert info.value.code == "session_not_found"
        await server.kick_session_async(peer)
        await server.remove_lobby_async(lobby.id)

    asyncio.run(scenario())
    ada_log.wait_for(lambda e: isinstance(e, events.ErrorEvent) and e.code == "kicked")
