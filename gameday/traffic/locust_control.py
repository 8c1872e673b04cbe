"""The load shape's side of the engine's control file: the entries added since the last tick.

Runs inside Locust's processes only (loaded by `gameday_locust_plugin`).
"""

from __future__ import annotations

import logging

from gameday.traffic.control import ControlEntry, ControlLineError, parse_control_line
from gameday.traffic.tail import LineTail

log = logging.getLogger("gameday.traffic")


class ControlTail:
    """Reads the control file's complete lines as entries; a bad line is logged and skipped."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lines = LineTail(path) if path else None

    def read(self) -> list[ControlEntry]:
        """Entries of the lines completed since the last read (none without a file yet)."""
        if self._lines is None:
            return []
        entries = []
        for raw in self._lines.read():
            if not raw.strip():
                continue
            try:
                entries.append(parse_control_line(raw.decode("utf-8")))
            except (ControlLineError, UnicodeDecodeError) as exc:
                log.error("gameday: ignoring control line %r: %s", raw[:200], exc)
        return entries
