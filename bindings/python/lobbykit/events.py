"""Client events: one frozen dataclass per kind, with a ``type`` string, built from the C++
``client_event_to_json`` form (so Python and the C ABI see the same fields). A Client's
callbacks and AsyncClient.events() deliver them, in the order they happen."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Type

from ._decode import decode, json_key
from .model import ChatMessage, ErrorInfo, IceCandidate, Lobby, Participant, SessionDescription


@dataclass(frozen=True)
class ClientEvent:
    """Base class of the client events."""
    type: str = field(default="", init=False)


@dataclass(frozen=True)
class StateChanged(ClientEvent):
    """The connection state changed: 'disconnected', 'connecting', 'connected' or
    'reconnecting'."""
    type: str = field(default="state_changed", init=False)
    state: str


@dataclass(frozen=True)
class Welcome(ClientEvent):
    """The server accepted the connection (new session, or resumed when ``resumed``).
    ``lobby`` and ``participants``: the lobby the session is in on the server, with its
    members (a resumed session); None and () when in none."""
    type: str = field(default="welcome", init=False)
    peer_id: str
    token: str
    name: str = ""
    resumed: bool = False
    lobby: Optional[Lobby] = None
    participants: Tuple[Participant, ...] = ()


@dataclass(frozen=True)
class LobbyJoined(ClientEvent):
    """A lobby snapshot was applied (joined, or rejoined after the server lost the
    membership); Client.snapshot() has its participants and chat."""
    type: str = field(default="lobby_joined", init=False)
    lobby: Lobby


@dataclass(frozen=True)
class LobbyUpdated(ClientEvent):
    """The settings of the lobby shown changed (the host or an admin); Client.snapshot()
    has them too."""
    type: str = field(default="lobby_updated", init=False)
    lobby: Lobby


@dataclass(frozen=True)
class LobbyLeft(ClientEvent):
    """Out of a lobby. reason: 'left', 'grace_expired', 'kicked', 'lobby_removed' or
    'rejoin_failed'."""
    type: str = field(default="lobby_left", init=False)
    lobby_id: str
    reason: str


@dataclass(frozen=True)
class ParticipantJoined(ClientEvent):
    """Someone joined our lobby (or, seen after a resume or rejoin, joined it meanwhile)."""
    type: str = field(default="participant_joined", init=False)
    participant: Participant


@dataclass(frozen=True)
class ParticipantLeft(ClientEvent):
    """Someone left our lobby: 'left', 'grace_expired', 'kicked', 'lobby_removed', or
    'missed' (gone while this client was away: seen after a resume or rejoin)."""
    type: str = field(default="participant_left", init=False)
    peer_id: str
    reason: str


@dataclass(frozen=True)
class ParticipantUpdated(ClientEvent):
    """A member's name, media flags or ``connected`` changed (ourselves included)."""
    type: str = field(default="participant_updated", init=False)
    participant: Participant


@dataclass(frozen=True)
class NameChanged(ClientEvent):
    """Our display name changed."""
    type: str = field(default="name_changed", init=False)
    name: str


@dataclass(frozen=True)
class Chat(ClientEvent):
    """A chat message in our lobby (ours included), new to this client."""
    type: str = field(default="chat", init=False)
    lobby_id: str
    message: ChatMessage


@dataclass(frozen=True)
class PeerAdded(ClientEvent):
    """Managed mesh: make a peer connection to peer_id; create the offer iff should_offer."""
    type: str = field(default="peer_added", init=False)
    peer_id: str
    name: str = ""
    is_bot: bool = False
    should_offer: bool = False


@dataclass(frozen=True)
class PeerRemoved(ClientEvent):
    """Managed mesh: close the peer connection to peer_id."""
    type: str = field(default="peer_removed", init=False)
    peer_id: str


@dataclass(frozen=True)
class Description(ClientEvent):
    """An SDP description relayed from peer ``from_`` (JSON ``from``)."""
    type: str = field(default="description", init=False)
    from_: str = field(metadata=json_key("from"))
    description: SessionDescription


@dataclass(frozen=True)
class Candidate(ClientEvent):
    """An ICE candidate relayed from peer ``from_``; None means end of candidates."""
    type: str = field(default="candidate", init=False)
    from_: str = field(metadata=json_key("from"))
    candidate: Optional[IceCandidate] = None


@dataclass(frozen=True)
class ErrorEvent(ClientEvent):
    """A server error not tied to a request, or a close: 'replaced' (another connection took
    the session), 'kicked', 'gave_up' (reconnect policy), or a server code."""
    type: str = field(default="error", init=False)
    code: str
    message: str = ""
    field: Optional[str] = None
    retry_after_ms: Optional[int] = None

    @property
    def error(self) -> ErrorInfo:
        return ErrorInfo(self.code, self.message, self.field, self.retry_after_ms)


@dataclass(frozen=True)
class AppMessage(ClientEvent):
    """An application message from member ``from_`` (JSON ``from``; "" when the server, i.e.
    the host, sent it) in lobby ``lobby_id``. ``to`` is this client's peer id when it was
    sent to it alone, "" when to the whole lobby. ``payload``: any JSON value."""
    type: str = field(default="app_message", init=False)
    lobby_id: str
    name: str
    from_: str = field(default="", metadata=json_key("from"))
    from_name: str = ""
    to: str = ""
    payload: Any = None


@dataclass(frozen=True)
class LobbyList(ClientEvent):
    """The lobby list (``snapshot().lobbies``) was replaced: a list_lobbies or watch_lobbies
    result, the latter also when the client subscribes again after a reconnect."""
    type: str = field(default="lobby_list", init=False)
    lobbies: Tuple[Lobby, ...] = ()


@dataclass(frozen=True)
class LobbyListed(ClientEvent):
    """While watching the lobby list: a public lobby appeared or changed (settings,
    metadata, participant count; counts are coalesced by the server)."""
    type: str = field(default="lobby_listed", init=False)
    lobby: Lobby


@dataclass(frozen=True)
class LobbyUnlisted(ClientEvent):
    """While watching the lobby list: a listed lobby went (removed, expired, made
    private)."""
    type: str = field(default="lobby_unlisted", init=False)
    lobby_id: str


@dataclass(frozen=True)
class EventsDropped(ClientEvent):
    """Python only (AsyncClient.events()): ``count`` events are missing here — they came
    while more than AsyncClient.EVENT_BACKLOG events waited for the first events() call.
    snapshot() has the state they would have told."""
    type: str = field(default="events_dropped", init=False)
    count: int


@dataclass(frozen=True)
class UnknownClientEvent(ClientEvent):
    """An event kind this version of the package does not know; ``data`` is its JSON."""
    type: str = field(default="", init=True)
    data: Dict[str, Any] = field(default_factory=dict)


_CLASSES: Tuple[Type[ClientEvent], ...] = (
    StateChanged, Welcome, LobbyJoined, LobbyLeft, ParticipantJoined, ParticipantLeft,
    ParticipantUpdated, NameChanged, Chat, PeerAdded, PeerRemoved, Description, Candidate,
    ErrorEvent, LobbyUpdated, AppMessage, LobbyList, LobbyListed, LobbyUnlisted)
_KINDS: Dict[str, Type[ClientEvent]] = {cls.type: cls for cls in _CLASSES}


def client_event_from_json(text: str) -> ClientEvent:
    """The event for one ``client_event_to_json`` text."""
    obj = json.loads(text)
    cls = _KINDS.get(obj.get("type", ""))
    if cls is None:
        return UnknownClientEvent(type=str(obj.get("type", "")), data=obj)
    return decode(cls, obj)


__all__ = [
    "ClientEvent", "StateChanged", "Welcome", "LobbyJoined", "LobbyLeft", "ParticipantJoined",
    "ParticipantLeft", "ParticipantUpdated", "NameChanged", "Chat", "PeerAdded", "PeerRemoved",
    "Description", "Candidate", "ErrorEvent", "LobbyUpdated", "AppMessage", "LobbyList",
    "LobbyListed", "LobbyUnlisted", "EventsDropped",
    "UnknownClientEvent",
    "client_event_from_json",
]
