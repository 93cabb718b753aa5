"""lobbykit for Python: embed a lobbykit Server, and connect Clients to one (over a
WebSocket or in-process), with blocking or asyncio requests and typed events.

    import lobbykit
    with lobbykit.Server(port=0, store_path="") as server, \\
         lobbykit.Client(server, name="Ada") as client:  # ready: "Ada" is taken
        lobby = client.create_lobby("Standup")["lobby"]
        client.join_lobby(lobby["id"])
        client.chat("hello")

Bots: lobbykit.BotProvider runs bots for a server (lobbykit.bots), lobbykit.media gives
them audio with aiortc. docs/python.md has the threading rules: which thread calls each callback, what a callback
may call, and how shutdown works."""

from . import bots, events, hooks, media, server_events
from ._lobbykit import ClientOptions, EventLoop, Limits, ReconnectPolicy, ServerOptions, __version__
from .aio import AsyncClient, EventStream
from .bots import BotProvider, JobContext, JobOffer
from .client import Client
from .errors import CLIENT_CODES, Error, RequestError, StartError
from .events import ClientEvent
from .hooks import Denied
from .model import (ChatMessage, ErrorInfo, IceCandidate, Lobby, LobbyDetail, Participant,
                    SessionDescription, SessionInfo, Snapshot)
from .server import Server
from .server_events import ServerEvent
from .tokens import mint_access_token

__all__ = [
    "__version__",
    "Limits", "ServerOptions", "EventLoop", "ReconnectPolicy", "ClientOptions",
    "Server", "Client", "AsyncClient", "EventStream",
    "BotProvider", "JobContext", "JobOffer", "bots", "media",
    "Error", "StartError", "RequestError", "CLIENT_CODES", "Denied", "hooks",
    "ClientEvent", "ServerEvent", "events", "server_events",
    "Participant", "Lobby", "ChatMessage", "ErrorInfo", "SessionDescription", "IceCandidate",
    "Snapshot", "SessionInfo", "LobbyDetail", "mint_access_token",
]
