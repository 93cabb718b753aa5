"""Options given as an object, keyword overrides, or both."""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional, Type, TypeVar

T = TypeVar("T")


def with_overrides(cls: Type[T], options: Optional[T], overrides: Dict[str, Any]) -> T:
    """A copy of options (or of the defaults) with the overrides applied; an unknown name
    raises TypeError."""
    if options is None:
        result = cls()
    elif isinstance(options, cls):
        result = copy.copy(options)
    else:
        raise TypeError(f"options must be a {cls.__name__}, not {type(options).__name__}")
    fields = getattr(cls, "_fields")
    for name, value in overrides.items():
        if name not in fields:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        setattr(result, name, value)
    return result
