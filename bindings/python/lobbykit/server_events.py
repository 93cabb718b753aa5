"""Server events: one frozen dataclass per kind, with a ``type`` string, built from the C++
``event_to_json`` form (so Python and the C ABI see the same fields). Server.subscribe()
callbacks get them on the server's loop thread, in the order the changes happen."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple, Type

from ._decode import decode, json_key
from .model import BotDispatch, ChatMessage, Lobby, Participant


@dataclass(frozen=True)
class ServerEvent:
    """Base class of the server events."""
    type: str = field(default="", init=False)


@dataclass(frozen=True)
class SessionCreated(ServerEvent):
    """A new session authenticated."""
    type: str = field(default="session_created", init=False)
    peer_id: str
    name: str = ""
    is_bot: bool = False


@dataclass(frozen=True)
class SessionResumed(ServerEvent):
    """A session came back with its token."""
    type: str = field(default="session_resumed", init=False)
    peer_id: str
    name: str = ""


@dataclass(frozen=True)
class SessionDisconnected(ServerEvent):
    """A session's connection went away; its resume grace runs now."""
    type: str = field(default="session_disconnected", init=False)
    peer_id: str


@dataclass(frozen=True)
class SessionClosed(ServerEvent):
    """A session is gone for good: expired, or removed by an admin."""
    type: str = field(default="session_closed", init=False)
    peer_id: str
    reason: str = ""


@dataclass(frozen=True)
class NameChanged(ServerEvent):
    """A session's display name changed."""
    type: str = field(default="name_changed", init=False)
    peer_id: str
    old_name: str
    new_name: str


@dataclass(frozen=True)
class LobbyCreated(ServerEvent):
    """A lobby was created."""
    type: str = field(default="lobby_created", init=False)
    lobby: Lobby


@dataclass(frozen=True)
class LobbyRemoved(ServerEvent):
    """A lobby is gone: 'expired' (empty too long) or 'removed' (admin)."""
    type: str = field(default="lobby_removed", init=False)
    lobby_id: str
    reason: str


@dataclass(frozen=True)
class ParticipantJoined(ServerEvent):
    """A session joined a lobby."""
    type: str = field(default="participant_joined", init=False)
    lobby_id: str
    participant: Participant


@dataclass(frozen=True)
class ParticipantLeft(ServerEvent):
    """A session left a lobby: 'left', 'grace_expired', 'kicked' or 'lobby_removed'."""
    type: str = field(default="participant_left", init=False)
    lobby_id: str
    peer_id: str
    reason: str
    had_media: bool = False


@dataclass(frozen=True)
class ParticipantUpdated(ServerEvent):
    """A member's name, media flags or ``connected`` changed."""
    type: str = field(default="participant_updated", init=False)
    lobby_id: str
    participant: Participant


@dataclass(frozen=True)
class ChatPosted(ServerEvent):
    """A chat message was stored."""
    type: str = field(default="chat_posted", init=False)
    lobby_id: str
    message: ChatMessage


@dataclass(frozen=True)
class SignalRelayed(ServerEvent):
    """A description or candidate was relayed (the payload is not in the event)."""
    type: str = field(default="signal_relayed", init=False)
    lobby_id: str
    from_: str = field(metadata=json_key("from"))
    to: str
    kind: str  # "description" or "candidate"


@dataclass(frozen=True)
class BotProviderConnected(ServerEvent):
    """A bot provider registered (or resumed)."""
    type: str = field(default="bot_provider_connected", init=False)
    provider_id: str
    name: str
    kinds: str  # comma-separated
    resumed: bool = False


@dataclass(frozen=True)
class BotProviderDisconnected(ServerEvent):
    """A bot provider's connection ended ('closed', 'silent'), or its reclaim window passed
    ('gone')."""
    type: str = field(default="bot_provider_disconnected", init=False)
    provider_id: str
    reason: str


@dataclass(frozen=True)
class BotDispatchUpdated(ServerEvent):
    """A bot dispatch was added or changed state, or its job did; ``job_reason`` says why
    the previous job ended ("" when none did)."""
    type: str = field(default="bot_dispatch_updated", init=False)
    dispatch: BotDispatch
    job_id: str = ""
    job_state: str = ""
    provider_id: str = ""
    job_reason: str = ""


@dataclass(frozen=True)
class BotDispatchRemoved(ServerEvent):
    """A bot dispatch is gone: 'removed', 'ended_by_bot', 'lobby_removed', 'lobby_empty'."""
    type: str = field(default="bot_dispatch_removed", init=False)
    dispatch_id: str
    lobby_id: str
    reason: str


@dataclass(frozen=True)
class LobbyUpdated(ServerEvent):
    """A lobby's settings changed (Server.update_lobby, the admin API): ``lobby`` holds
    them now."""
    type: str = field(default="lobby_updated", init=False)
    lobby: Lobby


@dataclass(frozen=True)
class AppMessage(ServerEvent):
    """A member's application message was delivered to ``delivered`` members (the whole
    lobby but the sender, or ``to`` alone). Not published for messages a hook handled, nor
    for the host's own send_app_message."""
    type: str = field(default="app_message", init=False)
    lobby_id: str
    name: str
    from_: str = field(default="", metadata=json_key("from"))
    from_name: str = ""
    to: str = ""
    payload: Any = None
    delivered: int = 0


@dataclass(frozen=True)
class UnknownServerEvent(ServerEvent):
    """An event kind this version of the package does not know; ``data`` is its JSON."""
    type: str = field(default="", init=True)
    data: Dict[str, Any] = field(default_factory=dict)


_CLASSES: Tuple[Type[ServerEvent], ...] = (
    SessionCreated, SessionResumed, SessionDisconnected, SessionClosed, NameChanged,
    LobbyCreated, LobbyRemoved, ParticipantJoined, ParticipantLeft, ParticipantUpdated,
    ChatPosted, SignalRelayed, BotProviderConnected, BotProviderDisconnected,
    BotDispatchUpdated, BotDispatchRemoved, LobbyUpdated, AppMessage)
_KINDS: Dict[str, Type[ServerEvent]] = {cls.type: cls for cls in _CLASSES}


def server_event_from_json(text: str) -> ServerEvent:
    """The event for one ``event_to_json`` text."""
    obj = json.loads(text)
    cls = _KINDS.get(obj.get("type", ""))
    if cls is None:
        return UnknownServerEvent(type=str(obj.get("type", "")), data=obj)
    return decode(cls, obj)


__all__ = [
    "ServerEvent", "SessionCreated", "SessionResumed", "SessionDisconnected", "SessionClosed",
    "NameChanged", "LobbyCreated", "LobbyRemoved", "ParticipantJoined", "ParticipantLeft",
    "ParticipantUpdated", "ChatPosted", "SignalRelayed", "BotProviderConnected",
    "BotProviderDisconnected", "BotDispatchUpdated", "BotDispatchRemoved", "LobbyUpdated",
    "AppMessage",
    "UnknownServerEvent",
    "server_event_from_json",
]
