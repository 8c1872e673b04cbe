"""Canonical JSON values: sorted keys, floats to the microsecond, secrets blanked in specs.

Pure code, no I/O. Every number a report stores passes through here, so a report built
twice from the same drill is the same bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|credential|private", re.I)
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def micro(x: float) -> float:
    """A time or measure rounded to the microsecond."""
    return round(x, 6)


def micro_opt(x: float | None) -> float | None:
    return None if x is None else micro(x)


def finite(x: float) -> float | None:
    """`canon` of a float."""
    return round(x, 6) if math.isfinite(x) else None


def canon(value: Any) -> Any:
    """JSON-ready copy: mappings with sorted string keys, tuples as lists, floats to µs."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return micro(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): canon(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [canon(v) for v in items]
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return str(value)


def canon_hops(hops: Mapping[str, Any]) -> Any:
    """`canon` of a hops mapping in one flat pass when, as usual, its values are all floats."""
    if all(type(k) is str and type(v) is float for k, v in hops.items()):
        return {k: round(v, 6) if math.isfinite(v) else None for k, v in sorted(hops.items())}
    return canon(hops)


def redact(value: Any) -> Any:
    """Copy of a target spec with secrets blanked: secret-looking keys and DSN passwords."""
    if isinstance(value, Mapping):
        return {
            str(k): "***" if _SECRET_KEY.search(str(k)) and v else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _DSN_PASSWORD.sub(r"\1***@", value)
    return value
