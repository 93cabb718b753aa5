"""Reconnect and resume after a server restart: same SQLite file, same port. The client gets
its session back (same peer id, docs/protocol.md "Connection lifecycle" 4) and its lobby,
with the chat it had and new chat after."""

import time

import lobbykit
from lobbykit import events as ev
from lobbykit import server_events as se
from conftest import TIMEOUT, EventLog, fast_limits, is_chat

FAST_RETRY = lobbykit.ReconnectPolicy(initial_delay_ms=20, max_delay_ms=200)


def start_on(port, store, deadline, subscriber=None):
    """A server on `port` once it is free again (the previous one just closed it). The
    subscriber, if any, is in place before the server starts: a client retrying every 20 ms
    may be served on the loop's first turn."""
    while True:
        try:
            server = lobbykit.Server(port=port, store_path=str(store), limits=fast_limits())
            if subscriber is not None:
                server.subscribe(subscriber)
            server.start()
            return server
        except lobbykit.StartError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_resume_after_server_restart(tmp_path):
    store = tmp_path / "lobbykit.db"
    first = lobbykit.Server(port=0, store_path=str(store), limits=fast_limits())
    first.start()
    port = first.port
    log = EventLog()
    client = lobbykit.Client(f"ws://127.0.0.1:{port}/ws", name="Ada", reconnect=FAST_RETRY)
    client.subscribe(log)
    second = None
    try:
        client.start()
        client.wait_connected(timeout=TIMEOUT)
        client.set_name("Ada")
        lobby_id = client.create_lobby("Durable", persistent=True)["lobby"]["id"]
        client.join_lobby(lobby_id)
        assert client.chat("before") == {"offset": 1}
        peer_id = client.snapshot().peer_id

        first.stop()
        log.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == "reconnecting")
        server_log = EventLog()
        second = start_on(port, store, time.monotonic() + TIMEOUT, server_log)
        resumed = log.wait_for(lambda e: isinstance(e, ev.Welcome) and e.resumed)
        assert resumed.peer_id == peer_id
        client.wait_connected(timeout=TIMEOUT)
        assert client.chat("after") == {"offset": 2}
        log.wait_for(is_chat("after"))

        snap = client.snapshot()
        assert (snap.peer_id, snap.name) == (peer_id, "Ada")
        assert snap.lobby is not None and snap.lobby.id == lobby_id
        assert [p.peer_id for p in snap.participants] == [peer_id]
        assert [(m.offset, m.text) for m in snap.chat] == [(1, "before"), (2, "after")]
        back = server_log.wait_for(lambda e: isinstance(e, se.SessionResumed))
        assert back.peer_id == peer_id
    finally:
        client.stop()
        first.stop()
        if second is not None:
            second.stop()


def test_in_process_client_outlives_its_server(make_server):
    """docs/client.md "In-process": a stopped server closes it (1001) and it keeps trying."""
    server = make_server()
    log = EventLog()
    client = lobbykit.Client(server, reconnect=FAST_RETRY)
    client.subscribe(log)
    with client:
        client.wait_connected(timeout=TIMEOUT)
        server.stop()
        log.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == "reconnecting")
        del server   # the client keeps the Server object alive: nothing dangles
        assert client.state in ("reconnecting", "connecting")


def test_lobby_list_watch_is_taken_out_again_after_a_restart(tmp_path):
    """watch_lobbies belongs to the connection on the server; the client's wish does not:
    after the restart it subscribes again, gets the fresh list, and pushes flow again."""
    store = tmp_path / "lobbykit.db"
    first = lobbykit.Server(port=0, store_path=str(store), limits=fast_limits())
    first.start()
    port = first.port
    url = f"ws://127.0.0.1:{port}/ws"
    log = EventLog()
    watcher = lobbykit.Client(url, reconnect=FAST_RETRY)
    watcher.subscribe(log)
    second = None
    try:
        watcher.start()
        watcher.wait_connected(timeout=TIMEOUT)
        assert watcher.watch_lobbies() == {"lobbies": []}
        assert watcher.snapshot().watching_lobbies
        with lobbykit.Client(url, name="Host") as host:
            host.wait_connected(timeout=TIMEOUT)
            alpha = host.create_lobby("Alpha", persistent=True)["lobby"]["id"]
            host.create_lobby("Hidden", private=True)
        listed = log.wait_for(lambda e: isinstance(e, ev.LobbyListed))
        assert (listed.lobby.id, listed.lobby.name) == (alpha, "Alpha")
        assert [lob.name for lob in watcher.snapshot().lobbies] == ["Alpha"]

        first.stop()
        log.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == "reconnecting")
        lists_before = len(log.of(ev.LobbyList))
        second = start_on(port, store, time.monotonic() + TIMEOUT)
        log.wait_count(lambda e: isinstance(e, ev.LobbyList), lists_before + 1)
        fresh = log.of(ev.LobbyList)[-1]
        assert [lob.id for lob in fresh.lobbies] == [alpha]

        with lobbykit.Client(url, name="Host2") as host:
            host.wait_connected(timeout=TIMEOUT)
            beta = host.create_lobby("Beta")["lobby"]["id"]
            log.wait_for(lambda e: isinstance(e, ev.LobbyListed) and e.lobby.id == beta)
            assert [lob.name for lob in watcher.snapshot().lobbies] == ["Alpha", "Beta"]
        # Unsubscribed, the wish is gone: a new lobby is not pushed, the list stays.
        assert watcher.watch_lobbies(False) == {}
        assert not watcher.snapshot().watching_lobbies
        with lobbykit.Client(url, name="Host3") as host:
            host.wait_connected(timeout=TIMEOUT)
            host.create_lobby("Gamma")
            # A round trip on the watcher's connection after the creation: a push sent
            # before it would have arrived first.
            watcher.request("ping")
        assert [lob.name for lob in watcher.snapshot().lobbies] == ["Alpha", "Beta"]
        assert not [e for e in log.of(ev.LobbyListed) if e.lobby.name == "Gamma"]
    finally:
        watcher.stop()
        first.stop()
        if second is not None:
            second.stop()
