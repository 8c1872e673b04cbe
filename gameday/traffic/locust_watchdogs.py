"""How a Locust process stops by itself: at the deadline, when the engine is gone, or hard.

Runs inside Locust's processes only (loaded by `gameday_locust_plugin`). The soft
watchers are greenlets that ask for a graceful stop; the hard watchdog is a native
thread, so it still acts when user code starves the gevent hub: SIGTERM, then `os._exit`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import gevent
from gevent import monkey

PARENT_POLL_S = 0.5
HARD_GRACE_S = 5.0  # after the deadline + stop timeout, SIGTERM ourselves
KILL_GRACE_S = 3.0  # after SIGTERM, os._exit


def parent_gone(parent_pid: int | None) -> bool:
    """Whether the engine that started us is gone (we were re-parented)."""
    return parent_pid is not None and os.getppid() != parent_pid


def watch_deadline(deadline: float, stop: Callable[[str], None]) -> None:
    """Greenlet: `stop("max_duration")` once the monotonic clock reaches `deadline`."""
    # re-check the clock: gevent timers count from the loop's cached time, which is
    # stale during start-up, so a single long sleep could end early
    while (remaining := deadline - time.monotonic()) > 0:
        gevent.sleep(min(remaining, 1.0))
    stop("max_duration")


def watch_parent(parent_pid: int, stop: Callable[[str], None]) -> None:
    """Greenlet: `stop("parent_gone")` once the engine is gone."""
    while True:
        gevent.sleep(PARENT_POLL_S)
        if parent_gone(parent_pid):
            stop("parent_gone")
            return


@dataclass(frozen=True)
class HardWatchdog:
    """A native thread that ends the process when the soft stops did not.

    Due at the deadline plus the stop timeout and `HARD_GRACE_S`, or that long after the
    engine is gone: it sends SIGTERM, and `KILL_GRACE_S` later calls `forced_stop(reason)`
    (the process's last word) and `os._exit`.
    """

    deadline: float | None
    parent_pid: int | None
    stop_timeout: float
    forced_stop: Callable[[str], None]

    def start(self) -> None:
        """Start the thread (it runs until the process ends)."""
        # a real OS thread: it still acts when user code starves the gevent hub
        start_thread = monkey.get_original("_thread", "start_new_thread")
        start_thread(self._run, ())

    def _run(self) -> None:
        sleep = monkey.get_original("time", "sleep")
        grace = self.stop_timeout + HARD_GRACE_S
        hard_at = None if self.deadline is None else self.deadline + grace
        gone_since: float | None = None
        term_at: float | None = None
        while True:
            sleep(PARENT_POLL_S)
            now = time.monotonic()
            if gone_since is None and parent_gone(self.parent_pid):
                gone_since = now
            due = (hard_at is not None and now >= hard_at) or (
                gone_since is not None and now - gone_since >= grace
            )
            if not due:
                continue
            if term_at is None:
                term_at = now
                os.kill(os.getpid(), signal.SIGTERM)
            elif now - term_at >= KILL_GRACE_S:
                self.forced_stop("hard_deadline" if gone_since is None else "parent_gone")
                os._exit(70)
