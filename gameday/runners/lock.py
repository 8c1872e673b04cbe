"""Per-target lock: two drills never act on one target at once.

An exclusive ``flock`` on a lock file derived from the target's identity (the sandbox's
state dir; a Compose project; a cluster context and namespace). The holder writes its pid
and run id into the file so a second drill is told who holds it. A flock dies with its
holder, so the lock of a dead runner is simply taken over (its faults are then for
``gameday recover``, which the message says).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..targets.registry import lock_identity
from .journal.paths import gameday_home

LOCK_NAME = "drill.lock"


class TargetLocked(Exception):
    """Another drill holds the target; the message names it."""

    def __init__(self, message: str, holder: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.holder = dict(holder)


def target_identity(driver: str, spec: Mapping[str, Any]) -> str:
    """Canonical text naming the target itself (not the drill's overrides of it)."""
    ident, _ = lock_identity(driver, spec)
    return json.dumps({"driver": driver, **ident}, sort_keys=True, separators=(",", ":"))


def lock_path_for(driver: str, spec: Mapping[str, Any], lock_dir: Path | None = None) -> Path:
    """Where the lock of this target lives.

    A target type may keep its lock beside the target (the sandbox: in its state dir, so
    drills started from any directory meet there); others use ``$GAMEDAY_LOCK_DIR`` or
    ``<gameday home>/locks/<hash>.lock`` (the same per-user home as the run index).
    """
    _, own_dir = lock_identity(driver, spec)
    if lock_dir is None and own_dir is not None:
        return own_dir / LOCK_NAME
    env_dir = os.environ.get("GAMEDAY_LOCK_DIR")
    directory = lock_dir or (Path(env_dir) if env_dir else gameday_home() / "locks")
    digest = hashlib.sha256(target_identity(driver, spec).encode()).hexdigest()[:16]
    return directory / f"{digest}.lock"


def read_holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its (last) holder; {} when empty or unreadable."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class TargetLock:
    """A held target lock; release it (or use it as a context manager)."""

    def __init__(
        self, path: Path, fd: int, holder: dict[str, Any], previous: dict[str, Any]
    ) -> None:
        self.path = path
        self.holder = holder
        # the holder of a lock taken over from a dead process ({} when it was free)
        self.previous = previous
        self._fd = fd

    @classmethod
    def acquire(
        cls,
        driver: str,
        spec: Mapping[str, Any],
        run_id: str,
        *,
        scenario: str = "",
        journal: Path | None = None,
        lock_dir: Path | None = None,
    ) -> TargetLock:
        """Take the lock of target type ``driver`` at ``spec`` now, or raise TargetLocked."""
        path = lock_path_for(driver, spec, lock_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC: a child process (Locust) must not keep the lock after the runner died
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(path)
            raise TargetLocked(
                _held_message(target_identity(driver, spec), holder), holder
            ) from None
        previous = read_holder(path)
        holder = {
            "run_id": run_id,
            "pid": os.getpid(),
            "scenario": scenario,
            "journal": str(journal) if journal else None,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": target_identity(driver, spec),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)
        return cls(path, fd, holder, previous if previous.get("pid") else {})

    @property
    def took_over(self) -> bool:
        """Whether a dead drill's lock was taken over (its faults may need ``gameday recover``)."""
        return bool(self.previous)

    def takeover_warning(self) -> str | None:
        """What to tell the operator when a dead drill's lock was taken over, else None."""
        if not self.took_over:
            return None
        prev = self.previous
        journal = prev.get("journal")
        command = f"gameday recover --journal {journal}" if journal else "gameday recover"
        return (
            f"drill {prev.get('run_id', '?')} (pid {prev.get('pid', '?')}) died while acting on "
            f"this target; if its faults are still in force, stop and run `{command}`"
        )

    def release(self) -> None:
        """Clear the holder and unlock. The file stays: unlinking a flock file races with acquirers."""
        if self._fd < 0:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TargetLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _held_message(target: str, holder: Mapping[str, Any]) -> str:
    if not holder:
        return f"another drill is acting on {target} (lock holder unknown)"
    journal = f"; journal {holder['journal']}" if holder.get("journal") else ""
    return (
        f"drill {holder.get('run_id', '?')} ({holder.get('scenario') or 'unnamed'}, pid "
        f"{holder.get('pid', '?')}, since {holder.get('since', '?')}) is already acting on "
        f"this target{journal}; wait for it to finish or stop it (its teardown reverts its faults)"
    )
