"""gameday's Locust plugin, loaded before every locustfile (``-f <this>,<locustfile>``).

Runs inside Locust's (gevent) processes only; the engine never imports it. It

* classifies every request and accumulates per-second windows (`gameday.traffic.stats`);
* writes one JSON line per request name per second (plus ``*``) to the stats file, on the
  local process or, distributed, on the master from the workers' ``gameday_stats`` messages;
* provides the load shape that follows the engine's control file;
* stops by itself at the deadline, after the request budget, or when the engine is gone
  (soft: a graceful Locust stop; hard: SIGTERM then ``os._exit`` from a native thread).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import time
from typing import Any, TextIO

import gevent
from gevent import monkey
from locust import LoadTestShape, events
from locust.runners import MasterRunner, WorkerRunner

from gameday.traffic.control import (
    ENV_CONTROL,
    ENV_DEADLINE,
    ENV_MAX_REQUESTS,
    ENV_PARENT_PID,
    ENV_STATS,
    ControlLineError,
    ControlState,
    parse_control_line,
)
from gameday.traffic.stats import (
    WINDOW_S,
    NameStats,
    WindowMerger,
    classify,
    encode_lines,
)

log = logging.getLogger("gameday.traffic")

MSG_STATS = "gameday_stats"
MSG_STOP = "gameday_stop"
PARENT_POLL_S = 0.5
HARD_GRACE_S = 5.0  # after the deadline + stop timeout, SIGTERM ourselves
KILL_GRACE_S = 3.0  # after SIGTERM, os._exit
MASTER_WRITE_DELAY_S = 0.2  # master writes a little after each boundary, once workers reported


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


# one completed request: (completion time, name, status, X-Circuit, X-Served-By, failed,
# response time in ms)
_Done = tuple[float, str, int | None, str | None, str | None, bool, float | None]


class GamedayPlugin:
    """Per-process state of the plugin (one instance, `PLUGIN`)."""

    def __init__(self) -> None:
        self.stats_path = os.environ.get(ENV_STATS)
        self.control_path = os.environ.get(ENV_CONTROL)
        self.deadline = _env_float(ENV_DEADLINE)
        self.max_requests = _env_int(ENV_MAX_REQUESTS)
        self.parent_pid = _env_int(ENV_PARENT_PID)
        self.environment: Any = None
        self.role = "local"
        self.stop_reason: str | None = None
        self.control: ControlState | None = None
        self._control_offset = 0
        self._control_partial = b""
        self._stats_file: TextIO | None = None
        # window end index -> name -> stats; requests are binned when they complete
        self._buckets: dict[int, dict[str, NameStats]] = {}
        # completed requests not binned yet: the request hook only appends (it runs on
        # Locust's hot path), `_flush` bins them by their recorded completion time
        self._pending: list[_Done] = []
        self._collect_start: float | None = None
        self._next_key = 0
        self._collecting = False
        self._seen = 0
        self.merger = WindowMerger()
        self._finals: set[str] = set()
        self._finished = False
        self._stop_timeout = 0.0

    # ------------------------------------------------------------------ setup

    def init(self, environment: Any, runner: Any) -> None:
        """Locust `init` event: learn our role and start the watchers."""
        self.environment = environment
        if isinstance(runner, MasterRunner):
            self.role = "master"
            runner.register_message(MSG_STATS, self._on_worker_stats)
        elif isinstance(runner, WorkerRunner):
            self.role = "worker"
            runner.register_message(MSG_STOP, self._on_stop_message, concurrent=True)
        options = environment.parsed_options
        self._stop_timeout = float(getattr(options, "stop_timeout", 0) or 0)
        if self.role != "worker":
            users = getattr(options, "num_users", None)
            rate = getattr(options, "spawn_rate", None)
            self.control = ControlState(int(users or 1), float(rate or 1.0))
            # Locust installs its SIGTERM handler only after a headless shape run ends, so
            # without ours the engine's SIGTERM would kill the process and lose the last window
            gevent.signal_handler(signal.SIGTERM, self.request_stop, "terminated")
            if self.deadline is not None:
                gevent.spawn(self._watch_deadline, self.deadline)
        if self.parent_pid is not None:
            gevent.spawn(self._watch_parent)
        self._start_hard_watchdog()

    def _open_stats(self) -> TextIO | None:
        if self._stats_file is None and self.stats_path and self.role != "worker":
            self._stats_file = open(self.stats_path, "a", encoding="utf-8")  # noqa: SIM115
        return self._stats_file

    def _write(self, records: list[dict[str, Any]]) -> None:
        out = self._open_stats()
        if out is None or not records:
            return
        # one write per batch, flushed, so the engine's tail never sees half a second
        out.write(encode_lines(records))
        out.flush()

    def _event(self, name: str, **detail: Any) -> None:
        self._write([{"event": name, "t_mono": round(time.monotonic(), 6), **detail}])

    # ------------------------------------------------------------------ requests

    def on_request(
        self,
        name: str,
        response_time: float | None,
        response: Any,
        exception: BaseException | None,
    ) -> None:
        """Locust `request` event: classify and bin one completed request."""
        if not self._collecting:
            return
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
        self._seen += 1
        if self.max_requests is not None and self._seen >= self.max_requests:
            if self.role == "worker":
                # the master enforces the global budget; this is only a per-process backstop
                self._quit_once("max_requests")
            else:
                self.request_stop("max_requests")

    # ------------------------------------------------------------------ windows

    def on_test_start(self) -> None:
        """Locust `test_start`: start collecting (local, worker) or merging (master)."""
        if self._collecting or self._finished:
            return
        now = time.monotonic()
        self._collecting = True
        self._collect_start = now
        self._next_key = math.ceil(now / WINDOW_S)
        if self.role == "master":
            gevent.spawn(self._master_loop)
        else:
            gevent.spawn(self._flush_loop)
        if self.role != "worker":
            self._event("started", role=self.role, pid=os.getpid(), **self._baseline())

    def _baseline(self) -> dict[str, Any]:
        if self.control is None:
            return {}
        return {
            "users": self.control.baseline.users,
            "spawn_rate": self.control.baseline.spawn_rate,
        }

    def _users(self) -> int:
        runner = self.environment.runner if self.environment is not None else None
        return int(getattr(runner, "user_count", 0) or 0)

    def _flush_loop(self) -> None:
        # fixed rate on the clock grid: each wake-up targets the next boundary, so lateness
        # never accumulates; requests are binned by completion time, so a late wake-up
        # delays the line but does not move requests between windows
        while self._collecting:
            boundary = (math.floor(time.monotonic() / WINDOW_S) + 1) * WINDOW_S
            gevent.sleep(max(0.0, boundary - time.monotonic()))
            if not self._collecting:
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
            names = buckets.get(key := math.ceil(done_at / WINDOW_S))
            if names is None:
                names = buckets[key] = {}
            stats = names.get(name)
            if stats is None:
                stats = names[name] = NameStats()
            stats.add(classify(status, circuit, failed), float(response_time or 0.0), served)

    def _flush(self, upto_key: int, final: bool) -> None:
        """Report every window up to `upto_key` (the last one partial when final)."""
        self._bin_pending()
        now = time.monotonic()
        start0 = self._collect_start if self._collect_start is not None else now
        for key in range(self._next_key, upto_key + 1):
            names = self._buckets.pop(key, {})
            start = max(start0, (key - 1) * WINDOW_S)
            end = min(key * WINDOW_S, now) if final else key * WINDOW_S
            last = final and key == upto_key
            self._report(start, end, names, last)
        self._next_key = max(self._next_key, upto_key + 1)

    def _report(self, start: float, end: float, names: dict[str, NameStats], final: bool) -> None:
        users = self._users()
        if self.role == "worker":
            payload = {
                "start": start,
                "end": end,
                "users": users,
                "final": final,
                "names": {name: stats.to_wire() for name, stats in names.items()},
            }
            self.environment.runner.send_message(MSG_STATS, payload)
            return
        self.merger.add("local", start, end, names, users)
        self._write(self.merger.ready(time.monotonic(), {"local"}))

    def _final_flush(self) -> None:
        if not self._collecting:
            return
        self._collecting = False
        now = time.monotonic()
        self._flush(math.ceil(now / WINDOW_S - 1e-9), final=True)
        if self.role == "local":
            self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._write(self.merger.drain())
        self._event(
            "stopped",
            reason=self.stop_reason or "locust",
            total_requests=self.merger.total_requests,
        )
        if self._stats_file is not None:
            self._stats_file.close()
            self._stats_file = None

    # ------------------------------------------------------------------ master side

    def _on_worker_stats(self, environment: Any, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        names = {str(n): NameStats.from_wire(s) for n, s in dict(data.get("names", {})).items()}
        self.merger.add(
            str(msg.node_id),
            float(data["start"]),
            float(data["end"]),
            names,
            int(data.get("users", 0)),
        )
        if data.get("final"):
            self._finals.add(str(msg.node_id))
        if self.max_requests is not None and self.merger.total_requests >= self.max_requests:
            self.request_stop("max_requests")

    def _active_workers(self) -> set[str]:
        runner = self.environment.runner
        nodes = runner.clients.ready + runner.clients.spawning + runner.clients.running
        return {str(node.id) for node in nodes}

    def _master_loop(self) -> None:
        while self._collecting:
            boundary = (math.floor(time.monotonic() / WINDOW_S) + 1) * WINDOW_S
            gevent.sleep(max(0.0, boundary + MASTER_WRITE_DELAY_S - time.monotonic()))
            if not self._collecting:
                return
            self._write(self.merger.ready(time.monotonic(), self._active_workers()))

    def _master_final(self) -> None:
        if not self._collecting:
            return
        self._collecting = False
        runner = self.environment.runner
        waiting = {str(node.id) for node in runner.clients.all} - self._finals
        for client_id in waiting:
            # Locust's quit path does not send "stop" to workers; ask for their last window
            runner.send_message(MSG_STOP, {}, client_id)
        give_up = time.monotonic() + self._stop_timeout + 3.0
        while time.monotonic() < give_up:
            if waiting <= self._finals:
                break
            gevent.sleep(0.05)
        missing = waiting - self._finals
        if missing:
            log.warning("gameday: no final stats from workers %s", sorted(missing))
        self._finish()

    # ------------------------------------------------------------------ worker side

    def _on_stop_message(self, environment: Any, msg: Any, **_: Any) -> None:
        if self._collecting:
            environment.runner.stop()  # fires test_stop, which sends the final window
            if self._collecting:  # the runner was already stopped: no test_stop fired
                self._final_flush()
        else:
            # never started, or the final window is already on its way: say we are done
            now = time.monotonic()
            payload = {"start": now, "end": now, "users": 0, "final": True, "names": {}}
            environment.runner.send_message(MSG_STATS, payload)

    def on_test_stop(self) -> None:
        """Locust `test_stop`: write or send the last (partial) window."""
        if self.role == "master":
            self._master_final()
        else:
            self._final_flush()

    def on_quitting(self) -> None:
        """Locust `quitting` (e.g. SIGTERM from the engine): stop gracefully, then finish."""
        if self.role == "worker":
            return
        if self._collecting:
            if self.stop_reason is None:
                self.stop_reason = "terminated"
                self._event("stopping", reason="terminated")
            # a graceful stop lets in-flight requests complete (--stop-timeout) and fires
            # test_stop, which collects the last windows (from the workers too)
            self.environment.runner.stop()
        if self.role == "local":
            self._final_flush()
        self._finish()

    # ------------------------------------------------------------------ stopping

    def request_stop(self, reason: str) -> None:
        """Stop the run (master/local): the shape returns None and its greenlet is ended."""
        if self.stop_reason is not None or self.role == "worker":
            return
        self.stop_reason = reason
        log.info("gameday: stopping traffic (%s)", reason)
        self._event("stopping", reason=reason)
        gevent.spawn(self._end_shape)

    def _end_shape(self) -> None:
        runner = self.environment.runner if self.environment is not None else None
        shape = getattr(runner, "shape_greenlet", None)
        if shape is not None and not shape.dead and shape is not gevent.getcurrent():
            # the shape may be blocked in a ramp (Locust's start() waits for it); ending it
            # makes Locust's headless main loop quit the run right away
            shape.kill(block=False)

    def _quit_once(self, reason: str) -> None:
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        log.info("gameday: worker quitting (%s)", reason)
        gevent.spawn(self.environment.runner.quit)

    def _watch_deadline(self, deadline: float) -> None:
        # re-check the clock: gevent timers count from the loop's cached time, which is
        # stale during start-up, so a single long sleep could end early
        while (remaining := deadline - time.monotonic()) > 0:
            gevent.sleep(min(remaining, 1.0))
        self.request_stop("max_duration")

    def _parent_gone(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def _watch_parent(self) -> None:
        while True:
            gevent.sleep(PARENT_POLL_S)
            if self._parent_gone():
                if self.role == "worker":
                    self._quit_once("parent_gone")
                else:
                    self.request_stop("parent_gone")
                return

    def _start_hard_watchdog(self) -> None:
        # a real OS thread: it still acts when user code starves the gevent hub
        start_thread = monkey.get_original("_thread", "start_new_thread")
        start_thread(self._hard_watchdog, ())

    def _hard_watchdog(self) -> None:
        sleep = monkey.get_original("time", "sleep")
        grace = self._stop_timeout + HARD_GRACE_S
        hard_at = None if self.deadline is None else self.deadline + grace
        gone_since: float | None = None
        term_at: float | None = None
        while True:
            sleep(PARENT_POLL_S)
            now = time.monotonic()
            if gone_since is None and self._parent_gone():
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
                self._write_forced_stop("hard_deadline" if gone_since is None else "parent_gone")
                os._exit(70)

    def _write_forced_stop(self, reason: str) -> None:
        # from the watchdog thread, while the hub is stuck: a separate handle, one write
        if not self.stats_path or self.role == "worker":
            return
        record = {"event": "stopped", "t_mono": round(time.monotonic(), 6), "reason": reason}
        with contextlib.suppress(OSError), open(self.stats_path, "a", encoding="utf-8") as fh:
            fh.write(encode_lines([{**record, "forced": True}]))

    # ------------------------------------------------------------------ shape

    def shape_tick(self) -> tuple[int, float] | None:
        """The load shape's tick: None to stop, else the (users, spawn_rate) in force."""
        now = time.monotonic()
        if self.stop_reason is not None:
            return None
        if self.deadline is not None and now >= self.deadline:
            self.request_stop("max_duration")
            return None
        if self.control is None:
            return None
        self._read_control(now)
        if self.control.stop_requested(now):
            self.request_stop("engine")
            return None
        return self.control.target(now)

    def _read_control(self, now: float) -> None:
        if not self.control_path or self.control is None:
            return
        try:
            with open(self.control_path, "rb") as fh:
                fh.seek(self._control_offset)
                chunk = fh.read()
        except FileNotFoundError:
            return
        self._control_offset += len(chunk)
        data = self._control_partial + chunk
        lines = data.split(b"\n")
        self._control_partial = lines.pop()  # an incomplete last line waits for the next tick
        entries = []
        for raw in lines:
            if not raw.strip():
                continue
            try:
                entries.append(parse_control_line(raw.decode("utf-8")))
            except (ControlLineError, UnicodeDecodeError) as exc:
                log.error("gameday: ignoring control line %r: %s", raw[:200], exc)
        self.control.feed(entries, now)


PLUGIN = GamedayPlugin()


class GamedayControlShape(LoadTestShape):
    """Baseline users from -u/-r, changed at run time through the engine's control file."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        """Locust calls this about once a second."""
        return PLUGIN.shape_tick()


def _on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    PLUGIN.init(environment, runner if runner is not None else environment.runner)


def _on_request(
    request_type: str,
    name: str,
    response_time: float | None,
    response_length: int,
    response: Any = None,
    context: Any = None,
    exception: BaseException | None = None,
    **_: Any,
) -> None:
    PLUGIN.on_request(name, response_time, response, exception)


def _on_test_start(environment: Any, **_: Any) -> None:
    PLUGIN.on_test_start()


def _on_test_stop(environment: Any, **_: Any) -> None:
    PLUGIN.on_test_stop()


def _on_quitting(environment: Any, **_: Any) -> None:
    PLUGIN.on_quitting()


# registered at import: Locust imports the plugin before it fires `init` (Locust's
# add_listener is untyped, hence the Any)
_LISTENERS: dict[str, Any] = {
    "init": _on_init,
    "request": _on_request,
    "test_start": _on_test_start,
    "test_stop": _on_test_stop,
    "quitting": _on_quitting,
}
for _hook, _listener in _LISTENERS.items():
    _event_hook: Any = getattr(events, _hook)
    _event_hook.add_listener(_listener)
