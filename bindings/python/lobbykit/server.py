"""lobbykit.Server: the signaling server embedded in a Python program."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, Optional

from . import _lobbykit
from ._callbacks import Subscription, WeakCall
from ._lobbykit import ServerOptions
from ._options import with_overrides
from .errors import RequestError
from .hooks import Hook, native_hook
from .server_events import ServerEvent, server_event_from_json


class Server:
    """A lobbykit server in this process: WebSocket and HTTP on ``options.port`` plus
    in-process clients (``Client(server)``).

    ``Server(options=None, **overrides)`` takes a ServerOptions and/or its fields as
    keywords (``Server(port=0, store_path="")``); every field not given has the C++ default.
    Opening the store and binding the port happen here: StartError when they fail.

    Threads: the server has one loop thread (its own after start(), the caller's during
    run()). Event callbacks run on it, one at a time, in the order the changes happen, and
    hold up the whole server while they run: keep them short. Every method is safe from any
    thread; stop() from one of this server's own callbacks returns at once (the loop ends
    after the callback). ``with Server(...) as s:`` starts it and stops it at the end.
    """

    def __init__(self, options: Optional[ServerOptions] = None, **overrides: Any) -> None:
        self.options: ServerOptions = with_overrides(ServerOptions, options, overrides)
        self._core = _lobbykit.Server(self.options)
        self._subscriptions: Dict[int, Subscription[ServerEvent]] = {}

    def start(self) -> None:
        """Serves on a thread of its own; returns at once."""
        self._core.start()

    def run(self) -> None:
        """Serves on the calling thread until stop() (from a callback or another thread).
        The GIL is released meanwhile; callbacks run on this thread. Python signal handlers
        (Ctrl+C) cannot run until it returns: use start() where they must."""
        self._core.run()

    def stop(self) -> None:
        """Closes every client (1001), flushes the store and ends the loop; returns when the
        loop has ended, or at once from one of this server's callbacks. Idempotent. A
        stopped server cannot start again."""
        self._core.stop()

    @property
    def port(self) -> int:
        """The bound port (useful with port=0)."""
        return int(self._core.port)

    def subscribe(self, callback: Callable[[ServerEvent], Any]) -> int:
        """Calls ``callback(event)`` for every server event (a lobbykit.server_events class),
        on the server's loop thread. An exception it raises goes to sys.unraisablehook and the
        server goes on. Returns an id for unsubscribe()."""
        subscription = Subscription(callback, server_event_from_json)
        sub_id = int(self._core.subscribe(WeakCall(subscription)))
        self._subscriptions[sub_id] = subscription
        return sub_id

    def unsubscribe(self, sub_id: int) -> None:
        """After it returns the callback does not run again."""
        self._core.unsubscribe(sub_id)
        self._subscriptions.pop(sub_id, None)

    # -- hooks (docs/embedding.md, "Hooks"; lobbykit.hooks) -------------------------------
    # Each takes a function or an async def (which runs in the asyncio loop it is registered
    # from, or loop=); None removes the hook. Safe from any thread.

    def on_authenticate(self, hook: Optional[Hook], *,
                        loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        """Decides on every auth: request {"hook", "address", "data" (the auth data without
        token and password), "resume", "peer_id", "name", "is_bot", "user_id", "roles",
        "claims" (the access token's verified claims, or None)}; may set "name", "is_bot",
        "roles", "metadata"."""
        self._set_hook("authenticate", hook, loop)

    def on_join(self, hook: Optional[Hook], *,
                loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        """Decides on a session joining a lobby it is not in: request {"hook", "peer_id",
        "name", "is_bot", "roles", "lobby" (the lobby object), "has_media"}."""
        self._set_hook("join", hook, loop)

    def on_create_lobby(self, hook: Optional[Hook], *,
                        loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        """Decides on a new lobby (WebSocket or POST /api/lobbies): request {"hook",
        "peer_id", "address", "name", "private", "persistent", "max_participants"}; may
        change "name", "private", "persistent", "max_participants"."""
        self._set_hook("create_lobby", hook, loop)

    def on_chat(self, hook: Optional[Hook], *,
                loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        """Decides on a chat message before it is stored and broadcast: request {"hook",
        "peer_id", "name", "lobby_id", "text"}; may rewrite "text"."""
        self._set_hook("chat", hook, loop)

    def _set_hook(self, name: str, hook: Optional[Hook],
                  loop: Optional[asyncio.AbstractEventLoop]) -> None:
        self._core.set_hook(name, None if hook is None else native_hook(hook, loop))

    # -- bots (docs/bots.md) ---------------------------------------------------------------
    # The admin HTTP API's bot operations, for the host. Safe from any thread and from this
    # server's callbacks; each is durable when it returns. Failures raise RequestError with
    # a code of docs/protocol.md (lobby_not_found, unknown_kind, bot_quota, bad_field, ...).

    def add_bot(self, lobby_id: str, kind: str, key: str = "",
                metadata: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Puts a bot of ``kind`` into the lobby under ``key`` (default: the kind); the same
        key again returns the existing dispatch. Returns ``{"dispatch": {...}, "created":
        bool}`` (the Dispatch object of docs/bots.md)."""
        metadata_json = "" if metadata is None else json.dumps(metadata)
        return _outcome(self._core.add_bot(lobby_id, kind, key, metadata_json))

    def remove_bot(self, lobby_id: str, key: str) -> None:
        """Takes the bot with that key out of the lobby (its dispatch ends)."""
        _outcome(self._core.remove_bot(lobby_id, key))

    def bots(self) -> Dict[str, Any]:
        """``{"dispatches": [...], "kinds": [...], "providers": [...]}`` as docs/bots.md
        shows them."""
        result: Dict[str, Any] = json.loads(self._core.bots())
        return result

    def drain_bot_provider(self, provider_id: str) -> None:
        """No more offers to that provider; it is told to drain."""
        if not self._core.drain_bot_provider(provider_id):
            raise RequestError("provider_not_found", "There is no such provider.")

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<lobbykit.Server {self.options.host}:{self.port}>"


def _outcome(text: str) -> Dict[str, Any]:
    result: Dict[str, Any] = json.loads(text)
    if "code" in result:
        raise RequestError(result["code"], result.get("message", ""))
    return result
