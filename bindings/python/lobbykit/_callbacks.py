"""How a Python callback is handed to the compiled core.

The core keeps what it is given until unsubscribe() or the object's end, and Python's
garbage collector cannot see references held by C++: a callback that refers to its own
Server or Client (the usual case) would keep it alive forever. So the core gets a
``WeakCall``, and the strong reference to the callback stays with the Server/Client object,
where the collector can see the cycle."""

from __future__ import annotations

import weakref
from typing import Any, Callable, Generic, TypeVar

E = TypeVar("E")


class Subscription(Generic[E]):
    """A user callback and the decoder that turns the core's JSON text into its event."""
    __slots__ = ("callback", "decode", "__weakref__")

    def __init__(self, callback: Callable[[E], Any], decode: Callable[[str], E]) -> None:
        self.callback = callback
        self.decode = decode

    def __call__(self, text: str) -> None:
        self.callback(self.decode(text))


class WeakCall:
    """Calls its target while the target lives; what the compiled core holds."""
    __slots__ = ("_ref", "_label")

    def __init__(self, target: Subscription[Any]) -> None:
        self._ref = weakref.ref(target)
        self._label = repr(target.callback)

    def __call__(self, text: str) -> None:
        target = self._ref()
        if target is not None:
            target(text)

    def __repr__(self) -> str:
        # What "Exception ignored in: ..." shows when the callback raises.
        return f"<lobbykit callback {self._label}>"
