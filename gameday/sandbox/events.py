"""Ground-truth event log: one JSON line per event, appended atomically by every component."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"


class EventLog:
    """Appends structured events to ``<state_dir>/events.jsonl``.

    Each event is one ``write`` on an ``O_APPEND`` descriptor so lines from
    concurrent processes never interleave.
    """

    def __init__(self, state_dir: Path, component: str) -> None:
        self.path = state_dir / EVENTS_FILE
        self.component = component
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, event: str, **details: Any) -> dict[str, Any]:
        """Record one event now and return it."""
        record: dict[str, Any] = {
            "t_mono": time.monotonic(),
            "t_wall": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "component": self.component,
            "event": event,
        }
        record.update(details)
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        os.write(self._fd, line)
        return record

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self._fd)


def read_events(state_dir: Path, event: str | None = None) -> list[dict[str, Any]]:
    """Return the recorded events, optionally only those named ``event``."""
    path = state_dir / EVENTS_FILE
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    with path.open() as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a process killed mid-write
            if event is None or rec.get("event") == event:
                out.append(rec)
    return out
