"""Access tokens (docs/embedding.md, "Access tokens and roles"): a host's backend mints one
per user with the server's ``token_secret``; the client sends it as ``access_token`` in
``auth`` and its session gets the user's id, display name, roles and metadata."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional

from . import _lobbykit


def mint_access_token(secret: str, user_id: str, *, name: Optional[str] = None,
                      roles: Iterable[str] = (), metadata: Optional[Mapping[str, Any]] = None,
                      lobby: Optional[str] = None, ttl: int = 3600) -> str:
    """An HS256 JWT for ``user_id``, valid ``ttl`` seconds from now.

    ``secret`` is the server's ``ServerOptions.token_secret`` (at least 32 bytes). ``roles``
    are 1..32 characters of a-z, 0-9, "_" and "-" ("moderator" and "listener" have effects,
    see docs/protocol.md "Roles"); ``metadata`` a JSON-serializable mapping; ``lobby`` the
    only lobby id the session may join. Raises ValueError for claims a server would refuse.
    Safe from any thread."""
    if isinstance(roles, str):
        raise TypeError("roles must be an iterable of role names, not a string")
    metadata_json = "" if metadata is None else json.dumps(dict(metadata), separators=(",", ":"))
    return _lobbykit.mint_access_token(secret, user_id, name or "", list(roles), metadata_json,
                                       lobby or "", int(ttl))
