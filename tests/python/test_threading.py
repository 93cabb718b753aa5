"""The threading rules: slow callbacks lose nothing and deadlock nothing, stop() from a
callback, exceptions in callbacks, waiting calls refused in callbacks, and objects whose
callbacks refer to them are still freed."""

import gc
import threading
import time
import weakref

import pytest

import lobbykit
from lobbykit import events as ev
from lobbykit import server_events as se
from conftest import TIMEOUT, EventLog, capture_unraisable, is_chat, wait_until

BURST = 1000


def test_a_thousand_events_to_a_slow_callback(lobby_of):
    lobby_id, [(sender, _), (receiver, _)] = lobby_of(2)
    received = []
    done = threading.Event()

    def slow(event):   # the receiver's loop thread, holding the GIL while it sleeps a little
        if isinstance(event, ev.Chat):
            time.sleep(0.0005)
            received.append((event.message.offset, event.message.text))
            if len(received) == BURST:
                done.set()

    receiver.subscribe(slow)
    replies = EventLog()
    for i in range(BURST):   # pipelined: the sender does not wait for each reply
        sender.request_with_callback("chat", {"text": f"n{i}"}, lambda r, e: replies(e))
    # Meanwhile this thread keeps calling into the receiver, which waits for its busy loop.
    deadline = time.monotonic() + 60
    while not done.wait(0.05) and time.monotonic() < deadline:
        snap = receiver.snapshot()
        assert snap.lobby is not None and snap.lobby.id == lobby_id
    assert done.is_set(), f"{len(received)}/{BURST} chats reached the slow callback"
    errors = [e for e in replies.wait_count(lambda _: True, BURST) if e is not None]
    assert errors == []
    offsets = [o for o, _ in received]
    assert offsets == list(range(offsets[0], offsets[0] + BURST))   # no loss, no reordering
    assert [t for _, t in received] == [f"n{i}" for i in range(BURST)]


def test_stop_from_own_client_callback(connect):
    client, log = connect(name="Ada")
    client.join_lobby(client.create_lobby("Stop")["lobby"]["id"])
    returned = threading.Event()

    def on_event(event):
        if is_chat("stop now")(event):
            client.stop()        # returns at once: the loop ends after this callback
            returned.set()

    client.subscribe(on_event)
    outcome = EventLog()
    client.request_with_callback("chat", {"text": "stop now"}, lambda r, e: outcome(e))
    assert returned.wait(TIMEOUT), "stop() from the client's own callback did not return"
    log.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == "disconnected")
    wait_until(lambda: client.state == "disconnected", what="client stopped")
    # The reply came after the push, so the stop failed it (docs: open requests fail).
    assert outcome.wait_for(lambda _: True).code == "stopped"
    client.stop()   # idempotent, from another thread
    with pytest.raises(lobbykit.RequestError) as info:
        client.chat("after")
    assert info.value.code == "stopped"


def test_stop_from_own_server_callback(make_server, connect):
    server = make_server()
    client, log = connect(name="Ada", srv=server)
    returned = threading.Event()

    def on_event(event):
        if isinstance(event, se.ChatPosted):
            server.stop()        # returns at once on the server's loop thread
            returned.set()

    server.subscribe(on_event)
    client.join_lobby(client.create_lobby("Stop")["lobby"]["id"])
    client.request_with_callback("chat", {"text": "bye"}, lambda r, e: None)
    assert returned.wait(TIMEOUT), "stop() from the server's own callback did not return"
    # The server closed its clients (1001): the client is reconnecting now.
    log.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == "reconnecting")
    server.stop()   # idempotent, from another thread


def test_callback_exceptions_are_reported_and_the_client_goes_on(connect):
    client, log = connect(name="Ada")
    with capture_unraisable() as unraisable:
        check_reports(client, log, unraisable)


def check_reports(client, log, unraisable):

    def broken(event):
        if is_chat()(event):
            raise ValueError(f"broken callback: {event.message.text}")

    client.subscribe(broken)
    client.join_lobby(client.create_lobby("Raise")["lobby"]["id"])
    client.chat("one")
    client.chat("two")
    log.wait_count(is_chat(), 2)
    wait_until(lambda: len(unraisable) >= 2, what="two unraisable reports")
    assert [str(r.exc_value) for r in unraisable[:2]] == ["broken callback: one",
                                                          "broken callback: two"]
    assert all(r.exc_type is ValueError for r in unraisable)
    assert "lobbykit callback" in repr(unraisable[0].object)
    assert "broken" in repr(unraisable[0].object)
    assert client.chat("three") == {"offset": 3}   # still working


def test_server_callback_exceptions_are_reported(make_server, connect):
    server = make_server()
    with capture_unraisable() as unraisable:
        broken = server.subscribe(lambda e: 1 / 0)
        client, _ = connect(name="Ada", srv=server)
        assert client.create_lobby("Still works")["lobby"]["name"] == "Still works"
        wait_until(lambda: len(unraisable) >= 1, what="an unraisable report")
        server.unsubscribe(broken)
    assert unraisable[0].exc_type is ZeroDivisionError


def test_waiting_calls_are_refused_in_callbacks(connect):
    client, log = connect(name="Ada")
    outcome = EventLog()

    def on_event(event):
        if isinstance(event, ev.NameChanged) and event.name == "Bea":
            try:
                client.list_lobbies()          # would wait for this very thread
            except RuntimeError as e:
                outcome(("blocking", str(e)))
            try:
                client.wait_connected(timeout=1)
            except RuntimeError as e:
                outcome(("wait", str(e)))
            # Non-waiting calls work: the callback form, state, snapshot of its own client.
            outcome(("state", client.state))
            outcome(("snapshot", client.snapshot().name))
            client.request_with_callback("list_lobbies", None,
                                         lambda r, e: outcome(("reply", r, e)))

    client.subscribe(on_event)
    client.set_name("Bea")
    results = outcome.wait_count(lambda _: True, 5)
    kinds = dict((r[0], r[1:]) for r in results)
    assert "lobbykit callback" in kinds["blocking"][0]
    assert "callback" in kinds["wait"][0]
    assert kinds["state"] == ("connected",)
    assert kinds["snapshot"] == ("Bea",)
    assert kinds["reply"] == ({"lobbies": []}, None)


def test_a_client_that_refers_to_itself_is_freed(server):
    """A bot whose callback (a bound method) refers to the bot and so to its client: a
    cycle. The core holds the callback only weakly, so the garbage collector frees the
    cycle, which stops the client (the server sees it go)."""
    class Bot:
        def __init__(self):
            self.client = lobbykit.Client(server)
            self.seen = []
            self.client.subscribe(self.on_event)

        def on_event(self, event):
            self.seen.append((event.type, self.client.state))

    server_log = EventLog()
    server.subscribe(server_log)
    bot = Bot()
    bot.client.start()
    bot.client.wait_connected(timeout=TIMEOUT)
    peer_id = bot.client.snapshot().peer_id
    gone = weakref.ref(bot.client)
    del bot
    gc.collect()
    assert gone() is None, "the client was kept alive by its own callback"
    server_log.wait_for(lambda e: isinstance(e, se.SessionDisconnected) and e.peer_id == peer_id)


def test_a_client_dropped_inside_its_own_callback(server):
    holder = [lobbykit.Client(server)]
    dropped = threading.Event()

    def on_event(event):
        if isinstance(event, ev.Welcome) and holder:
            holder.clear()     # the last reference: destroyed on its own loop thread
            gc.collect()
            dropped.set()

    holder[0].subscribe(on_event)
    holder[0].start()
    assert dropped.wait(TIMEOUT)
    # The server saw the connection go: the client's loop ended after the callback.
    log = EventLog()
    server.subscribe(log)
    probe = lobbykit.Client(server)
    with probe:
        probe.wait_connected(timeout=TIMEOUT)


def test_many_threads_share_one_client(connect):
    client, log = connect(name="Ada")
    client.join_lobby(client.create_lobby("Busy")["lobby"]["id"])
    failures = []

    def worker(n):
        try:
            for i in range(25):
                client.chat(f"{n}-{i}")
                client.snapshot()
        except Exception as e:   # reported below
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads) and failures == []
    chats = log.wait_count(is_chat(), 100)
    assert [c.message.offset for c in chats] == list(range(1, 101))
