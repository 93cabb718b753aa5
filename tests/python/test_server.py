"""lobbykit.Server: lifecycle, StartError, run() on a thread, and its events in order."""

import socket
import threading

import pytest

import lobbykit
from lobbykit import server_events as se
from conftest import TIMEOUT, EventLog, fast_limits


def test_port_zero_picks_a_port_and_context_manager_stops(tmp_path):
    with lobbykit.Server(port=0, store_path="") as server:
        assert 0 < server.port < 65536
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT):
            pass
    # stopped: nothing listens any more
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT).close()
    server.stop()  # idempotent


def test_start_error_when_the_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(lobbykit.StartError) as info:
            lobbykit.Server(port=taken.getsockname()[1], store_path="")
    assert isinstance(info.value, lobbykit.Error)


def test_start_error_when_the_store_cannot_open(tmp_path):
    with pytest.raises(lobbykit.StartError, match="store"):
        lobbykit.Server(port=0, store_path=str(tmp_path / "no" / "such" / "dir" / "x.db"))


def test_run_on_a_thread_then_stop_from_another():
    server = lobbykit.Server(port=0, store_path="")
    returned = threading.Event()

    def serve():
        server.run()   # the GIL is released: this test thread keeps running
        returned.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = lobbykit.Client(f"ws://127.0.0.1:{server.port}/ws")
    client.start()
    client.wait_connected(timeout=TIMEOUT)
    client.stop()
    assert not returned.is_set()
    server.stop()
    assert returned.wait(TIMEOUT), "run() did not return after stop()"
    thread.join(TIMEOUT)


def test_run_twice_is_refused():
    server = lobbykit.Server(port=0, store_path="")
    server.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            server.run()
    finally:
        server.stop()
    # A stopped server does not serve again: run() returns at once.
    again = threading.Thread(target=server.run, daemon=True)
    again.start()
    again.join(TIMEOUT)
    assert not again.is_alive()


def test_server_events_in_order(make_server):
    server = make_server()
    log = EventLog()
    server.subscribe(log)
    client = lobbykit.Client(server)
    client.start()
    try:
        client.wait_connected(timeout=TIMEOUT)
        client.set_name("Ada")
        lobby = client.create_lobby("Standup")["lobby"]
        client.join_lobby(lobby["id"])
        for i in range(5):
            client.chat(f"m{i}")
        chats = log.wait_count(lambda e: isinstance(e, se.ChatPosted), 5)
    finally:
        client.stop()
    log.wait_for(lambda e: isinstance(e, se.SessionDisconnected))
    kinds = [type(e) for e in log.events]
    order = [se.SessionCreated, se.NameChanged, se.LobbyCreated, se.ParticipantJoined,
             se.ChatPosted, se.SessionDisconnected]
    positions = [kinds.index(k) for k in order]
    assert positions == sorted(positions), kinds
    created = log.of(se.SessionCreated)[0]
    assert log.of(se.NameChanged)[0].new_name == "Ada"
    assert log.of(se.NameChanged)[0].peer_id == created.peer_id
    joined = log.of(se.ParticipantJoined)[0]
    assert joined.lobby_id == lobby["id"] and joined.participant.name == "Ada"
    assert [c.message.offset for c in chats] == [1, 2, 3, 4, 5]
    assert [c.message.text for c in chats] == [f"m{i}" for i in range(5)]
    assert all(c.lobby_id == lobby["id"] and c.message.sender == created.peer_id for c in chats)
    assert log.of(se.LobbyCreated)[0].lobby.name == "Standup"


def test_unsubscribe_stops_delivery(make_server):
    server = make_server()
    first, second = EventLog(), EventLog()
    first_id = server.subscribe(first)
    server.subscribe(second)
    server.unsubscribe(first_id)
    client = lobbykit.Client(server)
    client.start()
    try:
        client.wait_connected(timeout=TIMEOUT)
        second.wait_for(lambda e: isinstance(e, se.SessionCreated))
    finally:
        client.stop()
    assert first.events == []


def test_server_events_from_a_websocket_client_have_the_same_fields(make_server):
    server = make_server(limits=fast_limits())
    log = EventLog()
    server.subscribe(log)
    with lobbykit.Client(f"ws://127.0.0.1:{server.port}/ws", name="Bob") as client:
        client.wait_connected(timeout=TIMEOUT)
        event = log.wait_for(lambda e: isinstance(e, se.NameChanged))
    assert (event.type, event.old_name, event.new_name) == ("name_changed", "", "Bob")
