"""lobbykit.Server: the signaling server embedded in a Python program."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, List, Optional

from . import _lobbykit
from ._callbacks import Subscription, WeakCall
from ._decode import decode
from ._lobbykit import ServerOptions
from ._options import with_overrides
from .errors import RequestError
from .hooks import Hook, native_hook
from .model import ChatMessage, Lobby, LobbyDetail, SessionInfo
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

    def drain(self) -> None:
        """Graceful drain (docs/deployment.md, "Draining"): readiness turns false, new
        WebSocket connections are refused (503 draining), and every connected client is told
        to reconnect (a ``reconnect`` message with ``options.drain_url`` and a delay, then
        close 1001) in batches over ``options.drain_ms``; then the server stops as stop()
        does. Returns at once; wait() waits for the end, stop() ends the drain at once."""
        self._core.drain()

    def reload_tls(self) -> None:
        """Reads options.tls_cert_path and tls_key_path again: connections made from now on
        get the new certificate, open ones keep theirs. Raises RequestError
        ("bad_tls_files" with the reason, the old certificate staying in use; "tls_off"
        without TLS)."""
        _outcome(self._core.reload_tls())

    def wait(self) -> None:
        """Returns once the loop has ended (after stop() or a drain), or at once when the
        server never ran. Not from one of this server's callbacks (RuntimeError there)."""
        self._core.wait()

    @property
    def draining(self) -> bool:
        """Whether drain() has begun."""
        return bool(self._core.draining)

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
        "user_id", "name", "is_bot", "roles", "lobby" (the lobby object), "has_media"}."""
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
        "peer_id", "user_id", "name", "roles", "lobby_id", "text"}; may rewrite "text"."""
        self._set_hook("chat", hook, loop)

    def on_app_message(self, name: str, hook: Optional[Hook], *,
                       loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        """Handles the members' application messages called ``name`` ("" : every name
        without a handler of its own; a name with neither is delivered without asking).
        Request {"hook": "app_message", "peer_id", "name" (the sender's display name),
        "user_id", "roles", "lobby_id", "to" ("" : the whole lobby), "type" (the message's
        name), "payload"}. The hook returns None or True (deliver), False (deny), raises
        Denied, or returns a dict: ``{"reply": X}`` handles the message itself (delivered to
        nobody; the sender's result has "reply": X) unless it also says ``"deliver": True``;
        ``{"deliver": False}`` handles it without a reply. None removes the handler."""
        self._core.set_app_message_hook(name, None if hook is None else native_hook(hook, loop))

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

    # -- operations (docs/embedding.md, "Operations") ------------------------------------
    # The host acts on the server through the code the admin HTTP API uses. Each blocking
    # method is safe from any thread and from this server's callbacks (there it runs inline),
    # is durable when it returns, and works before start() and after stop(). Failures raise
    # RequestError with a code of docs/protocol.md. Each has an ``*_async`` twin for asyncio
    # code: it runs the blocking call in a worker thread (asyncio.to_thread), never on the
    # event loop's thread.

    def list_sessions(self) -> List[SessionInfo]:
        """Every session (never its token)."""
        obj = json.loads(self._core.list_sessions())
        return [decode(SessionInfo, o) for o in obj["sessions"]]

    def list_lobbies(self) -> List[LobbyDetail]:
        """Every lobby, private ones included, in creation order, with its members."""
        obj = json.loads(self._core.list_lobbies())
        return [decode(LobbyDetail, o) for o in obj["lobbies"]]

    def get_lobby(self, lobby_id: str) -> LobbyDetail:
        """One lobby with its members. lobby_not_found."""
        return decode(LobbyDetail, _outcome(self._core.get_lobby(lobby_id)))

    def create_lobby(self, name: str, *, private: bool = False, persistent: bool = False,
                     max_participants: int = 0) -> Lobby:
        """A lobby counted under no session's or address's quota (max_participants 0: the
        server's limit). bad_field, lobby_exists, too_many_lobbies."""
        return decode(Lobby, _outcome(self._core.create_lobby(name, private, persistent,
                                                              max_participants)))

    def update_lobby(self, lobby_id: str, *, name: Optional[str] = None,
                     private: Optional[bool] = None, persistent: Optional[bool] = None,
                     max_participants: Optional[int] = None) -> Lobby:
        """Changes the settings given (None: unchanged); members get lobby_updated. A
        max_participants below the member count removes nobody; joins are refused until
        the lobby fits. lobby_not_found, bad_field, lobby_exists."""
        return decode(Lobby, _outcome(self._core.update_lobby(lobby_id, name, private,
                                                              persistent, max_participants)))

    def remove_lobby(self, lobby_id: str) -> None:
        """Members get lobby_left (reason lobby_removed). lobby_not_found."""
        _outcome(self._core.remove_lobby(lobby_id))

    def kick_session(self, peer_id: str) -> None:
        """The session leaves its lobby (kicked), its connection closes with 4002 and it is
        deleted. session_not_found."""
        _outcome(self._core.kick_session(peer_id))

    def rename_session(self, peer_id: str, name: str) -> SessionInfo:
        """Gives the session a display name (checked and cleaned as set_name does); its lobby
        sees participant_updated. session_not_found, bad_field, name_taken."""
        return decode(SessionInfo, _outcome(self._core.rename_session(peer_id, name)))

    def reset_password(self, name: str, password: Optional[str] = None) -> None:
        """Sets (hashed on a worker thread) or clears (None) the password of a claimed name,
        waiting for it. Not from this server's callbacks (RuntimeError: it would wait for
        itself); from asyncio use reset_password_async. bad_field, name_not_found."""
        _outcome(self._core.reset_password(name, password))

    def post_notice(self, lobby_id: str, text: str) -> ChatMessage:
        """A chat message from the server: stored and pushed like chat, with ``system``
        True and an empty sender. lobby_not_found, bad_field."""
        return decode(ChatMessage, _outcome(self._core.post_notice(lobby_id, text)))

    async def list_sessions_async(self) -> List[SessionInfo]:
        return await asyncio.to_thread(self.list_sessions)

    async def list_lobbies_async(self) -> List[LobbyDetail]:
        return await asyncio.to_thread(self.list_lobbies)

    async def get_lobby_async(self, lobby_id: str) -> LobbyDetail:
        return await asyncio.to_thread(self.get_lobby, lobby_id)

    async def create_lobby_async(self, name: str, *, private: bool = False,
                                 persistent: bool = False, max_participants: int = 0) -> Lobby:
        return await asyncio.to_thread(self.create_lobby, name, private=private,
                                       persistent=persistent, max_participants=max_participants)

    async def update_lobby_async(self, lobby_id: str, *, name: Optional[str] = None,
                                 private: Optional[bool] = None,
                                 persistent: Optional[bool] = None,
                                 max_participants: Optional[int] = None) -> Lobby:
        return await asyncio.to_thread(self.update_lobby, lobby_id, name=name, private=private,
                                       persistent=persistent, max_participants=max_participants)

    async def remove_lobby_async(self, lobby_id: str) -> None:
        await asyncio.to_thread(self.remove_lobby, lobby_id)

    async def kick_session_async(self, peer_id: str) -> None:
        await asyncio.to_thread(self.kick_session, peer_id)

    async def rename_session_async(self, peer_id: str, name: str) -> SessionInfo:
        return await asyncio.to_thread(self.rename_session, peer_id, name)

    async def reset_password_async(self, name: str, password: Optional[str] = None) -> None:
        await asyncio.to_thread(self.reset_password, name, password)

    async def post_notice_async(self, lobby_id: str, text: str) -> ChatMessage:
        return await asyncio.to_thread(self.post_notice, lobby_id, text)

    # -- application messages and metadata (docs/embedding.md) --------------------------

    def send_app_message(self, lobby_id: str, name: str, payload: Any = None,
                         to: Optional[str] = None) -> None:
        """An application message from the server (``from`` ""), to every connected member
        of the lobby or only to peer ``to``; ``payload`` is any JSON value.
        lobby_not_found, bad_field (name, payload), unknown_peer."""
        _outcome(self._core.send_app_message(lobby_id, name, json.dumps(payload), to or ""))

    def set_lobby_metadata(self, lobby_id: str, metadata: Dict[str, Any]) -> Lobby:
        """Replaces the lobby's metadata; members get lobby_updated. lobby_not_found,
        bad_field (over max_metadata_bytes)."""
        return decode(Lobby, _outcome(self._core.set_lobby_metadata(lobby_id, json.dumps(metadata))))

    def set_session_metadata(self, peer_id: str, metadata: Dict[str, Any]) -> SessionInfo:
        """Replaces the session's metadata; its lobby's members get participant_updated.
        session_not_found, bad_field."""
        return decode(SessionInfo,
                      _outcome(self._core.set_session_metadata(peer_id, json.dumps(metadata))))

    async def send_app_message_async(self, lobby_id: str, name: str, payload: Any = None,
                                     to: Optional[str] = None) -> None:
        await asyncio.to_thread(self.send_app_message, lobby_id, name, payload, to)

    async def set_lobby_metadata_async(self, lobby_id: str, metadata: Dict[str, Any]) -> Lobby:
        return await asyncio.to_thread(self.set_lobby_metadata, lobby_id, metadata)

    async def set_session_metadata_async(self, peer_id: str,
                                         metadata: Dict[str, Any]) -> SessionInfo:
        return await asyncio.to_thread(self.set_session_metadata, peer_id, metadata)

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
