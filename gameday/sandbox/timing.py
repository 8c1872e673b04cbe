"""Server-Timing header: per-hop durations so a drill can tell which hop got slow."""

from __future__ import annotations

import re

HOPS = ("gateway", "upstream", "api", "db")
_ENTRY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*(?:;\s*dur\s*=\s*([0-9.]+))?")
_DESC = re.compile(r';\s*desc\s*=\s*"([^"]*)"')


def format_server_timing(durations: dict[str, float], descs: dict[str, str] | None = None) -> str:
    """Render ``{"api": 1.2, "db": 0.4}`` as ``api;dur=1.2, db;dur=0.4`` in hop order.

    `descs` names what a hop reached (e.g. ``db;desc="db-standby"``), so a drill can name the link.
    """
    names = [h for h in HOPS if h in durations] + sorted(k for k in durations if k not in HOPS)
    descs = descs or {}
    return ", ".join(
        f"{name};dur={durations[name]:.1f}" + (f';desc="{descs[name]}"' if name in descs else "")
        for name in names
    )


def parse_descriptions(header: str | None) -> dict[str, str]:
    """The ``desc`` values of a Server-Timing header, by entry name."""
    out: dict[str, str] = {}
    for part in (header or "").split(","):
        m, d = _ENTRY.match(part), _DESC.search(part)
        if m and d:
            out[m.group(1)] = d.group(1)
    return out


def parse_server_timing(header: str | None) -> dict[str, float]:
    """Parse a Server-Timing header into ``{name: ms}``; entries without dur are skipped."""
    out: dict[str, float] = {}
    if not header:
        return out
    for part in header.split(","):
        m = _ENTRY.match(part)
        if m and m.group(2) is not None:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                continue
    return out
