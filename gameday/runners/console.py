"""What the operator sees while a drill runs: a Rich live view on a terminal, plain lines elsewhere.

Both views are fed the same calls by the engine; neither decides anything.
"""

from __future__ import annotations

import errno
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..analysis.timeline import Sample
from ..scenarios.units import format_duration

_SPARK = "▁▂▃▄▅▆▇█"


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
    def tick(self, elapsed: float, traffic: Mapping[str, Any] | None) -> None: ...
    def stop(self) -> None: ...


def _clock(elapsed: float) -> str:
    minutes, seconds = divmod(max(elapsed, 0.0), 60)
    return f"{int(minutes):02d}:{seconds:05.2f}"


@dataclass
class PlainView:
    """One line per event, for CI logs and pipes; never redraws, never prompts."""

    console: Console = field(
        default_factory=lambda: PipeSafeConsole(highlight=False, soft_wrap=True)
    )
    _last_ok: dict[str, bool] = field(default_factory=dict)

    def start(self, title: str) -> None:
        self.console.print(title)

    def phase(self, name: str, elapsed: float) -> None:
        self.console.print(f"[{_clock(elapsed)}] phase {name}")

    def sample(self, sample: Sample) -> None:
        # only state changes: a CI log of every sample would drown the story
        if self._last_ok.get(sample.probe) != sample.ok:
            self._last_ok[sample.probe] = sample.ok
            state = "ok" if sample.ok else f"FAIL ({sample.detail})" if sample.detail else "FAIL"
            self.console.print(f"          probe {sample.probe}: {escape(state)}")

    def line(self, text: str, elapsed: float, style: str = "") -> None:
        self.console.print(f"[{_clock(elapsed)}] {escape(text)}")

    def faults_in_force(self, labels: Sequence[str]) -> None:
        return None

    def pending_steps(self, steps: Sequence[tuple[str, str, float]]) -> None:
        return None

    def tick(self, elapsed: float, traffic: Mapping[str, Any] | None) -> None:
        return None

    def stop(self) -> None:
        return None


@dataclass
class _ProbeRow:
    last: Sample | None = None
    history: deque[float] = field(default_factory=lambda: deque(maxlen=30))


class LiveView:
    """A redrawn panel: phase, elapsed, probes with sparklines, faults in force, milestones."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or PipeSafeConsole()
        self._title = ""
        self._phase = "load"
        self._elapsed = 0.0
        self._probes: dict[str, _ProbeRow] = {}
        self._faults: list[str] = []
        self._steps: list[tuple[str, str, float]] = []
        self._log: deque[tuple[str, str]] = deque(maxlen=12)
        self._traffic: Mapping[str, Any] | None = None
        self._live: Live | None = None

    def start(self, title: str) -> None:
        self._title = title
        self._live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=False
        )
        self._live.start()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def phase(self, name: str, elapsed: float) -> None:
        self._phase, self._elapsed = name, elapsed
        self._log.append((f"{_clock(elapsed)} phase {name}", "bold"))
        self._refresh()

    def sample(self, sample: Sample) -> None:
        row = self._probes.setdefault(sample.probe, _ProbeRow())
        row.last = sample
        row.history.append(sample.latency if sample.ok and sample.latency is not None else -1.0)

    def line(self, text: str, elapsed: float, style: str = "") -> None:
        self._log.append((f"{_clock(elapsed)} {text}", style))
        self._refresh()

    def faults_in_force(self, labels: Sequence[str]) -> None:
        self._faults = list(labels)
        self._refresh()

    def pending_steps(self, steps: Sequence[tuple[str, str, float]]) -> None:
        self._steps = list(steps)
        self._refresh()

    def tick(self, elapsed: float, traffic: Mapping[str, Any] | None) -> None:
        self._elapsed = elapsed
        if traffic is not None:
            self._traffic = traffic
        self._refresh()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    def _sparkline(self, history: deque[float]) -> Text:
        text = Text()
        oks = [v for v in history if v >= 0]
        top = max(oks) if oks else 1.0
        for value in history:
            if value < 0:
                text.append("×", style="red")
            else:
                level = int(value / top * (len(_SPARK) - 1)) if top > 0 else 0
                text.append(_SPARK[level], style="green")
        return text

    def _render(self) -> Group:
        header = Text.assemble(
            (self._title, "bold"),
            "  phase ",
            (self._phase, "cyan"),
            f"  elapsed {_clock(self._elapsed)}",
        )
        probes = Table(expand=False, box=None, pad_edge=False)
        for column in ("probe", "state", "latency", "recent"):
            probes.add_column(column)
        for name, row in self._probes.items():
            sample = row.last
            if sample is None:
                continue
            state = (
                Text("ok", style="green")
                if sample.ok
                else Text(f"FAIL {sample.detail}"[:40], style="red")
            )
            latency = f"{sample.latency * 1000:.0f} ms" if sample.latency is not None else "-"
            probes.add_row(name, state, latency, self._sparkline(row.history))
        parts: list[Any] = [header, probes]
        if self._traffic:
            t = self._traffic
            parts.append(
                Text(
                    f"traffic: {t.get('count', 0)} req/s  ok {t.get('ok', 0)}  "
                    f"shed {t.get('shed', 0)}  5xx {t.get('error_5xx', 0)}  p99 {t.get('p99_ms') or 0:.0f} ms"
                )
            )
        parts.append(
            Text(
                "faults in force: " + (", ".join(self._faults) or "none"),
                style="yellow" if self._faults else "",
            )
        )
        if self._steps:
            steps = Table(
                title="manual steps (type the number + Enter, or `gameday ack NAME`)",
                box=None,
                title_justify="left",
            )
            for column in ("#", "step", "owner", "due in"):
                steps.add_column(column)
            for i, (name, owner, due) in enumerate(self._steps, 1):
                steps.add_row(str(i), name, owner, format_duration(max(due, 0.0)))
            parts.append(steps)
        for text, style in self._log:
            parts.append(Text(text, style=style))
        return Group(*parts)


def make_view(ci: bool) -> DrillView:
    """A live view on an interactive terminal, plain lines in CI or when output is piped."""
    if ci or not sys.stdout.isatty():
        return PlainView()
    return LiveView()
