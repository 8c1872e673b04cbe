"""The stats file the engine tails, written by the local Locust process or the master.

Runs inside Locust's processes only (loaded by `gameday_locust_plugin`). Each batch of
records is one write, flushed, so the engine's tail never sees half a second.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, TextIO

from gameday.traffic.stats import encode_lines


class StatsOutput:
    """Appends JSON lines to the stats file; a worker's output stays disabled."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.enabled = True  # False on a worker: its windows go to the master instead
        self._file: TextIO | None = None

    def _open(self) -> TextIO | None:
        if self._file is None and self.path and self.enabled:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        return self._file

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append `records` (nothing when there are none, or no file to write)."""
        out = self._open()
        if out is None or not records:
            return
        # one write per batch, flushed, so the engine's tail never sees half a second
        out.write(encode_lines(records))
        out.flush()

    def event(self, name: str, **detail: Any) -> None:
        """Append one event record (started, stopping, stopped) stamped with the monotonic clock."""
        self.write([{"event": name, "t_mono": round(time.monotonic(), 6), **detail}])

    def close(self) -> None:
        """Close the file; a later write opens it again."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def write_forced_stop(self, reason: str) -> None:
        """The last word of a process about to `os._exit`: a `stopped` event marked forced."""
        # from the watchdog thread, while the hub is stuck: a separate handle, one write
        if not self.path or not self.enabled:
            return
        record = {"event": "stopped", "t_mono": round(time.monotonic(), 6), "reason": reason}
        with contextlib.suppress(OSError), open(self.path, "a", encoding="utf-8") as fh:
            fh.write(encode_lines([{**record, "forced": True}]))
