"""gameday's Locust plugin, loaded before every locustfile (``-f <this>,<locustfile>``).

Runs inside Locust's (gevent) processes only; the engine never imports it. It

* classifies every request and accumulates per-second windows (`gameday.traffic.stats`);
* writes one JSON line per request name per second (plus ``*``) to the stats file, on the
  local process or, distributed, on the master from the workers' ``gameday_stats`` messages;
* provides the load shape that follows the engine's control file;
* stops by itself at the deadline, after the request budget, or when the engine is gone
  (soft: a graceful Locust stop; hard: SIGTERM then ``os._exit`` from a native thread).

This module wires the plugin into Locust: the per-process `PLUGIN`, its load shape and
its event listeners; the windows (`locust_windows`), the stats file (`locust_output`),
the control file (`locust_control`) and the watchdogs (`locust_watchdogs`) do the work.
Locust imports it by path, as a top-level module: nothing may import it back.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

import gevent
from locust import LoadTestShape, events
from locust.runners import MasterRunner, WorkerRunner

from gameday.traffic.control import (
    ENV_CONTROL,
    ENV_DEADLINE,
    ENV_MAX_REQUESTS,
    ENV_PARENT_PID,
    ENV_STATS,
    ControlState,
)
from gameday.traffic.locust_control import ControlTail
from gameday.traffic.locust_output import StatsOutput
from gameday.traffic.locust_watchdogs import HardWatchdog, watch_deadline, watch_parent
from gameday.traffic.locust_windows import MSG_STATS, MSG_STOP, RequestWindows

log = logging.getLogger("gameday.traffic")


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


class GamedayPlugin:
    """Per-process state of the plugin (one instance, `PLUGIN`): its role and when to stop."""

    def __init__(self) -> None:
        self.deadline = _env_float(ENV_DEADLINE)
        self.max_requests = _env_int(ENV_MAX_REQUESTS)
        self.parent_pid = _env_int(ENV_PARENT_PID)
        self.environment: Any = None
        self.role = "local"
        self.stop_reason: str | None = None
        self.control: ControlState | None = None
        self.control_tail = ControlTail(os.environ.get(ENV_CONTROL))
        self.out = StatsOutput(os.environ.get(ENV_STATS))
        self.windows = RequestWindows(self.out, lambda: self.stop_reason)
        self._seen = 0
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
            runner.register_message(MSG_STOP, self.windows.on_stop_message, concurrent=True)
        options = environment.parsed_options
        self._stop_timeout = float(getattr(options, "stop_timeout", 0) or 0)
        self.out.enabled = self.role != "worker"
        self.windows.attach(environment, self.role, self._stop_timeout)
        if self.role != "worker":
            users = getattr(options, "num_users", None)
            rate = getattr(options, "spawn_rate", None)
            self.control = ControlState(int(users or 1), float(rate or 1.0))
            # Locust installs its SIGTERM handler only after a headless shape run ends, so
            # without ours the engine's SIGTERM would kill the process and lose the last window
            gevent.signal_handler(signal.SIGTERM, self.request_stop, "terminated")
            if self.deadline is not None:
                gevent.spawn(watch_deadline, self.deadline, self.request_stop)
        if self.parent_pid is not None:
            gevent.spawn(watch_parent, self.parent_pid, self._stop_self)
        HardWatchdog(
            self.deadline, self.parent_pid, self._stop_timeout, self.out.write_forced_stop
        ).start()

    # ------------------------------------------------------------------ requests

    def on_request(
        self,
        name: str,
        response_time: float | None,
        response: Any,
        exception: BaseException | None,
    ) -> None:
        """Locust `request` event: classify and bin one completed request."""
        if not self.windows.record(name, response_time, response, exception):
            return
        self._seen += 1
        if self.max_requests is not None and self._seen >= self.max_requests:
            if self.role == "worker":
                # the master enforces the global budget; this is only a per-process backstop
                self._quit_once("max_requests")
            else:
                self.request_stop("max_requests")

    def _on_worker_stats(self, environment: Any, msg: Any, **_: Any) -> None:
        self.windows.on_worker_stats(msg)
        if (
            self.max_requests is not None
            and self.windows.merger.total_requests >= self.max_requests
        ):
            self.request_stop("max_requests")

    # ------------------------------------------------------------------ test start and stop

    def on_test_start(self) -> None:
        """Locust `test_start`: start collecting (local, worker) or merging (master)."""
        if self.windows.start() and self.role != "worker":
            self.out.event("started", role=self.role, pid=os.getpid(), **self._baseline())

    def _baseline(self) -> dict[str, Any]:
        if self.control is None:
            return {}
        return {
            "users": self.control.baseline.users,
            "spawn_rate": self.control.baseline.spawn_rate,
        }

    def on_test_stop(self) -> None:
        """Locust `test_stop`: write or send the last (partial) window."""
        self.windows.stop()

    def on_quitting(self) -> None:
        """Locust `quitting` (e.g. SIGTERM from the engine): stop gracefully, then finish."""
        if self.role == "worker":
            return
        if self.windows.collecting:
            if self.stop_reason is None:
                self.stop_reason = "terminated"
                self.out.event("stopping", reason="terminated")
            # a graceful stop lets in-flight requests complete (--stop-timeout) and fires
            # test_stop, which collects the last windows (from the workers too)
            self.environment.runner.stop()
        if self.role == "local":
            self.windows.final_flush()
        self.windows.finish()

    # ------------------------------------------------------------------ stopping

    def request_stop(self, reason: str) -> None:
        """Stop the run (master/local): the shape returns None and its greenlet is ended."""
        if self.stop_reason is not None or self.role == "worker":
            return
        self.stop_reason = reason
        log.info("gameday: stopping traffic (%s)", reason)
        self.out.event("stopping", reason=reason)
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

    def _stop_self(self, reason: str) -> None:
        # a worker quits on its own; the master or local process stops the whole run
        if self.role == "worker":
            self._quit_once(reason)
        else:
            self.request_stop(reason)

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
        self.control.feed(self.control_tail.read(), now)
        if self.control.stop_requested(now):
            self.request_stop("engine")
            return None
        return self.control.target(now)


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
