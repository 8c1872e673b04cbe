"""What the operator sees while a drill runs: a Rich live view on a terminal, plain lines elsewhere.

Both views are fed the same calls by the engine; neither decides anything.
"""

from __future__ import annotations

import errno
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.live import Live
from rich.markup import escape

from ..analysis.timeline import Sample
from .screen import ProbeView, Screen, clock, wait_text
from .status import DrillStatus


class PipeSafeConsole(Console):
    """A Rich console whose reader going away is an OSError the caller handles.

    Rich's own answer to a broken pipe is SystemExit(1): in the middle of a drill that would
    skip the revert. Raised as BrokenPipeError, the guarded view gives the console up instead.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "the console's reader went away")


class DrillView(Protocol):
    """The engine's window onto the operator."""

    def start(self, title: str) -> None: ...
    def phase(self, name: str, elapsed: float) -> None: ...
    def sample(self, sample: Sample) -> None: ...
    def line(self, text: str, elapsed: float, style: str = "") -> None: ...
    def faults_in_force(self, labels: Sequence[str]) -> None: ...
    def pending_steps(self, steps: Sequence[tuple[str, str, float]]) -> None: ...
    def status(self, status: DrillStatus) -> None: ...
    def stop(self) -> None: ...


# waits a log line is written for when they begin: the steady state's come and go with every
# failing probe, which the probe lines already tell
_LOGGED_WAITS = ("manual step", "fault", "fault end", "settle", "release")


@dataclass
class PlainView:
    """One line per event, each with the drill's elapsed time, for CI logs and pipes.

    Never redraws, never prompts: probe lines on a change of state only, and a line when the
    drill starts waiting for something new (a manual step, a fault's end, a release).
    """

    console: Console = field(
        default_factory=lambda: PipeSafeConsole(highlight=False, soft_wrap=True)
    )
    _last_ok: dict[str, bool] = field(default_factory=dict)
    _origin: float | None = None  # the drill's t=0 on the monotonic clock
    _judged: frozenset[str] = frozenset()
    _waits: frozenset[tuple[str, str]] = frozenset()
    _suite_said: bool = False

    def _print(self, elapsed: float, text: str) -> None:
        self.console.print(f"[{clock(elapsed)}] {escape(text)}")

    def _align(self, elapsed: float, now: float | None = None) -> None:
        self._origin = (time.monotonic() if now is None else now) - elapsed

    def start(self, title: str) -> None:
        self.console.print(escape(title))

    def phase(self, name: str, elapsed: float) -> None:
        self._align(elapsed)
        self._print(elapsed, f"phase {name}")

    def sample(self, sample: Sample) -> None:
        # only state changes: a CI log of every sample would drown the story
        if self._last_ok.get(sample.probe) == sample.ok:
            return
        self._last_ok[sample.probe] = sample.ok
        judged = not self._judged or sample.probe in self._judged
        if sample.ok:
            state = "ok"
        else:
            state = "FAIL" if judged else "failing (evidence, not judged)"
            state += f" ({sample.detail})" if sample.detail else ""
        origin = self._origin if self._origin is not None else sample.t
        self._print(
            sample.t - origin, f"{'probe' if judged else 'evidence'} {sample.probe}: {state}"
        )

    def line(self, text: str, elapsed: float, style: str = "") -> None:
        self._print(elapsed, text)

    def faults_in_force(self, labels: Sequence[str]) -> None:
        return None

    def pending_steps(self, steps: Sequence[tuple[str, str, float]]) -> None:
        return None

    def status(self, status: DrillStatus) -> None:
        self._align(status.elapsed, status.now)
        self._judged = status.judged
        if status.suite is not None and not self._suite_said:
            self._suite_said = True
            self._print(
                status.elapsed, f"scenario {status.suite[0]} of {status.suite[1]} in the suite"
            )
        waits = [w for w in status.waiting if w.what in _LOGGED_WAITS]
        keys = frozenset((w.what, w.name) for w in waits)
        new = [w for w in waits if (w.what, w.name) not in self._waits]
        self._waits = keys
        if new:
            numbers = {c.name: c.number for c in status.countdowns if c.kind == "step"}
            said = "; ".join(wait_text(w, numbers) for w in new)
            self._print(status.elapsed, f"waiting for: {said}")

    def stop(self) -> None:
        return None


class LiveView:
    """A redrawn frame (`screen.Screen`) fed by the engine's calls; it keeps the newest events."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or PipeSafeConsole()
        self._title = ""
        self._phase = "load"
        self._elapsed = 0.0
        self._status: DrillStatus | None = None
        self._probes: dict[str, tuple[Sample, deque[float]]] = {}
        self._faults: list[str] = []
        self._pending: list[str] | None = None
        self._log: deque[tuple[str, str]] = deque(maxlen=500)
        self._traffic: Mapping[str, Any] | None = None
        self._live: Live | None = None

    def screen(self) -> Screen:
        """The frame as of now: a snapshot, so the refresh thread never reads a changing list."""
        return Screen(
            title=self._title,
            phase=self._phase,
            elapsed=self._elapsed,
            status=self._status,
            probes={n: ProbeView(s, tuple(h)) for n, (s, h) in self._probes.items()},
            faults=tuple(self._faults),
            pending=tuple(self._pending) if self._pending is not None else None,
            events=tuple(self._log),
            traffic=self._traffic,
        )

    def start(self, title: str) -> None:
        self._title = title
        self._live = Live(
            self.screen(), console=self.console, refresh_per_second=4, transient=False
        )
        self._live.start()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.screen())

    def phase(self, name: str, elapsed: float) -> None:
        self._phase, self._elapsed = name, elapsed
        self._log.append((f"{clock(elapsed)} phase {name}", "bold"))
        self._refresh()

    def sample(self, sample: Sample) -> None:
        _, history = self._probes.get(sample.probe, (sample, deque(maxlen=30)))
        history.append(sample.latency if sample.ok and sample.latency is not None else -1.0)
        self._probes[sample.probe] = (sample, history)

    def line(self, text: str, elapsed: float, style: str = "") -> None:
        self._log.append((f"{clock(elapsed)} {text}", style))
        self._refresh()

    def faults_in_force(self, labels: Sequence[str]) -> None:
        self._faults = list(labels)
        self._refresh()

    def pending_steps(self, steps: Sequence[tuple[str, str, float]]) -> None:
        # an acknowledgement hides its step at once, before the next status
        self._pending = [name for name, _, _ in steps]
        self._refresh()

    def status(self, status: DrillStatus) -> None:
        self._status, self._elapsed, self._pending = status, status.elapsed, None
        if status.traffic is not None:
            self._traffic = status.traffic
        self._refresh()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self.screen())
            self._live.stop()
            self._live = None


def make_view(ci: bool) -> DrillView:
    """A live view on an interactive terminal, plain lines in CI or when output is piped."""
    if ci or not sys.stdout.isatty():
        return PlainView()
    return LiveView()
