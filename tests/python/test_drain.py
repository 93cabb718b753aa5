"""Graceful drain (docs/deployment.md, "Draining") and the health endpoints, from the host's
side: Server.drain() tells every client to reconnect elsewhere, and lobbykit.Client follows
the hint to the next server, where its session, lobby and chat are waiting."""

import socket
import threading
import time
import urllib.error
import urllib.request

import lobbykit
from lobbykit import events as ev
from lobbykit import server_events as se
from conftest import TIMEOUT, EventLog, fast_limits, wait_until

RETRY = lobbykit.ReconnectPolicy(initial_delay_ms=50, max_delay_ms=500)
CLIENTS = 200
LOBBIES = 4  # 50 members each, under the default max_participants of 64
# Every client comes from 127.0.0.1: room for all of them under the per-address caps.
LIMITS = dict(max_sessions_per_address=1000, max_lobbies_per_address=1000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = TIMEOUT):
    """(status, body) of GET path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_drain_moves_200_clients_to_the_next_server_without_losing_chat(tmp_path):
    store = str(tmp_path / "lobbykit.db")
    next_port = free_port()
    first = lobbykit.Server(port=0, store_path=store, limits=fast_limits(**LIMITS), drain_ms=2000,
                            drain_url=f"ws://127.0.0.1:{next_port}/ws")
    first.start()
    second = None
    clients = []
    try:
        host = lobbykit.Client(first, name="host")
        host.start()
        host.wait_connected(timeout=TIMEOUT)
        lobby_ids = [host.create_lobby(f"room {i}", persistent=True)["lobby"]["id"]
                     for i in range(LOBBIES)]
        host.stop()

        logs = []
        for i in range(CLIENTS):
            log = EventLog()
            c = lobbykit.Client(f"ws://127.0.0.1:{first.port}/ws", name=f"user{i}",
                                reconnect=RETRY)
            c.subscribe(log)
            c.start()
            clients.append(c)
            logs.append(log)
        peers = {}
        for i, c in enumerate(clients):
            c.wait_connected(timeout=TIMEOUT)
            c.join_lobby(lobby_ids[i % LOBBIES])
            peers[i] = c.snapshot().peer_id
        # Acknowledged chat, before and while the server drains: every message a client got
        # an offset for must be on the next server.
        acked = {lobby: set() for lobby in lobby_ids}
        for i, c in enumerate(clients):
            c.chat(f"before {i}")
            acked[lobby_ids[i % LOBBIES]].add(f"before {i}")

        first.drain()
        assert first.draining
        status, body = http_get(first.port, "/api/health/ready")
        assert status == 503 and '"draining":true' in body
        for i, c in enumerate(clients):
            try:
                c.chat(f"during {i}")
                acked[lobby_ids[i % LOBBIES]].add(f"during {i}")
            except lobbykit.RequestError:
                pass  # told to go already: not acknowledged, so not promised
        started = time.monotonic()
        first.wait()
        # 2 s of batches, then the closes: well within the bound.
        assert time.monotonic() - started < 2 + 5

        # Every client was told, and is now trying the next server.
        for log in logs:
            log.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == "reconnecting")
        second = lobbykit.Server(port=next_port, store_path=store,
                                 limits=fast_limits(**LIMITS))
        second.start()
        for i, c in enumerate(clients):
            c.wait_connected(timeout=TIMEOUT)
            logs[i].wait_for(lambda e: isinstance(e, ev.Welcome) and e.resumed)
            snap = c.snapshot()
            assert snap.peer_id == peers[i]
            assert snap.lobby is not None and snap.lobby.id == lobby_ids[i % LOBBIES]
        for i in range(LOBBIES):
            c = clients[i]
            wait_until(lambda: acked[lobby_ids[i]] <= {m.text for m in c.snapshot().chat})
            texts = [m.text for m in c.snapshot().chat]
            assert len(texts) == len(set(texts))  # nothing twice
        # They are all on the second server now.
        assert len(second.list_sessions()) >= CLIENTS
        assert sum(1 for s in second.list_sessions() if s.connected) == CLIENTS
    finally:
        for c in clients:
            c.stop()
        first.stop()
        if second is not None:
            second.stop()


def test_liveness_fails_while_the_loop_is_blocked_and_comes_back(make_server):
    """A host callback that blocks holds up the loop thread: /api/health/live, answered by
    that thread, gets no answer until it returns."""
    server = make_server()
    release = threading.Event()
    blocked = threading.Event()

    def block_on_connect(event):
        if isinstance(event, se.SessionCreated) and not blocked.is_set():
            blocked.set()
            release.wait(TIMEOUT)

    server.subscribe(block_on_connect)
    assert http_get(server.port, "/api/health/live")[0] == 200
    client = lobbykit.Client(f"ws://127.0.0.1:{server.port}/ws")
    try:
        client.start()
        assert blocked.wait(TIMEOUT)
        try:
            status = http_get(server.port, "/api/health/live", timeout=1.0)[0]
        except (socket.timeout, urllib.error.URLError, TimeoutError):
            status = None
        assert status is None  # no answer while the loop is stuck
        release.set()
        status, body = http_get(server.port, "/api/health/live")
        assert status == 200 and '"status":"alive"' in body
        assert http_get(server.port, "/api/health/ready")[0] == 200
    finally:
        release.set()
        client.stop()


def test_drain_before_start_is_stop_and_wait_returns():
    server = lobbykit.Server(port=0, store_path="")
    server.drain()
    server.wait()
    assert not server.draining
    server.stop()
