"""Follow a file another process appends to: the complete lines added since the last read."""

from __future__ import annotations

from pathlib import Path


class LineTail:
    """Reads a growing file from where the last read stopped; a partial last line waits."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self) -> list[bytes]:
        """The lines completed since the last read, without their newline; none without a file."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # a line still being written waits for the next read
        return lines
