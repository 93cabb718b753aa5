"""The typed request helpers, written once for Client (which returns the result) and
AsyncClient (which returns an awaitable of it): each builds the request's data as
docs/protocol.md describes it and hands it to ``request``."""

from __future__ import annotations

from typing import Any, Dict, Generic, Optional, TypeVar

R = TypeVar("R")
Data = Dict[str, Any]


def _join(key: str, value: str, has_media: bool, audio_muted: bool, video_muted: bool) -> Data:
    return {key: value, "has_media": has_media, "audio_muted": audio_muted,
            "video_muted": video_muted}


class RequestHelpers(Generic[R]):
    """Every helper returns what ``request`` returns: the result's data as a dict (Client)
    or an awaitable of it (AsyncClient), and fails with RequestError."""

    def request(self, type: str, data: Optional[Data] = None) -> R:
        raise NotImplementedError

    def set_name(self, name: str, password: Optional[str] = None) -> R:
        """Takes a display name; with a password, protects it or proves it.
        Result ``{"name", "protected"}``."""
        data: Data = {"name": name}
        if password:
            data["password"] = password
        return self.request("set_name", data)

    def list_lobbies(self) -> R:
        """Result ``{"lobbies": [Lobby]}``: the public lobbies, oldest first."""
        return self.request("list_lobbies")

    def watch_lobbies(self, watch: bool = True) -> R:
        """Subscribes to the lobby list (or, with False, unsubscribes). Result
        ``{"lobbies": [Lobby]}`` (``{}`` when unsubscribing); then LobbyListed and
        LobbyUnlisted events keep ``snapshot().lobbies`` current. The wish outlives
        connections: after every welcome the client subscribes again (a LobbyList event brings
        the fresh list). Asked while not connected it fails with not_connected, and the next
        welcome subscribes."""
        return self.request("watch_lobbies", {"watch": watch})

    def create_lobby(self, name: str, private: bool = False, persistent: bool = False,
                     max_participants: int = 0) -> R:
        """Creates (does not join) a lobby; max_participants 0 is the server's default.
        Result ``{"lobby": Lobby}``."""
        data: Data = {"name": name, "private": private, "persistent": persistent}
        if max_participants:
            data["max_participants"] = max_participants
        return self.request("create_lobby", data)

    def join_lobby(self, lobby_id: str, has_media: bool = False, audio_muted: bool = False,
                   video_muted: bool = False) -> R:
        """Joins a lobby by id (leaving the current one). Result: a lobby snapshot
        ``{"lobby", "participants", "history", "history_complete", "last_offset"}``."""
        return self.request("join_lobby",
                            _join("lobby_id", lobby_id, has_media, audio_muted, video_muted))

    def join_lobby_by_name(self, name: str, has_media: bool = False, audio_muted: bool = False,
                           video_muted: bool = False) -> R:
        """Joins a public lobby by name. Result: a lobby snapshot."""
        return self.request("join_lobby",
                            _join("name", name, has_media, audio_muted, video_muted))

    def leave_lobby(self) -> R:
        """Leaves the current lobby. Result ``{}``."""
        return self.request("leave_lobby")

    def chat(self, text: str) -> R:
        """Posts a message to the current lobby. Result ``{"offset"}``, after it is stored."""
        return self.request("chat", {"text": text})

    def send_app_message(self, name: str, payload: Any = None, to: Optional[str] = None) -> R:
        """Sends an application message called ``name`` (1-64 of A-Z a-z 0-9 _ . : -) with a
        JSON ``payload`` to every other member of the lobby, or only to peer ``to``. Result
        ``{"delivered": n}``, with ``"reply"`` when the host's handler answered."""
        data: Data = {"name": name, "payload": payload}
        if to is not None:
            data["to"] = to
        return self.request("app_message", data)

    def set_metadata(self, metadata: Dict[str, Any], target: str = "self") -> R:
        """Replaces this participant's metadata (target "self") or, with the moderator role,
        the lobby's ("lobby"). Result ``{"metadata"}``; members get participant_updated /
        lobby_updated."""
        return self.request("set_metadata", {"target": target, "metadata": metadata})

    def update_media(self, has_media: Optional[bool] = None, audio_muted: Optional[bool] = None,
                     video_muted: Optional[bool] = None,
                     screen_sharing: Optional[bool] = None) -> R:
        """Changes the given media flags (None leaves one as it is). Result
        ``{"participant": Participant}``."""
        data: Data = {}
        for key, value in (("has_media", has_media), ("audio_muted", audio_muted),
                           ("video_muted", video_muted), ("screen_sharing", screen_sharing)):
            if value is not None:
                data[key] = value
        return self.request("update_media", data)

    def send_description(self, to: str, type: str, sdp: str) -> R:
        """Relays an SDP description ('offer', 'answer', 'pranswer', 'rollback') to a peer."""
        description: Data = {"type": type}
        if sdp or type != "rollback":
            description["sdp"] = sdp
        return self.request("relay_description", {"to": to, "description": description})

    def send_candidate(self, to: str, candidate: Optional[str], sdp_mid: Optional[str] = None,
                       sdp_mline_index: Optional[int] = None) -> R:
        """Relays an ICE candidate to a peer; "" or None sends end-of-candidates."""
        value: Optional[Data] = None
        if candidate:
            value = {"candidate": candidate}
            if sdp_mid is not None:
                value["sdpMid"] = sdp_mid
            if sdp_mline_index is not None:
                value["sdpMLineIndex"] = sdp_mline_index
        return self.request("relay_candidate", {"to": to, "candidate": value})
