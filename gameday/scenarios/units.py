"""Human units in scenarios: durations (`15m`, `200ms`), percentages (`99.9%`), multipliers (`10x`).

Values are parsed into plain floats (seconds, fractions, factors) so the rest of the code
never sees strings; `format_*` turns them back into the same notation for plans and reports.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION_S = 7 * 86400.0  # a week: longer than any drill; beyond it, a typo or an attack
DURATION_PATTERN = r"^(0|(\d+(\.\d+)?(ms|s|m|h|d))+)$"
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
    """Parse `1h30m`, `2.5s`, `200ms` or `0` into seconds; anything else raises ValueError."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str):
        text = value.strip()
        if text == "0":
            return 0.0
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos == len(text) and pos > 0:
            if not total <= MAX_DURATION_S:  # also catches inf and nan from huge numbers
                raise ValueError(f"expected a duration of at most 7d, found {_describe(value)}")
            return total
    raise ValueError(
        f"expected a duration such as '30s', '200ms', '15m' or '1h30m', found {_describe(value)}"
    )


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
    """Render seconds in the scenario notation, e.g. 90 -> `1m30s`, 0.2 -> `200ms`."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    whole = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    rest = seconds - int(seconds) + whole
    if rest:
        parts.append(f"{round(rest, 3):g}s")
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
