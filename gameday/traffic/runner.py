"""Engine side of the traffic: start Locust processes, steer them, read their per-second stats.

Never imports Locust (its gevent monkey-patching must stay out of the engine's process).
Locust runs headless as ``python -m locust -f <plugin>,<locustfile>``: one local process,
or a master on 127.0.0.1 plus N workers. The two sides talk through two files in the run
directory: ``traffic-control.jsonl`` (engine → shape) and ``traffic-stats.jsonl``
(master/local → engine).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from gameday.ports import free_port
from gameday.traffic.control import (
    ENV_CONTROL,
    ENV_DEADLINE,
    ENV_MAX_REQUESTS,
    ENV_PARENT_PID,
    ENV_ROLE,
    ENV_STATS,
    ControlEntry,
    encode_control,
    surge_schedule,
)
from gameday.traffic.profiles import BUILTIN_PROFILES
from gameday.traffic.stats import StatsLineError, TrafficEvent, TrafficWindow, parse_line
from gameday.traffic.tail import LineTail

PLUGIN_PATH = Path(__file__).resolve().parent / "gameday_locust_plugin.py"
STATS_FILE = "traffic-stats.jsonl"
CONTROL_FILE = "traffic-control.jsonl"
WORKERS_MAX_WAIT_S = 30


class TrafficError(RuntimeError):
    """Locust could not be started or misbehaved."""


@dataclass(frozen=True)
class TrafficConfig:
    """What traffic to run, and its hard bounds (duration and request count)."""

    host: str
    users: int
    spawn_rate: float
    max_duration_s: float
    max_requests: int
    locustfile: Path | None = None  # None: the built-in payment profile
    workers: int = 0  # 0: one local Locust process; N: a master and N workers
    stop_timeout_s: float = 2.0  # how long a stopping user may finish its current task
    user_classes: tuple[str, ...] = ()  # restrict to these User classes (default: all)

    def __post_init__(self) -> None:
        if self.users < 0:
            raise ValueError("users must be >= 0")
        if not self.spawn_rate > 0:
            raise ValueError("spawn_rate must be > 0")
        if not (self.max_duration_s > 0 and math.isfinite(self.max_duration_s)):
            raise ValueError("max_duration_s must be a finite number > 0")
        if self.max_requests < 1:
            raise ValueError("max_requests must be >= 1")
        if self.workers < 0:
            raise ValueError("workers must be >= 0")
        if self.stop_timeout_s < 0:
            raise ValueError("stop_timeout_s must be >= 0")

    def locustfile_path(self) -> Path:
        """The locustfile to run: the user's, or the built-in payment profile."""
        if self.locustfile is None:
            return BUILTIN_PROFILES["payments"]
        return self.locustfile.resolve()


@dataclass(frozen=True)
class TrafficProcess:
    """One Locust process, for the journal."""

    role: str  # local, master, worker-1, ...
    pid: int
    log: Path
    argv: tuple[str, ...] = field(repr=False)


def locust_argv(
    config: TrafficConfig, role: str, master_port: int | None, python: str = sys.executable
) -> list[str]:
    """Command line of one Locust process (role: local, master or worker-<n>)."""
    argv = [
        python,
        "-m",
        "locust",
        "-f",
        f"{PLUGIN_PATH},{config.locustfile_path()}",
        "--loglevel",
        "INFO",
        "--only-summary",
    ]
    if role.startswith("worker"):
        assert master_port is not None
        argv += ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    else:
        argv += [
            "--headless",
            "--host",
            config.host,
            "--users",
            str(config.users),
            "--spawn-rate",
            str(config.spawn_rate),
            "--run-time",
            f"{max(1, math.ceil(config.max_duration_s))}s",
            "--stop-timeout",
            str(math.ceil(config.stop_timeout_s)),
            # failed requests are the drill's data, not a Locust failure
            "--exit-code-on-error",
            "0",
        ]
        if role == "master":
            assert master_port is not None
            argv += [
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(master_port),
                "--expect-workers",
                str(config.workers),
                "--expect-workers-max-wait",
                str(WORKERS_MAX_WAIT_S),
            ]
    argv += list(config.user_classes)
    return argv


class TrafficRun:
    """A Locust run for the whole drill; a context manager that always stops it."""

    def __init__(self, config: TrafficConfig, run_dir: Path, python: str = sys.executable) -> None:
        self.config = config
        self.run_dir = run_dir
        self.python = python
        self.stats_path = run_dir / STATS_FILE
        self.control_path = run_dir / CONTROL_FILE
        self.processes: list[TrafficProcess] = []
        self.events: list[TrafficEvent] = []
        self.bad_lines: list[str] = []
        self.deadline: float | None = None
        self._popen: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._stats_tail = LineTail(self.stats_path)
        self._pending_windows: list[TrafficWindow] = []
        self._target = (config.users, config.spawn_rate)
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> None:
        """Spawn the Locust process(es); return once the load test is running."""
        if self._started:
            raise TrafficError("traffic already started")
        self._started = True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.stats_path.write_bytes(b"")
        self.control_path.write_bytes(b"")
        self.deadline = time.monotonic() + self.config.max_duration_s
        workers = self.config.workers
        port = free_port() if workers else None
        roles = (
            ["master", *(f"worker-{i}" for i in range(1, workers + 1))] if workers else ["local"]
        )
        try:
            for role in roles:
                self._spawn(role, port)
            self._wait_started(time.monotonic() + timeout)
        except BaseException:
            self.stop(timeout=5.0)
            raise

    def _environment(self, role: str) -> dict[str, str]:
        # Locust reads LOCUST_* variables as options: drop them so a drill runs as configured
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
        env.update(
            {
                ENV_STATS: str(self.stats_path),
                ENV_CONTROL: str(self.control_path),
                ENV_DEADLINE: repr(self.deadline),
                ENV_MAX_REQUESTS: str(self.config.max_requests),
                ENV_PARENT_PID: str(os.getpid()),
                ENV_ROLE: role,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _spawn(self, role: str, port: int | None) -> None:
        argv = locust_argv(self.config, role, port, self.python)
        log_path = self.run_dir / f"locust-{role}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        proc = subprocess.Popen(
            argv,
            cwd=self.run_dir,  # keeps Locust from reading a locust.conf/pyproject.toml of ours
            env=self._environment(role),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # own session: a Ctrl-C in the terminal reaches the engine, which stops us in order
            start_new_session=True,
        )
        self._popen[role] = proc
        self.processes.append(TrafficProcess(role, proc.pid, log_path, tuple(argv)))

    def _wait_started(self, give_up: float) -> None:
        while time.monotonic() < give_up:
            self._read_lines()
            # "stopped" without "started": a bound was reached before the first user ran
            if any(e.event in ("started", "stopped") for e in self.events):
                return
            for role, proc in self._popen.items():
                if proc.poll() is not None:
                    raise TrafficError(
                        f"locust {role} exited with {proc.returncode} before starting:\n"
                        + self.log_tail(role)
                    )
            time.sleep(0.05)
        raise TrafficError(
            "locust did not start in time:\n" + self.log_tail(self.processes[0].role)
        )

    def log_tail(self, role: str, lines: int = 20) -> str:
        """Last lines of a Locust process's log."""
        path = self.run_dir / f"locust-{role}.log"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def pids(self) -> dict[str, int]:
        """Process id of every Locust process, by role."""
        return {p.role: p.pid for p in self.processes}

    def poll(self) -> dict[str, int | None]:
        """Exit code of every Locust process (None while it runs)."""
        return {role: proc.poll() for role, proc in self._popen.items()}

    def running(self) -> bool:
        """True while any Locust process is alive."""
        return any(code is None for code in self.poll().values())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM to the master), then kill; idempotent, leaves no process."""
        if self._stopped:
            return
        self._stopped = True
        end = time.monotonic() + max(timeout, 0.0)
        head = self._popen.get("master") or self._popen.get("local")
        if head is not None and head.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                head.send_signal(signal.SIGTERM)
        # the master tells its workers to quit; give that most of the time
        self._wait_all(end - 0.3 * max(timeout, 0.0))
        for proc in self._popen.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        self._wait_all(end)
        for proc in self._popen.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self._popen.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)
        for log in self._logs:
            log.close()
        self._logs.clear()
        self._read_lines()

    def _wait_all(self, until: float) -> None:
        while time.monotonic() < until and self.running():
            time.sleep(0.05)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ control

    def _append_control(self, entries: list[ControlEntry]) -> None:
        with open(self.control_path, "a", encoding="utf-8") as fh:
            # one write: the shape reads whole lines only
            fh.write("".join(encode_control(e) for e in entries))

    def set_users(self, users: int, spawn_rate: float, at: float | None = None) -> None:
        """Run `users` users, ramping at `spawn_rate`/s, now (or at monotonic time `at`)."""
        if users < 0 or not spawn_rate > 0:
            raise ValueError("users must be >= 0 and spawn_rate > 0")
        self._append_control([ControlEntry(users=users, spawn_rate=float(spawn_rate), at=at)])
        self._target = (users, float(spawn_rate))

    def surge(
        self, multiply: float, ramp_s: float, hold_s: float, start_at: float | None = None
    ) -> list[ControlEntry]:
        """Schedule a surge from the current users: ramp, hold, return. Returns its steps.

        The whole schedule is written at once with absolute times, so the shape applies
        it on time whatever the engine is doing; it ends at start + 2·ramp_s + hold_s.
        """
        start = time.monotonic() if start_at is None else start_at
        baseline, _ = self._target
        steps = surge_schedule(baseline, multiply, ramp_s, hold_s)
        entries = [ControlEntry(s.users, s.spawn_rate, at=start + s.offset_s) for s in steps]
        self._append_control(entries)
        self._target = (entries[-1].users, entries[-1].spawn_rate)
        return entries

    def request_stop(self) -> None:
        """Ask Locust to stop at its next shape tick (the graceful way, without a signal)."""
        self._append_control([ControlEntry(stop=True)])

    # ------------------------------------------------------------------ stats

    def _read_lines(self) -> list[TrafficWindow]:
        windows: list[TrafficWindow] = []
        for raw in self._stats_tail.read():
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                item = parse_line(text)
            except StatsLineError:
                self.bad_lines.append(text)
                continue
            if isinstance(item, TrafficEvent):
                self.events.append(item)
            else:
                windows.append(item)
        self._pending_windows.extend(windows)
        return windows

    def read_new(self) -> list[TrafficWindow]:
        """Per-second windows written since the last call (lifecycle lines go to `events`)."""
        self._read_lines()
        out, self._pending_windows = self._pending_windows, []
        return out

    @property
    def stop_reason(self) -> str | None:
        """Why Locust stopped (max_duration, max_requests, parent_gone, engine, terminated)."""
        for event in reversed(self.events):
            if event.event in ("stopped", "stopping"):
                reason = event.detail.get("reason")
                return None if reason is None else str(reason)
        return None


def summarize(windows: list[TrafficWindow]) -> Mapping[str, int]:
    """Totals of the aggregate (``*``) windows: count and each outcome."""
    totals = {"count": 0, "ok": 0, "shed": 0, "circuit": 0, "error_5xx": 0, "error_other": 0}
    for w in windows:
        if w.is_aggregate:
            totals["count"] += w.count
            totals["ok"] += w.ok
            totals["shed"] += w.shed
            totals["circuit"] += w.circuit
            totals["error_5xx"] += w.error_5xx
            totals["error_other"] += w.error_other
    return totals
