"""lobbykit.BotProvider: run bots for a lobbykit server from an asyncio program.

    provider = lobbykit.BotProvider("ws://127.0.0.1:8080/ws", key="...", name="host-1",
                                    kinds={"echo": "Repeats what it hears"}, max_jobs=4)

    @provider.handler("echo")
    async def echo(ctx: lobbykit.JobContext) -> None:
        await ctx.client.chat(f"hello from {ctx.bot_name}")
        ...                                  # runs until the job is over

    asyncio.run(provider.run())              # until SIGTERM / SIGINT: drains, then stops

The provider link is the compiled lobbykit.BotProvider (the C++ ProviderCore: hello,
heartbeat, reconnect with backoff and job resume). For each offer it accepts when it has a
free place and a handler for the kind (declines otherwise), connects an AsyncClient with the
job's credential, joins the lobby as the bot and runs the handler with a JobContext. When
the handler returns the job ends (the dispatch is removed); when it raises the job ends with
retry (the server tries again); when the server cancels the job the handler's task is
cancelled and its client stopped. docs/bots.md has the protocol, docs/python.md a complete
bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import (Any, Awaitable, Callable, Dict, List, Mapping, Optional, Set, Tuple,
                    Union)

from . import _lobbykit
from ._callbacks import Subscription, WeakCall
from ._decode import decode
from ._lobbykit import ReconnectPolicy
from .aio import AsyncClient
from .errors import Error, RequestError
from .model import ErrorInfo
from .server import Server

log = logging.getLogger("lobbykit.bots")

Handler = Callable[["JobContext"], Awaitable[Any]]

MAX_REASON_CHARS = 200      # job_end's reason (docs/bots.md)
DRAIN_TIMEOUT_S = 30.0      # how long a drain waits for running jobs by default
LOAD_INTERVAL_S = 1.0       # how often a load function is sampled
JOIN_TIMEOUT_MS = 15_000    # a bot's connect-and-join bound when job_accept gives none


# -- values --------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeptJob:
    """A job the server kept for this provider across a reconnect."""
    job_id: str
    state: str = ""
    attempt: int = 0


@dataclass(frozen=True)
class ProviderEvent:
    """Base class of the provider's events (BotProvider.subscribe)."""
    type: str = field(default="", init=False)


@dataclass(frozen=True)
class ProviderStateChanged(ProviderEvent):
    """'disconnected', 'connecting', 'connected' or 'reconnecting'."""
    type: str = field(default="state_changed", init=False)
    state: str = ""


@dataclass(frozen=True)
class Registered(ProviderEvent):
    """A provider_hello result: new (resumed False) or resumed with the jobs kept."""
    type: str = field(default="registered", init=False)
    provider_id: str = ""
    resumed: bool = False
    jobs: Tuple[KeptJob, ...] = ()


@dataclass(frozen=True)
class JobOffer(ProviderEvent):
    """"Put a bot of `kind` into `lobby_id`"; answered within timeout_ms."""
    type: str = field(default="offer", init=False)
    job_id: str = ""
    dispatch_id: str = ""
    kind: str = ""
    lobby_id: str = ""
    lobby_name: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    timeout_ms: int = 0


@dataclass(frozen=True)
class JobCancelled(ProviderEvent):
    """The server cancelled a job (removed, lobby_removed, lobby_empty, join_timeout,
    unknown_job, reassigned); the bot's session is out of the lobby already."""
    type: str = field(default="cancel", init=False)
    job_id: str = ""
    reason: str = ""


@dataclass(frozen=True)
class DrainRequested(ProviderEvent):
    """An admin drained this provider: no more offers."""
    type: str = field(default="drain", init=False)


@dataclass(frozen=True)
class ProviderError(ProviderEvent):
    """A server error not tied to a request, or "unauthorized" (wrong key: the provider
    stops trying) / "gave_up"."""
    type: str = field(default="error", init=False)
    code: str = ""
    message: str = ""
    field: Optional[str] = None
    retry_after_ms: Optional[int] = None


_EVENT_TYPES = {cls.__dataclass_fields__["type"].default: cls  # type: ignore[attr-defined]
                for cls in (ProviderStateChanged, Registered, JobOffer, JobCancelled,
                            DrainRequested, ProviderError)}


def provider_event_from_json(text: str) -> ProviderEvent:
    obj = json.loads(text)
    cls = _EVENT_TYPES.get(obj.get("type", ""))
    if cls is None:
        return ProviderEvent()
    return decode(cls, obj)


@dataclass(frozen=True)
class ProviderSnapshot:
    """What the provider link knows."""
    state: str = "disconnected"
    provider_id: str = ""
    accepting: bool = True
    jobs: Tuple[str, ...] = ()
    load: float = 0.0
    last_error: Optional[ErrorInfo] = None


@dataclass(frozen=True)
class JobAssignment:
    """job_accept's result: the bot joins lobby_id with credential within join_timeout_ms."""
    job_id: str
    credential: str
    lobby_id: str
    bot_name: str
    join_timeout_ms: int


def cpu_load() -> float:
    """The machine's one-minute load average per CPU, capped at 1.0: a measured load for
    BotProvider(load=cpu_load)."""
    return min(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


# -- the job --------------------------------------------------------------------------------

class JobContext:
    """One job: what its handler gets. ``client`` is the bot's AsyncClient, connected and
    in the lobby (``lobby_id``) as ``bot_name``; ``media`` the bot's Mesh (lobbykit.media)
    when the provider runs bots with media, else None. The job is over when the handler
    returns (ended), raises (ended with retry), calls ``end()``, or the server cancels it
    (the handler's task is cancelled; ``cancel_reason`` says why)."""

    def __init__(self, provider: "BotProvider", offer: JobOffer, job: JobAssignment) -> None:
        self.job_id = offer.job_id
        self.dispatch_id = offer.dispatch_id
        self.kind = offer.kind
        self.lobby_id = job.lobby_id or offer.lobby_id
        self.lobby_name = offer.lobby_name
        self.metadata: Dict[str, Any] = dict(offer.metadata)
        self.attempt = offer.attempt
        self.bot_name = job.bot_name
        self.join_timeout_ms = job.join_timeout_ms
        self.client: AsyncClient = None  # type: ignore[assignment]  # set before the handler
        self.media: Any = None
        self.cancel_reason: Optional[str] = None
        self._provider = provider
        self._credential = job.credential
        self._task: Optional["asyncio.Task[None]"] = None
        self._ended = False

    @property
    def ended(self) -> bool:
        """True once the job is over on the server's side (end(), a cancel)."""
        return self._ended

    async def end(self, reason: str = "", retry: bool = False) -> None:
        """Ends the job: the server takes the bot out of the lobby and removes the dispatch
        (retry False) or tries it again (retry True, a failure). Then the handler's task is
        cancelled, its client stopped. Idempotent."""
        if self._ended:
            return
        self._ended = True
        await self._provider._end_job(self.job_id, reason, retry)
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        elif task is asyncio.current_task():
            raise asyncio.CancelledError  # the handler asked to end itself: it ends here

    def events(self) -> Any:
        """A stream of the bot client's events (AsyncClient.events()): from now on, or from
        the client's construction when it is the client's first stream (a bot without
        media: its connection and join come first). The lobby as it was when the bot
        joined is in ``await ctx.client.snapshot()``."""
        return self.client.events()

    def __repr__(self) -> str:
        return f"<lobbykit.JobContext {self.job_id} {self.kind} in {self.lobby_id}>"


# -- the provider ---------------------------------------------------------------------------

class BotProvider:
    """A bot provider for asyncio programs. Make it inside a running event loop, or make it
    anywhere and call ``run()`` / ``start()`` in one.

    ``BotProvider(target, key, name, kinds, max_jobs=1, *, handlers=None, version="",
    media=True, load=None, drain_timeout=30.0, reconnect=None, status_interval_ms=0,
    request_timeout_ms=10000, connect_timeout_ms=10000, client_options=None)``:

    - target: the server's ``ws://`` URL, or a lobbykit.Server in this process;
    - kinds: {kind: description}; handlers: {kind: async def handler(ctx)}, or register
      them with the ``handler(kind)`` decorator;
    - media: the bots join with media (has_media, audio on, video muted: they send audio,
      no video) and get a ``ctx.media`` Mesh (needs aiortc); False: no media, ctx.media None;
    - load: a function returning 0.0–1.0 (e.g. ``cpu_load``) sampled every second for the
      heartbeat; None reports running / max_jobs;
    - drain_timeout: how long drain() waits for running jobs before ending them with retry;
    - client_options: ClientOptions overrides for the bots' AsyncClients (``reconnect``,
      ``request_timeout_ms``, ...).
    """

    def __init__(self, target: Union[str, Server], key: str, name: str,
                 kinds: Mapping[str, str], max_jobs: int = 1, *,
                 handlers: Optional[Mapping[str, Handler]] = None, version: str = "",
                 media: bool = True, load: Optional[Callable[[], float]] = None,
                 drain_timeout: float = DRAIN_TIMEOUT_S,
                 reconnect: Optional[ReconnectPolicy] = None, status_interval_ms: int = 0,
                 request_timeout_ms: int = 10_000, connect_timeout_ms: int = 10_000,
                 client_options: Optional[Mapping[str, Any]] = None) -> None:
        if not kinds:
            raise ValueError("lobbykit.BotProvider: no bot kinds")
        if max_jobs < 1:
            raise ValueError("lobbykit.BotProvider: max_jobs must be at least 1")
        self.target = target
        self.kinds: Dict[str, str] = dict(kinds)
        self.max_jobs = max_jobs
        self.media = media
        self.drain_timeout = drain_timeout
        self._load = load
        self._client_options: Dict[str, Any] = dict(client_options or {})
        self._request_timeout_s = request_timeout_ms / 1000
        self._handlers: Dict[str, Handler] = dict(handlers or {})
        args = (key, name, version, list(self.kinds.items()), max_jobs,
                reconnect or ReconnectPolicy(), request_timeout_ms, connect_timeout_ms,
                status_interval_ms)
        if isinstance(target, Server):
            self._core = _lobbykit.BotProvider(target._core, *args)
        elif isinstance(target, str):
            self._core = _lobbykit.BotProvider(target, *args)
        else:
            raise TypeError(f"target must be a URL or a lobbykit.Server, "
                            f"not {type(target).__name__}")
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._subscriptions: Dict[int, Subscription[ProviderEvent]] = {}
        self._listeners: List[Callable[[ProviderEvent], Any]] = []
        self._jobs: Dict[str, JobContext] = {}      # running (the handler's task exists)
        self._starting: Set[str] = set()            # accepted or being accepted
        self._cancelled: Dict[str, str] = {}        # cancelled while starting: the reason
        self._accepting = True
        self._registered: Optional["asyncio.Future[Registered]"] = None
        self._stop_requested: Optional[asyncio.Event] = None
        self._load_task: Optional["asyncio.Task[None]"] = None
        self._offer_tasks: Set["asyncio.Task[None]"] = set()  # offers being answered
        self._started = False
        self._stopped = False

    # -- registration -----------------------------------------------------------------
    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        """Decorator: ``@provider.handler("echo") async def echo(ctx): ...``."""
        if kind not in self.kinds:
            raise ValueError(f"lobbykit.BotProvider: {kind!r} is not one of its kinds")

        def register(fn: Handler) -> Handler:
            self._handlers[kind] = fn
            return fn
        return register

    def subscribe(self, listener: Callable[[ProviderEvent], Any]) -> None:
        """Calls listener(event) on the event loop for every provider event (offers,
        cancels, registrations, errors), after the provider has acted on it."""
        self._listeners.append(listener)

    # -- state ------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The provider link: 'disconnected', 'connecting', 'connected', 'reconnecting'."""
        return str(self._core.state)

    @property
    def jobs(self) -> Dict[str, JobContext]:
        """The running jobs by job id (a copy)."""
        return dict(self._jobs)

    @property
    def accepting(self) -> bool:
        return self._accepting

    async def snapshot(self) -> ProviderSnapshot:
        """What the provider link knows (read in the default executor)."""
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(None, self._core.snapshot_json)
        return decode(ProviderSnapshot, json.loads(text))

    # -- life -------------------------------------------------------------------------
    async def start(self, wait: bool = True) -> Registered:
        """Connects; with wait, returns the first hello result (raises Error if the server
        refuses the provider, e.g. a wrong key). Bound it with asyncio.wait_for."""
        if self._started:
            raise RuntimeError("lobbykit.BotProvider: already started")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._registered = self._loop.create_future()
        # retrieved here too, so a refusal nobody waits for (wait=False) is not reported
        self._registered.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._stop_requested = asyncio.Event()
        subscription = Subscription(self._from_core, provider_event_from_json)
        self._subscriptions[int(self._core.subscribe(WeakCall(subscription)))] = subscription
        self._core.start()
        if self._load is not None:
            self._load_task = self._loop.create_task(self._report_load())
        if not wait:
            return Registered()
        return await asyncio.shield(self._registered)

    async def drain(self, timeout: Optional[float] = None) -> None:
        """Stops accepting (provider_drain), waits up to timeout seconds (default
        drain_timeout) for the running jobs to end, then ends the rest with retry so other
        providers take them over."""
        self._accepting = False
        if self._started and not self._stopped:
            with contextlib.suppress(Error):
                await self._request(self._core.drain)
        bound = self.drain_timeout if timeout is None else timeout
        tasks = [ctx._task for ctx in self._jobs.values() if ctx._task is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=bound)
            for ctx in list(self._jobs.values()):
                if ctx._task in pending:
                    log.warning("job %s still running after the drain bound: ending it "
                                "with retry", ctx.job_id)
                    await self._finish(ctx, "provider draining", retry=True)

    async def stop(self) -> None:
        """Ends every running job with retry (other providers take them over), stops the
        bots' clients and closes the provider link. Idempotent."""
        if self._stopped:
            return
        self._accepting = False
        for task in list(self._offer_tasks):
            task.cancel()
        for ctx in list(self._jobs.values()):
            await self._finish(ctx, "provider stopping", retry=True)
        self._stopped = True
        if self._load_task is not None:
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._load_task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._core.stop)
        for sub_id in list(self._subscriptions):
            self._core.unsubscribe(sub_id)
        self._subscriptions.clear()
        if self._registered is not None and not self._registered.done():
            self._registered.set_exception(Error("lobbykit.BotProvider: stopped"))
        if self._stop_requested is not None:
            self._stop_requested.set()

    def request_stop(self) -> None:
        """Makes run() drain and stop (what SIGTERM and SIGINT do). Event loop thread."""
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def run(self) -> None:
        """Starts, serves until SIGTERM/SIGINT or request_stop(), then drains (bounded by
        drain_timeout) and stops."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.request_stop)
                installed.append(sig)
        try:
            await self.start()
            assert self._stop_requested is not None
            await self._stop_requested.wait()
            if not self._stopped:
                await self.drain()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()

    async def __aenter__(self) -> "BotProvider":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- events from the core ---------------------------------------------------------
    def _from_core(self, event: ProviderEvent) -> None:  # the provider's loop thread
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the event loop is closed
            loop.call_soon_threadsafe(self._on_event, event)

    def _on_event(self, event: ProviderEvent) -> None:  # the event loop
        if isinstance(event, Registered):
            if self._registered is not None and not self._registered.done():
                self._registered.set_result(event)
        elif isinstance(event, ProviderError):
            if event.code in ("unauthorized", "bad_field", "gave_up") and \
                    self._registered is not None and not self._registered.done():
                self._registered.set_exception(RequestError(
                    event.code, event.message, event.field, event.retry_after_ms))
        elif isinstance(event, JobOffer):
            assert self._loop is not None
            task = self._loop.create_task(self._on_offer(event))
            self._offer_tasks.add(task)
            task.add_done_callback(self._offer_tasks.discard)
        elif isinstance(event, JobCancelled):
            self._on_cancel(event)
        elif isinstance(event, DrainRequested):
            self._accepting = False
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener's failure is its own
                log.exception("a BotProvider listener failed")

    async def _on_offer(self, offer: JobOffer) -> None:
        # A job the server cancelled, or that ended, holds no place any more: the server
        # offers that place again at once, while the job's task may still be stopping.
        busy = sum(1 for c in self._jobs.values() if not c._ended) + len(self._starting)
        why = ("draining" if not self._accepting or self._stopped else
               "no handler for this kind" if offer.kind not in self._handlers else
               "full" if busy >= self.max_jobs else None)
        if why is not None:
            with contextlib.suppress(Error):
                await self._request(self._core.decline, offer.job_id, why)
            return
        self._starting.add(offer.job_id)
        try:
            job = await self._accept(offer.job_id)
        except Error as e:
            log.info("job %s: accept failed: %s", offer.job_id, e)
            self._starting.discard(offer.job_id)
            return
        ctx = JobContext(self, offer, job)
        ctx._task = asyncio.get_running_loop().create_task(self._run_job(ctx))

    def _on_cancel(self, event: JobCancelled) -> None:
        ctx = self._jobs.get(event.job_id)
        if ctx is not None:
            ctx.cancel_reason = event.reason
            ctx._ended = True  # the server let it go: no job_end
            if ctx._task is not None:
                ctx._task.cancel()
        elif event.job_id in self._starting:
            self._cancelled[event.job_id] = event.reason

    # -- one job ----------------------------------------------------------------------
    async def _run_job(self, ctx: JobContext) -> None:
        self._starting.discard(ctx.job_id)
        self._jobs[ctx.job_id] = ctx
        client: Optional[AsyncClient] = None
        try:
            if ctx.job_id in self._cancelled:
                ctx.cancel_reason = self._cancelled.pop(ctx.job_id)
                ctx._ended = True
                return
            options = dict(self._client_options)
            options["bot_credential"] = ctx._credential
            client = ctx.client = AsyncClient(self.target, **options)
            if self.media:
                from .media import Mesh  # aiortc only when bots have media
                ctx.media = Mesh(client)
            # In the lobby by the server's join deadline, or the job has failed anyway.
            await asyncio.wait_for(self._join(client, ctx.lobby_id),
                                   (ctx.join_timeout_ms or JOIN_TIMEOUT_MS) / 1000)
            if ctx.media is not None:
                await ctx.media.start()
            await self._handlers[ctx.kind](ctx)
            if not ctx._ended:
                ctx._ended = True
                await self._end_job(ctx.job_id, "done", False)
        except asyncio.CancelledError:
            pass  # cancelled by the server, end(), drain or stop: whoever did says why
        except Exception as e:
            log.exception("job %s (%s) failed", ctx.job_id, ctx.kind)
            if not ctx._ended:
                ctx._ended = True
                with contextlib.suppress(Error):
                    await self._end_job(ctx.job_id, _reason(e), True)
        finally:
            self._jobs.pop(ctx.job_id, None)
            self._cancelled.pop(ctx.job_id, None)
            if ctx.media is not None:
                with contextlib.suppress(Exception):
                    await ctx.media.close()
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()

    async def _join(self, client: AsyncClient, lobby_id: str) -> None:
        await client.start()
        # The flags say what the bot sends: audio (with media), never video.
        await client.join_lobby(lobby_id, has_media=self.media, audio_muted=False,
                                video_muted=True)

    async def _finish(self, ctx: JobContext, reason: str, retry: bool) -> None:
        """Ends a running job from outside its handler and waits for its task."""
        task = ctx._task
        if not ctx._ended:
            ctx._ended = True
            # Bounded: while the link is down the core keeps job_end for the next hello,
            # and stopping must not wait for a server that is gone.
            with contextlib.suppress(Error, asyncio.TimeoutError):
                await asyncio.wait_for(self._end_job(ctx.job_id, reason, retry),
                                       self._request_timeout_s)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- requests ---------------------------------------------------------------------
    def _request(self, method: Callable[..., None], *args: Any) -> "asyncio.Future[Any]":
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[Any]" = loop.create_future()

        def done(error: Any, data: Any) -> None:  # the provider's loop thread, or here
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, error, data)
        method(*args, done)
        return future

    async def _accept(self, job_id: str) -> JobAssignment:
        return JobAssignment(*await self._request(self._core.accept, job_id))

    async def _end_job(self, job_id: str, reason: str, retry: bool) -> None:
        try:
            await self._request(self._core.end_job, job_id, reason[:MAX_REASON_CHARS], retry)
        except RequestError as e:
            if e.code != "job_not_found":  # gone already: ended all the same
                raise

    async def _report_load(self) -> None:
        assert self._load is not None
        while True:
            try:
                self._core.set_load(float(self._load()))
            except Exception:
                log.exception("the load function failed")
            await asyncio.sleep(LOAD_INTERVAL_S)


def _settle(future: "asyncio.Future[Any]", error: Any, data: Any) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(RequestError(*error))
    else:
        future.set_result(data)


def _reason(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    return text[:MAX_REASON_CHARS]


__all__ = ["BotProvider", "JobContext", "JobOffer", "JobAssignment", "JobCancelled",
           "KeptJob", "Registered", "DrainRequested", "ProviderError", "ProviderEvent",
           "ProviderStateChanged", "ProviderSnapshot", "cpu_load",
           "provider_event_from_json"]
