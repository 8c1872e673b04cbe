"""Is a drill's runner alive: the flock on its journal, and processes named for good (pid + start)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def proc_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (/proc/<pid>/stat field 22); None if gone.

    Together with the pid it names one process for good: a reused pid has a later start.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def proc_cmdline(pid: int) -> str:
    """Command line of ``pid``, arguments joined by spaces ('' when gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def process_matches(pid: int, start_ticks: int | None, cmdline: str = "") -> bool:
    """Whether ``pid`` is still the very process journaled: same start time, else same cmdline.

    With neither known the answer is False: never signal a pid that may have been reused.
    """
    now = proc_start_ticks(pid)
    if now is None:
        return False
    if start_ticks is not None:
        return now == start_ticks
    return bool(cmdline) and proc_cmdline(pid) == cmdline


def journal_held(path: Path) -> bool:
    """Whether some process holds the journal's flock (a live runner, or a recover in progress)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe lock too
    return False


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[bool]:
    """Hold the journal's flock exclusively (recover); yields False when someone else holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
