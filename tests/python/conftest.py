"""Fixtures and helpers for the lobbykit Python package tests.

The package is imported from PYTHONPATH (scripts/test-python.sh points it at a build's
python/ directory). Servers listen on 127.0.0.1 port 0 and keep their store in memory unless
a test gives a file in tmp_path. Expected values (error codes, fields, orders) come from
docs/protocol.md and docs/client.md, not from running the code.

Rules kept here: every wait has a deadline (EventLog.wait_for, Client.wait_connected(timeout),
asyncio.wait_for); nothing sleeps to synchronise; every Server and Client a fixture makes
is stopped at teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest

import lobbykit

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0   # one step: a connection, a reply, an event
PYTHON = sys.executable


def fast_limits(**overrides: Any) -> lobbykit.Limits:
    """Limits for tests: no rate limiting (bursts of 1,000 chats) and the cheapest Argon2
    (password tests stay fast). Neither is a protocol value under test."""
    limits = lobbykit.Limits(rate_per_second=1e6, rate_burst=1e6, argon2_memory_kib=8,
                             argon2_iterations=1)
    for name, value in overrides.items():
        setattr(limits, name, value)
    return limits


class EventLog:
    """A callback that records events (any thread) and waits for them with a deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: List[Any] = []

    def __call__(self, event: Any) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    @property
    def events(self) -> List[Any]:
        with self._cond:
            return list(self._events)

    def of(self, cls: type) -> List[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def wait_count(self, predicate: Callable[[Any], bool], count: int,
                   timeout: float = TIMEOUT, what: str = "events") -> List[Any]:
        """The first `count` events matching predicate, once there are that many."""
        def matches() -> List[Any]:
            return [e for e in self._events if predicate(e)]
        with self._cond:
            if not self._cond.wait_for(lambda: len(matches()) >= count, timeout):
                seen = [getattr(e, "type", e) for e in self._events][-30:]
                raise AssertionError(f"{len(matches())}/{count} {what} within {timeout} s; "
                                     f"last events: {seen}")
            return matches()[:count]

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = TIMEOUT,
                 what: str = "event") -> Any:
        return self.wait_count(predicate, 1, timeout, what)[0]


def is_chat(text: Optional[str] = None) -> Callable[[Any], bool]:
    return lambda e: (isinstance(e, lobbykit.events.Chat)
                      and (text is None or e.message.text == text))


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT,
               what: str = "condition") -> None:
    """Polls a condition that has no event to wait on (e.g. a state after stop())."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.005)


@pytest.fixture
def make_server():
    """Servers on 127.0.0.1:0, in memory unless store_path is given; stopped at teardown."""
    servers: List[lobbykit.Server] = []

    def make(start: bool = True, **overrides: Any) -> lobbykit.Server:
        overrides.setdefault("port", 0)
        overrides.setdefault("store_path", "")
        overrides.setdefault("limits", fast_limits())
        server = lobbykit.Server(**overrides)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture(params=["inprocess", "ws"])
def transport(request) -> str:
    """Every client test runs in-process (Client(server)) and over a real socket."""
    return request.param


def target_of(server: lobbykit.Server, transport: str) -> Any:
    return server if transport == "inprocess" else f"ws://127.0.0.1:{server.port}/ws"


@pytest.fixture
def connect(server, transport):
    """connect(name=None, **options) -> (client, log): started, connected, with an EventLog
    subscribed before start, and the name set when given. Stopped at teardown."""
    clients: List[lobbykit.Client] = []

    def make(name: Optional[str] = None, srv: Optional[lobbykit.Server] = None,
             **options: Any):
        client = lobbykit.Client(target_of(srv or server, transport), **options)
        clients.append(client)
        log = EventLog()
        client.subscribe(log)
        client.start()
        client.wait_connected(timeout=TIMEOUT)
        if name is not None:
            client.set_name(name)
        return client, log

    yield make
    for client in reversed(clients):
        client.stop()


@pytest.fixture
def lobby_of(connect):
    """lobby_of(n) -> (lobby_id, [(client, log)] * n): n named clients in one fresh lobby."""
    def make(count: int, lobby_name: str = "Standup"):
        members = [connect(name=f"member{i}") for i in range(count)]
        lobby_id = members[0][0].create_lobby(lobby_name)["lobby"]["id"]
        for client, _ in members:
            client.join_lobby(lobby_id)
        return lobby_id, members
    return make


@contextlib.contextmanager
def capture_unraisable() -> Iterator[List[Any]]:
    """The reports sys.unraisablehook gets inside the block. (Set inside the test body:
    pytest installs its own hook around each test call, over any fixture's.)"""
    seen: List[Any] = []
    lock = threading.Lock()

    def hook(report: Any) -> None:
        with lock:
            seen.append(report)

    previous = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        yield seen
    finally:
        sys.unraisablehook = previous


def subprocess_env(**extra: str) -> dict:
    """The environment for a child Python that must import the same lobbykit package."""
    env = dict(os.environ)
    package_parent = str(Path(lobbykit.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [package_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(extra)
    return env


SERVER_BINARY = os.environ.get("LOBBYKIT_SERVER") or str(ROOT / "build" / "lobbykit-server")


@contextlib.contextmanager
def server_process(*flags: str, port: int = 0, db: Optional[str] = None) -> Iterator[int]:
    """A lobbykit-server process (LOBBYKIT_SERVER) on 127.0.0.1, on `port` (0: a free one),
    in memory or in the SQLite file `db`, with extra command-line flags; yields its port.
    Fails the test if it does not start or dies before the end."""
    import re
    import subprocess
    import tempfile
    if not os.path.exists(SERVER_BINARY):
        pytest.fail(f"no lobbykit-server at {SERVER_BINARY} (set LOBBYKIT_SERVER)")
    log = tempfile.TemporaryFile(mode="w+")
    store = ["--db", db] if db else ["--memory"]
    proc = subprocess.Popen([SERVER_BINARY, "--port", str(port), *store, "--no-static", *flags],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        listening = None
        while listening is None:
            log.seek(0)
            found = re.search(r"lobbykit-server listening on http://[^\s:]+:(\d+)", log.read())
            if found:
                listening = int(found.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"lobbykit-server did not start (exit {proc.poll()}):\n{log.read()}")
            else:
                time.sleep(0.02)  # the port appears in its log: nothing to wait on
        yield listening
        log.seek(0)
        assert proc.poll() is None, f"lobbykit-server died (exit {proc.returncode}):\n{log.read()}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # stop at once (SIGTERM drains)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()
