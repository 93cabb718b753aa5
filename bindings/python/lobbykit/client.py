"""lobbykit.Client: a participant, with blocking requests (see aio.AsyncClient for asyncio)."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import _lobbykit
from ._callbacks import Subscription, WeakCall
from ._decode import decode
from ._lobbykit import ClientOptions
from ._options import with_overrides
from ._requests import Data, RequestHelpers
from .errors import Error, RequestError
from .events import ClientEvent, StateChanged, client_event_from_json
from .model import ErrorInfo, Snapshot
from .server import Server

ReplyCallback = Callable[[Optional[Data], Optional[RequestError]], Any]


def dump_data(data: Optional[Data]) -> str:
    """The request data as the JSON text the core takes ("{}" for None)."""
    return "{}" if data is None else json.dumps(data)


def reply_outcome(error: Optional[Tuple[str, str, Optional[str], Optional[int]]],
                  data_json: str) -> Tuple[Optional[Data], Optional[RequestError]]:
    """(result, None) or (None, RequestError) for what the core reports."""
    try:
        data = json.loads(data_json) if data_json else {}
    except ValueError:
        data = {}
    if error is not None:
        return None, RequestError(*error, data=data)
    return data, None


class Client(RequestHelpers[Data]):
    """A participant: connects to a server, authenticates, resumes its session after a drop,
    reconnects with backoff, keeps one state store (snapshot()) and delivers events.

    ``Client(target, options=None, **overrides)``: target is a ``ws://`` / ``wss://`` URL, or
    a lobbykit.Server in this process (no socket; the server is kept alive as long as the
    client). Overrides are ClientOptions fields (``name="Ada"``). A bad URL raises
    ValueError.

    Threads: the client has one loop thread (its own after start(), the caller's during
    run()). Event callbacks and request_with_callback() callbacks run on it, in order, and
    hold up this client while they run. Every method is safe from any thread, but the ones
    that wait for a reply (request() and the helpers, wait_connected()) raise RuntimeError on
    a thread that is running a lobbykit callback: there they would wait for themselves.
    stop() from this client's own callback returns at once. ``with Client(...) as c:``
    starts it (with a name, waiting until the name is taken) and stops it at the end.
    Subscribe before starting to see every event.
    """

    def __init__(self, target: Union[str, Server], options: Optional[ClientOptions] = None,
                 **overrides: Any) -> None:
        self.options: ClientOptions = with_overrides(ClientOptions, options, overrides)
        self._server: Optional[Server] = None
        if isinstance(target, Server):
            self._server = target
            self._core = _lobbykit.Client(target._core, self.options)
        elif isinstance(target, str):
            self.options.url = target
            self._core = _lobbykit.Client(self.options)
        else:
            raise TypeError(f"target must be a URL or a lobbykit.Server, "
                            f"not {type(target).__name__}")
        self._subscriptions: Dict[int, Subscription[ClientEvent]] = {}
        self._stopped = False

    def start(self, timeout: Optional[float] = None) -> Optional[Data]:
        """Connects and serves on a thread of its own. Without a name (options.name "") it
        returns None at once. With a name it returns once the client is ready — welcomed,
        and the name taken — with wait_ready()'s result; if that fails (the name's
        RequestError: name_taken, wrong_password, ...; gave_up; TimeoutError after timeout
        seconds) the client is stopped and the error raised. Waiting from a lobbykit callback
        raises RuntimeError: there, subscribe to events instead."""
        if not self.options.name:
            self._core.start()
            return None
        self._refuse_in_callback("start() with a name")
        self._core.start()
        try:
            return self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: Optional[float] = None) -> Data:
        """Waits for the outcome of starting, settled once per client: the first welcome
        came and the name of options.name, if any, is taken. Returns ``{"peer_id", "token",
        "name", "resumed"}``; raises RequestError with the name's code (name_taken,
        wrong_password, password_required, bad_field, ...: the client stays connected
        without a name), 'gave_up' / 'replaced' / 'kicked' when it stopped trying first, or
        'stopped'; TimeoutError after timeout seconds (the client keeps trying)."""
        self._refuse_in_callback("wait_ready()")
        done = threading.Event()
        outcome: List[Tuple[Optional[Data], Optional[RequestError]]] = []

        def settled(error: Any, data_json: str) -> None:
            outcome.append(reply_outcome(error, data_json))
            done.set()

        self._core.ready(settled)
        if not done.wait(timeout):
            raise TimeoutError(f"lobbykit: not ready after {timeout} s (state {self.state})")
        result, failure = outcome[0]
        if failure is not None:
            raise failure
        assert result is not None
        return result

    def run(self) -> None:
        """Connects and serves on the calling thread until stop(); the GIL is released
        meanwhile and callbacks run on this thread."""
        self._core.run()

    def stop(self) -> None:
        """Closes the connection, fails open requests with 'stopped' and ends the loop;
        returns when the loop has ended, or at once from one of this client's callbacks.
        Idempotent. A stopped client cannot start again."""
        self._core.stop()
        self._stopped = True

    def reconnect(self) -> None:
        """Connects again after the client stopped trying (replaced, kicked, gave up); while
        it waits for a backoff retry, retries now."""
        self._core.reconnect()

    @property
    def state(self) -> str:
        """'disconnected', 'connecting', 'connected' or 'reconnecting'. Never waits."""
        return str(self._core.state)

    def snapshot(self) -> Snapshot:
        """A copy of what the client knows (may wait briefly for the loop thread)."""
        return decode(Snapshot, json.loads(self._core.snapshot_json()))

    def subscribe(self, callback: Callable[[ClientEvent], Any]) -> int:
        """Calls ``callback(event)`` for every client event (a lobbykit.events class), on the
        client's loop thread, in order. An exception it raises goes to sys.unraisablehook
        and the client goes on. Returns an id for unsubscribe()."""
        subscription = Subscription(callback, client_event_from_json)
        sub_id = int(self._core.subscribe(WeakCall(subscription)))
        self._subscriptions[sub_id] = subscription
        return sub_id

    def unsubscribe(self, sub_id: int) -> None:
        """After it returns the callback does not run again."""
        self._core.unsubscribe(sub_id)
        self._subscriptions.pop(sub_id, None)

    def request(self, type: str, data: Optional[Data] = None) -> Data:
        """Sends any request and waits for its reply (GIL released): returns the result's
        data, or raises RequestError with the server's code or the client's own ('timeout',
        'not_connected' — no welcome yet —, 'connection_lost', 'stopped', 'bad_json')."""
        error, data_json = self._core.request_blocking(type, dump_data(data))
        result, failure = reply_outcome(error, data_json)
        if failure is not None:
            raise failure
        assert result is not None
        return result

    def request_with_callback(self, type: str, data: Optional[Data],
                              callback: ReplyCallback) -> None:
        """Sends any request without waiting: ``callback(result, None)`` or
        ``callback(None, RequestError)`` runs exactly once, on the client's loop thread (on
        this thread at once when the client is not running). Safe from callbacks."""
        def done(error: Any, data_json: str) -> None:
            callback(*reply_outcome(error, data_json))
        self._core.request(type, dump_data(data), done)

    def wait_connected(self, timeout: Optional[float] = None) -> None:
        """Waits until the client is connected (its welcome came). Raises TimeoutError after
        timeout seconds, and Error if the client gives up or stops meanwhile."""
        self._refuse_in_callback("wait_connected()")
        done = threading.Event()
        # (state, last error) of the first 'connected' or 'disconnected'
        outcome: List[Tuple[str, Optional[ErrorInfo]]] = []

        def on_event(event: ClientEvent) -> None:
            if isinstance(event, StateChanged) and event.state in ("connected",
                                                                  "disconnected"):
                # Events go out after the change that made them: the store already has
                # the reason (gave_up, kicked, replaced), ahead of its ErrorEvent.
                outcome.append((event.state, self.snapshot().last_error))
                done.set()

        sub_id = self.subscribe(on_event)
        try:
            if self.state == "connected":
                return
            if self.state == "disconnected" and (self._stopped or self._gave_up()):
                # It stopped before we subscribed: no event will come.
                outcome.append(("disconnected", self.snapshot().last_error))
                done.set()
            if not done.wait(timeout):
                raise TimeoutError(f"lobbykit: not connected after {timeout} s "
                                   f"(state {self.state})")
            state, last = outcome[0]
            if state != "connected":
                why = f": {last.code}: {last.message}" if last else ""
                raise Error("lobbykit: the client stopped trying to connect" + why)
        finally:
            self.unsubscribe(sub_id)

    @staticmethod
    def _refuse_in_callback(what: str) -> None:
        if _lobbykit.in_callback():
            raise RuntimeError(f"lobbykit: {what} from a lobbykit callback would wait for the "
                               "loop that runs the callback")

    def _gave_up(self) -> bool:
        last = self.snapshot().last_error
        return last is not None and last.code in ("gave_up", "replaced", "kicked")

    def __enter__(self) -> "Client":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = "in-process" if self._server is not None else self.options.url
        return f"<lobbykit.Client {where} {self.state}>"
