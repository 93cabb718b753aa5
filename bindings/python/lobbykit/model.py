"""Plain values: what events and snapshots carry. Field names are the JSON names of
docs/protocol.md ("Values"), snake_case where the JSON is not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from ._decode import json_key


@dataclass(frozen=True)
class Participant:
    """A member of a lobby as the other members see it."""
    peer_id: str
    name: str
    has_media: bool = False
    audio_muted: bool = False
    video_muted: bool = False
    screen_sharing: bool = False  # sends a screen as a second video track
    is_bot: bool = False
    connected: bool = True  # False while the member's resume grace runs
    user_id: str = ""  # the host's user id from an access token; "" when none
    roles: Tuple[str, ...] = ()  # from the access token (docs/protocol.md, "Roles")
    # The session's metadata (its access token's, the host's, or its own set_metadata).
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Lobby:
    """A lobby. ``participants`` is a count, as in the JSON."""
    id: str
    name: str
    private: bool = False
    persistent: bool = False
    max_participants: int = 0
    participants: int = 0
    created_ms: int = 0
    metadata: Dict[str, Any] = field(default_factory=dict)  # the host's or a moderator's


@dataclass(frozen=True)
class ChatMessage:
    """One chat message; offsets are per lobby, start at 1 and grow by exactly 1.
    ``system``: a notice from the server (the host or an admin), not from a participant;
    ``sender`` and ``sender_name`` are then ""."""
    offset: int
    sender: str
    sender_name: str
    text: str
    time_ms: int = 0
    system: bool = False


@dataclass(frozen=True)
class ErrorInfo:
    """An error as the client reports it: the server's code, or the client's own."""
    code: str
    message: str = ""
    field: Optional[str] = None           # bad_field: which one, e.g. "data.name"
    retry_after_ms: Optional[int] = None  # too_many_attempts, rate_limited


@dataclass(frozen=True)
class SessionDescription:
    """An SDP offer/answer as relayed (an RTCSessionDescriptionInit)."""
    type: str  # "offer", "answer", "pranswer" or "rollback"
    sdp: str = ""


@dataclass(frozen=True)
class IceCandidate:
    """An ICE candidate as relayed (an RTCIceCandidateInit)."""
    candidate: str
    sdp_mid: Optional[str] = field(default=None, metadata=json_key("sdpMid"))
    sdp_mline_index: Optional[int] = field(default=None, metadata=json_key("sdpMLineIndex"))


@dataclass(frozen=True)
class Snapshot:
    """What a Client knows (Client.snapshot()): a copy, the single source of truth."""
    state: str
    peer_id: str = ""
    token: str = ""  # keep it to resume the session later (ClientOptions.token)
    name: str = ""
    is_bot: bool = False
    lobby: Optional[Lobby] = None
    participants: Tuple[Participant, ...] = ()
    chat: Tuple[ChatMessage, ...] = ()  # by offset, no duplicates
    last_offset: int = 0
    history_complete: bool = True
    last_error: Optional[ErrorInfo] = None
    # The public lobbies, oldest first: the last list_lobbies or watch_lobbies result, kept
    # current by the server's pushes while watching_lobbies.
    lobbies: Tuple[Lobby, ...] = ()
    watching_lobbies: bool = False  # watch_lobbies(True) holds: subscribed after each welcome


@dataclass(frozen=True)
class BotDispatch:
    """A bot dispatch (docs/bots.md): the wish "a bot of ``kind`` in ``lobby_id``" and its
    state: "waiting" (``reason`` says why), "starting", "running" or "failed"."""
    dispatch_id: str
    lobby_id: str
    kind: str
    key: str = ""
    state: str = "waiting"
    reason: str = ""
    attempts: int = 0
    bot_peer_id: str = ""
    created_ms: int = 0
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionInfo:
    """A session as the host sees it (Server.list_sessions); never carries its token."""
    peer_id: str
    name: str = ""
    is_bot: bool = False
    connected: bool = False  # False while disconnected (resume grace, or abandoned)
    lobby_id: str = ""       # "" when in no lobby
    name_protected: bool = False
    created_ms: int = 0
    last_seen_ms: int = 0
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LobbyDetail:
    """A lobby with its members (Server.list_lobbies / get_lobby)."""
    lobby: Lobby
    participants: Tuple[Participant, ...] = ()
