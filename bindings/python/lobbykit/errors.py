"""The exceptions lobbykit raises. ``Error`` is the base of all of them; ``StartError`` comes
from the compiled module (a Server that cannot listen or open its store). Programming
errors are ordinary Python exceptions: ValueError (a bad URL), TypeError (an unknown
option), RuntimeError (a waiting call from a lobbykit callback, run() twice)."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._lobbykit import Error, StartError
from .model import ErrorInfo

# The client's own request error codes (the others are the server's, docs/protocol.md).
CLIENT_CODES = ("timeout", "not_connected", "connection_lost", "stopped", "bad_json")


class RequestError(Error):
    """A request failed: ``code`` is the server's error code (docs/protocol.md, "Errors") or
    one of the client's own (CLIENT_CODES); ``field`` names the field of a bad_field;
    ``retry_after_ms`` comes with too_many_attempts and rate_limited; ``data`` is the data
    object of the error reply."""

    def __init__(self, code: str, message: str = "", field: Optional[str] = None,
                 retry_after_ms: Optional[int] = None,
                 data: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after_ms = retry_after_ms
        self.data: Dict[str, Any] = dict(data or {})

    @property
    def reason(self) -> Optional[str]:
        """With the code "denied": the host's own reason code (docs/embedding.md)."""
        reason = self.data.get("reason")
        return reason if isinstance(reason, str) else None

    @property
    def error(self) -> ErrorInfo:
        return ErrorInfo(self.code, self.message, self.field, self.retry_after_ms)

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.message, self.field, self.retry_after_ms, self.data))


__all__ = ["Error", "StartError", "RequestError", "CLIENT_CODES"]
