"""Per-target lock: two drills never act on one target at once.

An exclusive ``flock`` on a lock file derived from the target's identity (the sandbox's
state dir; a Compose project; a cluster context and namespace). The holder writes its pid
and run id into the file so a second drill is told who holds it. A flock dies with its
holder, so the lock of a dead runner is simply taken over (its faults are then for
``gameday recover``, which the message says).

Taking a target down while a drill holds it (``gameday sandbox down --force``) writes a
``forced_by`` request into the lock file; the drill polls it, aborts, reverts its faults
and lets go, and only then is the target taken down.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..targets.registry import lock_identity
from .journal.paths import gameday_home

LOCK_NAME = "drill.lock"
# how long a forced teardown waits for the drill to revert its faults and let go
FORCE_WAIT_S = 30.0


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

    def forced_by(self) -> dict[str, Any] | None:
        """Who asked to take the target down under this drill (``forced_by`` in the lock), or None."""
        if self._fd < 0:
            return None
        try:
            raw = os.pread(self._fd, 65536, 0)
            data = json.loads(raw or b"{}")
        except (OSError, ValueError):
            return None  # mid-write: the next poll reads it whole
        forced = data.get("forced_by") if isinstance(data, dict) else None
        if isinstance(forced, dict) and data.get("run_id") == self.holder["run_id"]:
            return forced
        return None

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


def lock_for_teardown(
    driver: str,
    spec: Mapping[str, Any],
    *,
    by: str,
    what: str,
    force: bool,
    say: Callable[[str], None],
    wait_s: float = FORCE_WAIT_S,
) -> TargetLock | None:
    """The lock to hold while taking a target down; None when no drill ever used it.

    Held by a drill: TargetLocked, unless ``force``: then the drill is asked to stop (it
    aborts, reverts its faults and lets go) and given ``wait_s``; past that, None and the
    caller goes ahead without the lock.
    """
    path = lock_path_for(driver, spec)
    if not path.exists():
        return None
    try:
        return TargetLock.acquire(driver, spec, f"teardown-{os.getpid()}", scenario=by)
    except TargetLocked as exc:
        if not force:
            raise
        holder = exc.holder
    _request_stop(path, holder, by, what)
    say(
        f"drill {holder.get('run_id', '?')} (pid {holder.get('pid', '?')}) is using {what}: "
        f"asking it to abort and revert its faults (waiting up to {wait_s:.0f}s)"
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            return TargetLock.acquire(driver, spec, f"teardown-{os.getpid()}", scenario=by)
        except TargetLocked:
            continue
    say(f"the drill did not let go within {wait_s:.0f}s: taking {what} down anyway")
    return None


def _request_stop(path: Path, holder: Mapping[str, Any], by: str, what: str) -> None:
    """Add ``forced_by`` to the holder's lock file, in place: the drill holds its inode."""
    since = datetime.now(UTC).isoformat(timespec="seconds")
    request = {**holder, "forced_by": {"pid": os.getpid(), "by": by, "what": what, "at": since}}
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        # longer than what it overwrites, written in one call: no truncation, no torn read
        os.pwrite(fd, json.dumps(request).encode(), 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def forced_reason(forced: Mapping[str, Any]) -> str:
    """Why a drill stopped when its target was taken down under it."""
    return (
        f"{forced.get('what') or 'the target'} was taken down by "
        f"`{forced.get('by') or 'another command'}` (pid {forced.get('pid', '?')})"
    )
