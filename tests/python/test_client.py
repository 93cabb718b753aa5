"""lobbykit.Client against an embedded Server, in-process and over a real socket: requests,
the state store, events in order, signaling, and errors with the documented codes."""

import socket
import threading

import pytest

import lobbykit
from lobbykit import events as ev
from conftest import TIMEOUT, EventLog, fast_limits, is_chat


def test_requests_and_the_state_store(connect):
    client, log = connect()
    assert client.state == "connected"
    welcome = log.wait_for(lambda e: isinstance(e, ev.Welcome))
    assert welcome.resumed is False and welcome.peer_id and welcome.token

    assert client.set_name("Ada") == {"name": "Ada", "protected": False}
    lobby = client.create_lobby("Standup", max_participants=5)["lobby"]
    assert (lobby["name"], lobby["private"], lobby["max_participants"]) == ("Standup", False, 5)
    assert lobby["id"] in [l["id"] for l in client.list_lobbies()["lobbies"]]
    joined = client.join_lobby(lobby["id"], has_media=True, audio_muted=True)
    assert joined["lobby"]["id"] == lobby["id"]
    assert [p["name"] for p in joined["participants"]] == ["Ada"]
    assert joined["participants"][0]["has_media"] is True
    assert client.chat("hello") == {"offset": 1}
    log.wait_for(is_chat("hello"))

    snap = client.snapshot()
    assert isinstance(snap, lobbykit.Snapshot)
    assert (snap.state, snap.peer_id, snap.name) == ("connected", welcome.peer_id, "Ada")
    assert isinstance(snap.lobby, lobbykit.Lobby) and snap.lobby.id == lobby["id"]
    assert [(p.name, p.audio_muted) for p in snap.participants] == [("Ada", True)]
    assert [(m.offset, m.text, m.sender) for m in snap.chat] == [(1, "hello", welcome.peer_id)]
    assert snap.last_offset == 1 and snap.history_complete and snap.last_error is None

    updated = client.update_media(video_muted=True)["participant"]
    assert [updated[k] for k in ("has_media", "audio_muted", "video_muted")] == [True] * 3
    assert client.update_media(screen_sharing=True)["participant"]["screen_sharing"] is True
    log.wait_for(lambda e: isinstance(e, ev.ParticipantUpdated) and e.participant.screen_sharing)
    assert [p.screen_sharing for p in client.snapshot().participants] == [True]
    assert client.leave_lobby() == {}
    left = log.wait_for(lambda e: isinstance(e, ev.LobbyLeft))
    assert (left.lobby_id, left.reason) == (lobby["id"], "left")
    assert client.snapshot().lobby is None


def test_events_arrive_in_order(connect):
    ada, ada_log = connect(name="Ada")
    bob, _ = connect(name="Bob")
    lobby_id = ada.create_lobby("Standup")["lobby"]["id"]
    ada.join_lobby(lobby_id)
    bob.join_lobby_by_name("Standup")
    for i in range(20):
        (ada if i % 2 else bob).chat(f"m{i}")
    chats = ada_log.wait_count(is_chat(), 20, what="chat events")
    offsets = [c.message.offset for c in chats]
    assert offsets == sorted(set(offsets)) and offsets[0] == 1, offsets   # strictly increasing
    assert [c.message.text for c in chats] == [f"m{i}" for i in range(20)]
    kinds = ada_log.events
    bob_id = bob.snapshot().peer_id
    joined_at = next(i for i, e in enumerate(kinds) if isinstance(e, ev.ParticipantJoined)
                     and e.participant.peer_id == bob_id)
    first_bob_chat = next(i for i, e in enumerate(kinds) if is_chat()(e)
                          and e.message.sender == bob_id)
    assert joined_at < first_bob_chat
    assert kinds.index(next(e for e in kinds if isinstance(e, ev.Welcome))) < joined_at


def test_server_error_codes(connect):
    """Codes and fields from docs/protocol.md ("Errors", "Limits", each request's errors)."""
    ada, _ = connect()

    def code_of(call, *args, **kwargs):
        with pytest.raises(lobbykit.RequestError) as info:
            call(*args, **kwargs)
        error = info.value
        assert error.message and isinstance(error, lobbykit.Error)
        return error.code, error.field

    assert code_of(ada.join_lobby_by_name, "Standup") in (("name_required", None),
                                                          ("lobby_not_found", None))
    assert code_of(ada.set_name, "x" * 33) == ("bad_field", "data.name")
    ada.set_name("Ada", password="secret")
    assert code_of(ada.join_lobby, "0000000000000000") == ("lobby_not_found", None)
    assert code_of(ada.chat, "hi") == ("not_in_lobby", None)
    assert code_of(ada.leave_lobby) == ("not_in_lobby", None)
    assert code_of(ada.request, "no_such_request") == ("unknown_type", None)
    lobby_id = ada.create_lobby("Standup")["lobby"]["id"]
    assert code_of(ada.create_lobby, "standup") == ("lobby_exists", None)  # names fold case
    assert code_of(ada.create_lobby, "y" * 65) == ("bad_field", "data.name")
    ada.join_lobby(lobby_id)
    assert code_of(ada.chat, "z" * 4097) == ("bad_field", "data.text")
    assert code_of(ada.send_description, ada.snapshot().peer_id, "offer", "v=0") == \
        ("bad_target", None)
    assert code_of(ada.send_candidate, "0123456789abcdef", "candidate:1") == ("unknown_peer", None)

    bob, _ = connect()
    assert code_of(bob.join_lobby, lobby_id) == ("name_required", None)
    assert code_of(bob.set_name, "ada") == ("password_required", None)
    assert code_of(bob.set_name, "Ada", password="wrong") == ("wrong_password", None)
    carol, _ = connect(name="Carol")
    assert code_of(bob.set_name, "Carol") == ("name_taken", None)


def test_abuse_limits_reach_the_server_from_python_options(make_server, connect):
    """docs/protocol.md "Limits" and "Names": a quota set in Limits, and the name rule."""
    server = make_server(limits=fast_limits(max_lobbies_per_session=1))
    ada, _ = connect(name="Ada", srv=server)
    ada.create_lobby("One")
    with pytest.raises(lobbykit.RequestError) as info:
        ada.create_lobby("Two")
    assert info.value.code == "lobby_quota" and "session" in info.value.message
    with pytest.raises(lobbykit.RequestError) as info:
        ada.set_name("\u200b\u2060")
    assert (info.value.code, info.value.field) == ("bad_field", "data.name")
    assert ada.set_name("\u3000Ada\u00a0L.\t")["name"] == "Ada L."


def test_client_error_codes(make_server, transport, connect):
    server = make_server()
    target = server if transport == "inprocess" else f"ws://127.0.0.1:{server.port}/ws"
    idle = lobbykit.Client(target)
    with pytest.raises(lobbykit.RequestError) as info:
        idle.list_lobbies()
    assert info.value.code == "not_connected"
    idle.start()
    idle.wait_connected(timeout=TIMEOUT)
    with pytest.raises(lobbykit.RequestError) as info:
        idle.request("list_lobbies", ["not", "an", "object"])  # type: ignore[arg-type]
    assert info.value.code == "bad_json"
    idle.stop()
    with pytest.raises(lobbykit.RequestError) as info:
        idle.list_lobbies()
    assert info.value.code == "stopped"
    assert "stopped" in lobbykit.CLIENT_CODES


def test_request_timeout(make_server, transport):
    """A server that stalls (its event callback holds its loop) past request_timeout_ms."""
    server = make_server()
    stall = threading.Event()
    # The stall lasts until the test ends it (the bound only keeps a broken test from
    # hanging); the timeout is long enough that the requests before it, answered at once,
    # never reach it on a loaded machine.
    server.subscribe(lambda e: stall.wait(60.0) if e.type == "chat_posted" else None)
    target = server if transport == "inprocess" else f"ws://127.0.0.1:{server.port}/ws"
    with lobbykit.Client(target, name="Ada", request_timeout_ms=2000) as client:
        client.wait_connected(timeout=TIMEOUT)
        client.set_name("Ada")
        client.join_lobby(client.create_lobby("Slow")["lobby"]["id"])
        try:
            with pytest.raises(lobbykit.RequestError) as info:
                client.chat("stalls the server")
            assert info.value.code == "timeout"
        finally:
            stall.set()


def test_request_with_callback(connect):
    client, _ = connect(name="Ada")
    replies = EventLog()
    client.request_with_callback("list_lobbies", None, lambda r, e: replies((r, e)))
    client.request_with_callback("join_lobby", {"lobby_id": "nope"}, lambda r, e: replies((r, e)))
    (ok, none), (nothing, error) = replies.wait_count(lambda _: True, 2)
    assert ok == {"lobbies": []} and none is None
    assert nothing is None and error.code == "lobby_not_found"


def test_request_with_callback_when_not_started_runs_at_once(server):
    client = lobbykit.Client(server)
    got = []
    client.request_with_callback("list_lobbies", None, lambda r, e: got.append(e.code))
    assert got == ["not_connected"]   # documented: on the calling thread, at once


def test_signaling_events(connect):
    ada, ada_log = connect(name="Ada")
    bob, bob_log = connect(name="Bob")
    lobby_id = ada.create_lobby("Call")["lobby"]["id"]
    ada.join_lobby(lobby_id, has_media=True)
    bob.join_lobby(lobby_id, has_media=True)
    ada_id, bob_id = ada.snapshot().peer_id, bob.snapshot().peer_id
    to_bob = ada_log.wait_for(lambda e: isinstance(e, ev.PeerAdded))
    to_ada = bob_log.wait_for(lambda e: isinstance(e, ev.PeerAdded))
    assert (to_bob.peer_id, to_ada.peer_id) == (bob_id, ada_id)
    assert to_ada.should_offer and not to_bob.should_offer   # the newcomer offers
    assert to_ada.name == "Ada"

    bob.send_description(ada_id, "offer", "v=0 bob")
    bob.send_candidate(ada_id, "candidate:1 1 udp 1 127.0.0.1 9 typ host", "0", 0)
    bob.send_candidate(ada_id, "")   # end of candidates
    desc = ada_log.wait_for(lambda e: isinstance(e, ev.Description))
    assert (desc.from_, desc.description.type, desc.description.sdp) == (bob_id, "offer", "v=0 bob")
    cands = ada_log.wait_count(lambda e: isinstance(e, ev.Candidate), 2)
    assert cands[0].from_ == bob_id
    assert cands[0].candidate == lobbykit.IceCandidate(
        "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdp_mid="0", sdp_mline_index=0)
    assert cands[1].candidate is None

    bob.leave_lobby()
    removed = ada_log.wait_for(lambda e: isinstance(e, ev.PeerRemoved))
    assert removed.peer_id == bob_id
    assert ada_log.wait_for(lambda e: isinstance(e, ev.ParticipantLeft)).reason == "left"


def test_unsubscribe(connect):
    client, log = connect(name="Ada")
    other = EventLog()
    sub = client.subscribe(other)
    client.unsubscribe(sub)
    client.set_name("Ada2")
    log.wait_for(lambda e: isinstance(e, ev.NameChanged) and e.name == "Ada2")
    assert other.events == []


def test_wait_connected_deadline_and_giving_up():
    with socket.socket() as probe:       # a port with nothing listening once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/ws"
    with lobbykit.Client(url) as patient:
        with pytest.raises(TimeoutError):
            patient.wait_connected(timeout=0.2)
    quitter = lobbykit.Client(url, reconnect=lobbykit.ReconnectPolicy(enabled=False))
    log = EventLog()
    quitter.subscribe(log)
    with quitter:
        with pytest.raises(lobbykit.Error, match="gave_up"):
            quitter.wait_connected(timeout=TIMEOUT)
    assert log.wait_for(lambda e: isinstance(e, ev.ErrorEvent)).code == "gave_up"
