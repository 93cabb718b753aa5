"""Decision hooks for a Python host (docs/embedding.md, "Hooks").

A hook is a function or an ``async def`` coroutine function that receives the request as a
dict and returns the decision:

- ``None`` or ``True``: allow as asked;
- ``False``: deny (reason "denied");
- a dict: a decision object as docs/embedding.md shows it, e.g. ``{"name": "Guest 7"}``
  (authenticate), ``{"text": "***"}`` (chat), ``{"allow": False, "reason": "not_invited",
  "message": "..."}``; for app_message ``{"reply": X}`` means the host handled the message:
  the sender gets X as the result's "reply" and nobody receives the message, unless the dict
  also says ``"deliver": True`` (``{"deliver": False}`` alone: handled, no reply);
- or it raises ``Denied(reason, message)``.

A plain function runs on the server's loop thread and holds up the whole server while it
runs: keep it short. An ``async def`` hook runs in the asyncio loop it was registered from
(or the ``loop=`` given), so it may await a database; the client's request waits meanwhile,
nobody else does. Any other exception refuses the request with "hook_failed" (the client is
not told what went wrong) and is reported to the loop's exception handler (async) or
sys.unraisablehook (plain). A hook that has not answered within the server's
``hook_timeout_ms`` refuses with "hook_timeout".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, Dict, Optional, Union

Decision = Union[None, bool, Dict[str, Any]]
Hook = Callable[[Dict[str, Any]], Union[Decision, Awaitable[Decision]]]

HOOK_NAMES = ("authenticate", "join", "create_lobby", "chat", "app_message")


class Denied(Exception):
    """Raised by a hook to refuse: the client gets the error code "denied" with ``reason``
    (``[a-z0-9_]``, up to 64 characters) and ``message``."""

    def __init__(self, reason: str = "denied", message: str = "") -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message


def decision_json(answer: Decision) -> str:
    """The JSON decision for a hook's return value. TypeError for anything else."""
    if answer is None or answer is True:
        return "{}"
    if answer is False:
        return '{"allow": false}'
    if isinstance(answer, dict):
        return json.dumps(answer)
    raise TypeError(f"a hook returns None, a bool or a dict, not {type(answer).__name__}")


def _denied_json(d: Denied) -> str:
    return json.dumps({"allow": False, "reason": d.reason, "message": d.message})


def native_hook(hook: Hook, loop: Optional[asyncio.AbstractEventLoop]) -> Callable[[str, Any], None]:
    """The callable the compiled Server calls: (request_json, decision) on the loop thread."""
    if asyncio.iscoroutinefunction(hook):
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "an async hook runs in an asyncio loop: register it from inside one, or "
                    "pass loop=") from None
        target = loop

        async def decide(request: Dict[str, Any], decision: Any) -> None:
            try:
                answer = await hook(request)
                decision.resolve(decision_json(answer))
            except Denied as d:
                decision.resolve(_denied_json(d))
            except BaseException as e:  # noqa: BLE001 - reported, and the client refused
                decision.fail()
                target.call_exception_handler({
                    "message": f"lobbykit {request.get('hook')} hook failed",
                    "exception": e,
                })

        def call_async(request_json: str, decision: Any) -> None:
            request = json.loads(request_json)
            asyncio.run_coroutine_threadsafe(decide(request, decision), target)

        return call_async

    def call(request_json: str, decision: Any) -> None:
        try:
            answer = hook(json.loads(request_json))
            decision.resolve(decision_json(answer))  # type: ignore[arg-type]
        except Denied as d:
            decision.resolve(_denied_json(d))
        except BaseException:
            decision.fail()
            raise  # to sys.unraisablehook

    return call
