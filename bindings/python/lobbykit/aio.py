"""lobbykit.AsyncClient: the Client for asyncio programs (voicebots with aiortc, ...).

Nothing here blocks the event loop. Requests go through the core's callback form and come
back with ``loop.call_soon_threadsafe``; events do the same, in order, into every stream
returned by events(). stop() and snapshot(), which wait for the client's loop thread, run in
the loop's default executor.

No event is lost between construction and the first events() call: until then they are
kept (up to EVENT_BACKLOG) and the first stream starts with them."""

from __future__ import annotations

import asyncio
import warnings
import weakref
from typing import Any, Awaitable, Callable, List, Optional, Union

from ._lobbykit import ClientOptions
from ._requests import Data, RequestHelpers
from .client import Client, dump_data, reply_outcome
from .errors import Error, RequestError
from .events import ClientEvent, EventsDropped, StateChanged
from .model import ErrorInfo, Snapshot
from .server import Server

_END = object()  # the end of a stream


class EventStream:
    """The client's events in order until the client is stopped (then iteration ends): the
    first stream of a client from the client's construction on, later ones from the moment
    they were made. ``async for event in client.events():``; ``aclose()`` (or leaving
    ``async with``) detaches it."""

    def __init__(self, client: "AsyncClient") -> None:
        self._queue: "asyncio.Queue[Any]" = asyncio.Queue()
        self._client: Optional[AsyncClient] = client
        self._ended = False

    def __aiter__(self) -> "EventStream":
        return self

    async def __anext__(self) -> ClientEvent:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self._ended = True
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    def get_nowait(self) -> Optional[ClientEvent]:
        """The next event if one is waiting, else None."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is _END:
            self._ended = True
            return None
        return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Detaches the stream; iteration ends after what is already queued."""
        if self._client is not None:
            self._client._streams.discard(self)
            self._client = None
            self._end()

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _put(self, event: ClientEvent) -> None:
        self._queue.put_nowait(event)

    def _end(self) -> None:
        self._queue.put_nowait(_END)


class AsyncClient(RequestHelpers[Awaitable[Data]]):
    """A lobbykit.Client for asyncio. Make it inside a running event loop (it belongs to
    that loop): ``AsyncClient(target, options=None, **overrides)`` as for Client.

    Every request helper returns an awaitable (an asyncio Future) of the result's data and
    fails with RequestError; the request is sent when the helper is called. Only the event
    loop's thread may use the object. ``async with AsyncClient(...) as c:`` starts it
    (waiting until it is ready: connected, and its name taken) and stops it at the end.

    Events that come before the first events() call are kept for that first stream, up to
    EVENT_BACKLOG of them; past that the newer ones are dropped, a RuntimeWarning says so at
    once, and the first stream gets an events.EventsDropped with their count where they
    are missing."""

    EVENT_BACKLOG = 10_000  # events kept for the first stream, before events() is called

    def __init__(self, target: Union[str, Server], options: Optional[ClientOptions] = None,
                 **overrides: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = Client(target, options, **overrides)
        self._streams: "weakref.WeakSet[EventStream]" = weakref.WeakSet()
        self._waiters: List["asyncio.Future[None]"] = []
        self._why: Optional[ErrorInfo] = None  # why it went 'disconnected' last
        self._stopped = False
        self._down = False  # the last state delivered here is 'disconnected' (gave up, ...)
        # Until the first events(): what the first stream will start with. None after.
        self._backlog: Optional[List[ClientEvent]] = []
        self._backlog_dropped = 0
        # Subscribed before start(): no event is missed and nothing waits for a loop.
        self._client.subscribe(self._on_event)

    @property
    def client(self) -> Client:
        """The underlying Client (its waiting methods block: not from the event loop)."""
        return self._client

    @property
    def state(self) -> str:
        """'disconnected', 'connecting', 'connected' or 'reconnecting'. Never waits."""
        return self._client.state

    async def start(self, wait: bool = True) -> Optional[Data]:
        """Starts the client's own thread. With wait (bound it with asyncio.wait_for) it
        returns once the client is ready — welcomed, and the name of options.name taken —
        with wait_ready()'s result; if that fails (the name's RequestError: name_taken,
        wrong_password, ...; gave_up; cancelled) the client is stopped and the error raised.
        Without wait it returns None at once."""
        self._client._core.start()
        if not wait:
            return None
        try:
            return await self.wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def wait_ready(self) -> Data:
        """The outcome of starting, settled once per client (Client.wait_ready): ``{"peer_id",
        "token", "name", "resumed"}``, or RequestError with the name's code (the client
        stays connected without a name), 'gave_up' / 'replaced' / 'kicked', or 'stopped'."""
        future: "asyncio.Future[Data]" = self._loop.create_future()
        self._client._core.ready(self._settler(future))
        return await future

    async def wait_connected(self) -> None:
        """Returns once the client is connected (its welcome came); raises Error if it gives
        up or is stopped first."""
        if self.state == "connected":
            return
        if self._stopped or self._down:
            raise self._not_connecting()
        waiter: "asyncio.Future[None]" = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def stop(self) -> None:
        """Stops the client (in the default executor: it waits for the client's thread) and
        ends every event stream after the events delivered before."""
        await self._loop.run_in_executor(None, self._client.stop)
        self._stopped = True
        self._fail_waiters()
        for stream in list(self._streams):
            stream._end()
        self._streams.clear()

    def reconnect(self) -> None:
        """Connects again after the client stopped trying; never waits."""
        self._client.reconnect()

    async def snapshot(self) -> Snapshot:
        """A copy of what the client knows (read in the default executor)."""
        return await self._loop.run_in_executor(None, self._client.snapshot)

    def events(self) -> EventStream:
        """A stream of the events: the first one from the client's construction on (nothing
        is lost before it is made), later ones from now on."""
        stream = EventStream(self)
        if self._backlog is not None:
            for event in self._backlog:
                stream._put(event)
            if self._backlog_dropped:
                stream._put(EventsDropped(count=self._backlog_dropped))
            self._backlog = None
        if self._stopped:
            stream._end()
        else:
            self._streams.add(stream)
        return stream

    def request(self, type: str, data: Optional[Data] = None) -> "asyncio.Future[Data]":
        """Sends any request now; the future resolves on the event loop with the result's
        data or RequestError (the server's code, or 'timeout', 'not_connected',
        'connection_lost', 'stopped', 'bad_json')."""
        future: "asyncio.Future[Data]" = self._loop.create_future()
        self._client._core.request(type, dump_data(data), self._settler(future))
        return future

    def _settler(self, future: "asyncio.Future[Data]") -> Callable[[Any, str], None]:
        """A core reply callback that settles future on the event loop."""
        loop = self._loop

        def done(error: Any, data_json: str) -> None:
            result, failure = reply_outcome(error, data_json)
            try:   # the client's loop thread, or this one when the client is not running
                loop.call_soon_threadsafe(_settle, future, result, failure)
            except RuntimeError:
                pass  # the event loop is closed: nobody waits any more

        return done

    async def __aenter__(self) -> "AsyncClient":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _on_event(self, event: ClientEvent) -> None:  # the client's loop thread
        why = None
        if isinstance(event, StateChanged) and event.state == "disconnected":
            # Events go out after the change that made them, so the reason (gave_up, kicked,
            # replaced) is in the store already, ahead of its ErrorEvent.
            why = self._client.snapshot().last_error
        try:
            self._loop.call_soon_threadsafe(self._deliver, event, why)
        except RuntimeError:
            pass  # the event loop is closed

    def _deliver(self, event: ClientEvent, why: Optional[ErrorInfo]) -> None:  # the event loop
        if isinstance(event, StateChanged):
            self._down = event.state == "disconnected"
            if event.state == "connected":
                for waiter in self._waiters:
                    if not waiter.done():
                        waiter.set_result(None)
            elif event.state == "disconnected":
                self._why = why
                self._fail_waiters()
        if self._backlog is not None:
            self._keep(event)
        for stream in list(self._streams):
            stream._put(event)

    def _keep(self, event: ClientEvent) -> None:  # the event loop, before the first events()
        assert self._backlog is not None
        if len(self._backlog) < self.EVENT_BACKLOG:
            self._backlog.append(event)
            return
        self._backlog_dropped += 1
        if self._backlog_dropped == 1:
            warnings.warn(f"lobbykit: {self.EVENT_BACKLOG} events are waiting for "
                          "AsyncClient.events() to be called; newer ones are dropped until "
                          "then (the first stream reports how many)", RuntimeWarning,
                          stacklevel=2)

    def _fail_waiters(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(self._not_connecting())

    def _not_connecting(self) -> Error:
        if self._stopped:
            return Error("lobbykit: the client is stopped")
        why = f": {self._why.code}: {self._why.message}" if self._why else ""
        return Error("lobbykit: the client stopped trying to connect" + why)


def _settle(future: "asyncio.Future[Data]", result: Optional[Data],
            error: Optional[RequestError]) -> None:
    if future.done():
        return  # cancelled
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result if result is not None else {})


__all__ = ["AsyncClient", "EventStream"]
