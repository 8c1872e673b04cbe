"""Human units in scenarios: durations (`15m`, `200ms`), percentages (`99.9%`), multipliers (`10x`).

Values are parsed into plain floats (seconds, fractions, factors) so the rest of the code
never sees strings; `format_*` turns them back into the same notation for plans and reports.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_UNIT_ORDER = ("d", "h", "m", "s", "ms")  # largest first, as people write `1h30m`
# a number and what follows it (a unit, a misspelt unit, or nothing), spaces allowed between
_DURATION_TOKEN = re.compile(r"\s*(-?)(\d+(?:\.\d+)?|\.\d+)\s*([^\d\s.-]*)")
# units people write that we do not read, with what to write instead
_UNIT_SPELLINGS = {
    **dict.fromkeys(("msec", "msecs", "millis", "millisecond", "milliseconds"), "ms"),
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("day", "days"), "d"),
}
MAX_DURATION_S = 7 * 86400.0  # a week: longer than any drill; beyond it, a typo or an attack
_PART = r"(\d+(\.\d+)?|\.\d+)\s*(ms|s|m|h|d)"
DURATION_PATTERN = rf"^\s*(0|{_PART}(\s*{_PART})*)\s*$"
_DURATION_EXAMPLES = "'250ms', '30s', '1.5s' or '2m30s'"
PERCENT_PATTERN = r"^\d+(\.\d+)?%$"
MULTIPLIER_PATTERN = r"^\d+(\.\d+)?x$"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value!r} (a bare number)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: Any) -> float:
    """Parse `250ms`, `250 ms`, `1.5s`, `2m30s`, `1h 30m` or `0` into seconds.

    Anything else raises ValueError saying what is wrong: a number without a unit, an unknown
    unit, units out of order or repeated, a fraction before the last part, a negative value.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0.0
    if not isinstance(value, str) or not value.strip():
        raise ValueError(_duration_error(value))
    text = value.strip()
    if text == "0":
        return 0.0
    parts: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _DURATION_TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(_duration_error(value, "this is not a number followed by a unit"))
        sign, number, unit = match.groups()
        if sign:
            raise ValueError(_duration_error(value, "a duration cannot be negative"))
        parts.append((number, unit))
        pos = match.end()
    return _duration_seconds(value, parts)


def _duration_seconds(value: str, parts: list[tuple[str, str]]) -> float:
    """Add up checked `(number, unit)` parts; the checks say what a person must fix."""
    total, previous = 0.0, -1
    for i, (number, unit) in enumerate(parts):
        if not unit:
            reason = f"{number} has no unit (ms, s, m, h or d)"
            if len(parts) == 1:
                reason = "a bare number could mean anything; add a unit (ms, s, m, h or d)"
            raise ValueError(_duration_error(value, reason))
        if unit not in _UNIT_SECONDS:
            spelt = _UNIT_SPELLINGS.get(unit.lower())
            if spelt is None and unit.lower() in _UNIT_SECONDS:
                spelt = unit.lower()  # `5S`, `1H`: and `M` could be months
            hint = f"; write {number}{spelt}" if spelt else ""
            if unit.startswith(","):
                hint = "; write fractions with a dot, as in 1.5s"
            raise ValueError(_duration_error(value, f"{unit!r} is not a unit{hint}"))
        rank = _UNIT_ORDER.index(unit)
        if rank <= previous:
            reason = "units go from the largest to the smallest, each once (as in 1h30m)"
            raise ValueError(_duration_error(value, reason))
        if "." in number and i < len(parts) - 1:
            reason = f"only the last part may have a fraction ({number}{unit} is not)"
            raise ValueError(_duration_error(value, reason))
        previous = rank
        total += float(number) * _UNIT_SECONDS[unit]
    if not total <= MAX_DURATION_S:  # also catches inf from huge numbers
        raise ValueError(f"expected a duration of at most 7d, found {_describe(value)}")
    return total


def _duration_error(value: Any, reason: str = "") -> str:
    found = f"{_describe(value)}: {reason}" if reason else _describe(value)
    return f"expected a duration such as {_DURATION_EXAMPLES}, found {found}"


def parse_percent(value: Any) -> float:
    """Parse `99.9%` into the fraction 0.999; the `%` sign is required so 0.5 and 50 never mix up."""
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(PERCENT_PATTERN, text):
            fraction = float(text[:-1]) / 100.0
            if fraction <= 1.0:
                return fraction
            raise ValueError(f"expected a percentage from 0% to 100%, found {text!r}")
    raise ValueError(f"expected a percentage such as '99.9%', found {_describe(value)}")


def parse_multiplier(value: Any) -> float:
    """Parse `10x` or `1.5x` into a factor greater than zero."""
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(MULTIPLIER_PATTERN, text) and float(text[:-1]) > 0:
            return float(text[:-1])
    raise ValueError(f"expected a multiplier such as '10x', found {_describe(value)}")


def format_duration(seconds: float) -> str:
    """Render seconds in the scenario notation, e.g. 90 -> `1m30s`, 0.2 -> `200ms`.

    Below a second to the microsecond, above it to the millisecond; `parse_duration` reads
    every result back.
    """
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 1:
        micros = round(seconds * 1_000_000)
        return f"{micros / 1000:g}ms" if micros else "0s"
    millis = round(seconds * 1000)
    if millis < 60_000:
        return f"{millis / 1000:g}s"
    whole, rest = divmod(millis, 1000)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or rest:
        parts.append(f"{(whole * 1000 + rest) / 1000:g}s")
    return "".join(parts)


def human_duration(seconds: float) -> str:
    """A duration as a person reads it on a console: tenths under 10 s, whole seconds above.

    `3.4 s`, `42 s`, `2 m 05 s`, `1 h 02 m`; negative values keep their sign. For display
    only: plans and reports keep `format_duration`'s exact notation.
    """
    size = abs(seconds)
    sign = "-" if seconds < 0 and round(size, 1) > 0 else ""
    if round(size, 1) < 10:
        return f"{sign}{size:.1f} s"
    whole = round(size)
    if whole < 60:
        return f"{sign}{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{sign}{minutes} m {rest:02d} s"
    hours, rest = divmod(whole, 3600)
    return f"{sign}{hours} h {rest // 60:02d} m"


def format_percent(fraction: float) -> str:
    """Render a fraction as a percentage with only the digits it needs, e.g. 0.999 -> `99.9%`."""
    value = round(fraction * 100, 4)
    return f"{value:g}%" if math.isfinite(value) else "n/a"


def format_multiplier(factor: float) -> str:
    """Render a factor as `10x`."""
    return f"{factor:g}x"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "15m"]}),
]
Percent = Annotated[
    float,
    BeforeValidator(parse_percent),
    PlainSerializer(format_percent, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PERCENT_PATTERN, "examples": ["99.9%"]}),
]
Multiplier = Annotated[
    float,
    BeforeValidator(parse_multiplier),
    PlainSerializer(format_multiplier, return_type=str),
    WithJsonSchema({"type": "string", "pattern": MULTIPLIER_PATTERN, "examples": ["10x"]}),
]
