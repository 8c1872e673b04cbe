"""Per-second request windows inside a Locust process, reported as the engine reads them.

Runs inside Locust's processes only (loaded by `gameday_locust_plugin`). Every completed
request is classified (`gameday.traffic.stats`) and binned by its completion time into
windows on the clock grid, every request also into a 25 ms slice of its window. The local
process writes one JSON line per request name per second (plus ``*``, which carries the
slices) to the stats file; distributed, each worker sends its windows and slices to the
master (``gameday_stats`` messages), which merges them and writes the lines.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import gevent

from gameday.traffic.locust_output import StatsOutput
from gameday.traffic.slices import SliceCounts, slice_key, window_key_of_slice
from gameday.traffic.stats import WINDOW_S, NameStats, Outcome, WindowMerger, classify

log = logging.getLogger("gameday.traffic")

MSG_STATS = "gameday_stats"
MSG_STOP = "gameday_stop"
MASTER_WRITE_DELAY_S = 0.2  # master writes a little after each boundary, once workers reported

# one completed request: (completion time, name, status, X-Circuit, X-Served-By, failed,
# response time in ms)
_Done = tuple[float, str, int | None, str | None, str | None, bool, float | None]


class RequestWindows:
    """This process's windows: collected on a local process or a worker, merged on the master."""

    def __init__(self, out: StatsOutput, stop_reason: Callable[[], str | None]) -> None:
        self.out = out
        self.stop_reason = stop_reason  # why the run stopped, for the `stopped` event
        self.role = "local"
        self.environment: Any = None
        self.stop_timeout = 0.0
        self.collecting = False
        self.finished = False
        self.merger = WindowMerger()
        # window end index -> name -> stats; requests are binned when they complete
        self._buckets: dict[int, dict[str, NameStats]] = {}
        # window end index -> every request of the window by grid slice
        self._slices: dict[int, SliceCounts] = {}
        # completed requests not binned yet: the request hook only appends (it runs on
        # Locust's hot path), `_flush` bins them by their recorded completion time
        self._pending: list[_Done] = []
        self._collect_start: float | None = None
        self._next_key = 0
        self._finals: set[str] = set()

    def attach(self, environment: Any, role: str, stop_timeout: float) -> None:
        """Locust `init`: the environment, this process's role, the stop timeout (-s)."""
        self.environment = environment
        self.role = role
        self.stop_timeout = stop_timeout

    # ------------------------------------------------------------------ requests

    def record(
        self,
        name: str,
        response_time: float | None,
        response: Any,
        exception: BaseException | None,
    ) -> bool:
        """Keep one completed request for its window; False when not collecting."""
        if not self.collecting:
            return False
        now = time.monotonic()
        status: int | None = None
        circuit = served = None
        if response is not None:
            status = getattr(response, "status_code", None)
            headers = getattr(response, "headers", None)
            if headers is not None:
                try:
                    served = headers.get("X-Served-By")
                    if status == 503:  # X-Circuit only tells an open breaker's 503 apart
                        circuit = headers.get("X-Circuit")
                except Exception:  # a locustfile's odd response object must not stop the run
                    pass
        self._pending.append(
            (now, name, status, circuit, served, exception is not None, response_time)
        )
        return True

    # ------------------------------------------------------------------ windows

    def start(self) -> bool:
        """Locust `test_start`: start collecting (local, worker) or merging (master).

        False when already collecting, or finished.
        """
        if self.collecting or self.finished:
            return False
        now = time.monotonic()
        self.collecting = True
        self._collect_start = now
        self._next_key = math.ceil(now / WINDOW_S)
        if self.role == "master":
            gevent.spawn(self._master_loop)
        else:
            gevent.spawn(self._flush_loop)
        return True

    def _users(self) -> int:
        runner = self.environment.runner if self.environment is not None else None
        return int(getattr(runner, "user_count", 0) or 0)

    def _flush_loop(self) -> None:
        # fixed rate on the clock grid: each wake-up targets the next boundary, so lateness
        # never accumulates; requests are binned by completion time, so a late wake-up
        # delays the line but does not move requests between windows
        while self.collecting:
            boundary = (math.floor(time.monotonic() / WINDOW_S) + 1) * WINDOW_S
            gevent.sleep(max(0.0, boundary - time.monotonic()))
            if not self.collecting:
                return
            late = time.monotonic() - boundary
            if late > 0.5 * WINDOW_S:
                log.warning("gameday stats tick %.3f s late", late)
            self._flush(math.floor(time.monotonic() / WINDOW_S + 1e-9), final=False)

    def _bin_pending(self) -> None:
        """Classify and bin the requests completed since the last flush."""
        pending, self._pending = self._pending, []
        buckets = self._buckets
        for done_at, name, status, circuit, served, failed, response_time in pending:
            # the window from the slice, so a request's slice always lies in its window
            sub = slice_key(done_at)
            names = buckets.get(key := window_key_of_slice(sub))
            if names is None:
                names = buckets[key] = {}
                self._slices[key] = SliceCounts()
            stats = names.get(name)
            if stats is None:
                stats = names[name] = NameStats()
            outcome = classify(status, circuit, failed)
            stats.add(outcome, float(response_time or 0.0), served)
            self._slices[key].add(sub, outcome is Outcome.OK, served)

    def _flush(self, upto_key: int, final: bool) -> None:
        """Report every window up to `upto_key` (the last one partial when final)."""
        self._bin_pending()
        now = time.monotonic()
        start0 = self._collect_start if self._collect_start is not None else now
        for key in range(self._next_key, upto_key + 1):
            names = self._buckets.pop(key, {})
            slices = self._slices.pop(key, None) or SliceCounts()
            start = max(start0, (key - 1) * WINDOW_S)
            end = min(key * WINDOW_S, now) if final else key * WINDOW_S
            last = final and key == upto_key
            self._report(start, end, names, slices, last)
        self._next_key = max(self._next_key, upto_key + 1)

    def _report(
        self,
        start: float,
        end: float,
        names: dict[str, NameStats],
        slices: SliceCounts,
        final: bool,
    ) -> None:
        users = self._users()
        if self.role == "worker":
            payload = {
                "start": start,
                "end": end,
                "users": users,
                "final": final,
                "names": {name: stats.to_wire() for name, stats in names.items()},
                "slices": slices.to_wire(),
            }
            self.environment.runner.send_message(MSG_STATS, payload)
            return
        self.merger.add("local", start, end, names, users, slices)
        self.out.write(self.merger.ready(time.monotonic(), {"local"}))

    def stop(self) -> None:
        """Locust `test_stop`: write or send the last (partial) window."""
        if self.role == "master":
            self._master_final()
        else:
            self.final_flush()

    def final_flush(self) -> None:
        """Report the windows still open, the last one partial; a local process then finishes."""
        if not self.collecting:
            return
        self.collecting = False
        now = time.monotonic()
        self._flush(math.ceil(now / WINDOW_S - 1e-9), final=True)
        if self.role == "local":
            self.finish()

    def finish(self) -> None:
        """Write what is left to merge and the `stopped` event, then close the stats file."""
        if self.finished:
            return
        self.finished = True
        self.out.write(self.merger.drain())
        self.out.event(
            "stopped",
            reason=self.stop_reason() or "locust",
            total_requests=self.merger.total_requests,
        )
        self.out.close()

    # ------------------------------------------------------------------ master side

    def on_worker_stats(self, msg: Any) -> None:
        """A worker's window (its last when ``final``), merged with the others."""
        data = msg.data or {}
        names = {str(n): NameStats.from_wire(s) for n, s in dict(data.get("names", {})).items()}
        self.merger.add(
            str(msg.node_id),
            float(data["start"]),
            float(data["end"]),
            names,
            int(data.get("users", 0)),
            SliceCounts.from_wire(data.get("slices")),
        )
        if data.get("final"):
            self._finals.add(str(msg.node_id))

    def _active_workers(self) -> set[str]:
        runner = self.environment.runner
        nodes = runner.clients.ready + runner.clients.spawning + runner.clients.running
        return {str(node.id) for node in nodes}

    def _master_loop(self) -> None:
        while self.collecting:
            boundary = (math.floor(time.monotonic() / WINDOW_S) + 1) * WINDOW_S
            gevent.sleep(max(0.0, boundary + MASTER_WRITE_DELAY_S - time.monotonic()))
            if not self.collecting:
                return
            self.out.write(self.merger.ready(time.monotonic(), self._active_workers()))

    def _master_final(self) -> None:
        if not self.collecting:
            return
        self.collecting = False
        runner = self.environment.runner
        waiting = {str(node.id) for node in runner.clients.all} - self._finals
        for client_id in waiting:
            # Locust's quit path does not send "stop" to workers; ask for their last window
            runner.send_message(MSG_STOP, {}, client_id)
        give_up = time.monotonic() + self.stop_timeout + 3.0
        while time.monotonic() < give_up:
            if waiting <= self._finals:
                break
            gevent.sleep(0.05)
        missing = waiting - self._finals
        if missing:
            log.warning("gameday: no final stats from workers %s", sorted(missing))
        self.finish()

    # ------------------------------------------------------------------ worker side

    def on_stop_message(self, environment: Any, msg: Any, **_: Any) -> None:
        """The master's ``gameday_stop``: send the last window, or say there is none."""
        if self.collecting:
            environment.runner.stop()  # fires test_stop, which sends the final window
            if self.collecting:  # the runner was already stopped: no test_stop fired
                self.final_flush()
        else:
            # never started, or the final window is already on its way: say we are done
            now = time.monotonic()
            payload = {"start": now, "end": now, "users": 0, "final": True, "names": {}}
            environment.runner.send_message(MSG_STATS, payload)
