"""Builds the frozen dataclasses of model.py, events.py and server_events.py from the
JSON objects the C++ library makes (client_event_to_json, event_to_json,
client_snapshot_to_json), so Python sees the fields the C ABI sees.

A field's JSON key is its name, or ``field(metadata={"json": key})`` where the JSON name is
not a Python identifier (``from``) or not snake_case (``sdpMid``). Unknown keys are ignored
(the protocol may add fields); a missing key takes the field's default."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Dict, Mapping, Tuple, Type, TypeVar

T = TypeVar("T")


def json_key(key: str) -> Dict[str, str]:
    """Metadata for a field whose JSON key differs from its name."""
    return {"json": key}


@functools.lru_cache(maxsize=None)
def _fields(cls: type) -> Tuple[Tuple[str, str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, f.metadata.get("json", f.name), hints[f.name])
                 for f in dataclasses.fields(cls) if f.init)


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is getattr(types, "UnionType", typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(tp)
        return tuple(_convert(item, v) for v in value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return decode(tp, value)
    return value


def decode(cls: Type[T], obj: Mapping[str, Any]) -> T:
    """cls built from the JSON object obj."""
    fields = _fields(cls)  # type: ignore[arg-type]  # classes are hashable
    kwargs = {name: _convert(tp, obj[key]) for name, key, tp in fields if key in obj}
    return cls(**kwargs)
