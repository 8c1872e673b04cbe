"""The live view's frame: a Rich renderable laid out to the terminal it is drawn on.

Top to bottom: the phase and the scenario's place in its suite; what the drill is waiting
for; recovery progress; faults in force with time left; the objectives' and manual steps'
deadlines; the probes, judged apart from evidence; traffic; the newest events. When the
terminal is short (80x24), sparklines go first, then the traffic line, then the probe table
(to one line per group), then the probes, then the least urgent deadlines: the newest events
always keep at least ``MIN_EVENTS`` lines, and the oldest events are the ones dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.rule import Rule
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from ..analysis.timeline import Sample
from ..scenarios.units import human_duration
from .status import Countdown, DrillStatus, Wait

SPARK = "▁▂▃▄▅▆▇█"
MIN_EVENTS = 6  # lines the event log keeps however short the terminal
WIDE = 120  # from this width the deadlines and the probes sit side by side
# 0 full, 1 no sparklines, 2 no traffic line, 3 probes summed up per group, 4 no probes
LEVELS = 5

Line = list[Segment]


def clock(elapsed: float) -> str:
    """Elapsed drill time as `mm:ss.s` (`h:mm:ss.s` past an hour): what event lines start with."""
    tenths = round(max(elapsed, 0.0) * 10)
    minutes, rest = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    stamp = f"{minutes:02d}:{rest // 10:02d}.{rest % 10}"
    return f"{hours}:{stamp}" if hours else stamp


def left_text(left: float | None) -> str:
    """A countdown as people read it: `42 s`, `over by 3.0 s` once it passed."""
    if left is None:
        return "from 1st fault"
    return human_duration(left) if left >= 0 else f"over by {human_duration(-left)}"


def wait_text(wait: Wait, numbers: Mapping[str, int | None]) -> str:
    """One thing the drill waits for, in words."""
    left = human_duration(max(wait.left_s, 0.0)) if wait.left_s is not None else None
    if wait.what == "manual step":
        number = numbers.get(wait.name)
        typed = f": type {number} + Enter" if number is not None else ""
        return f"manual step {wait.name} (due in {left}){typed}"
    if wait.what == "fault":
        return f"fault {wait.name} in {left}"
    if wait.what == "fault end":
        return f"{wait.name} to end ({left} left)"
    if wait.what == "settle":
        return f"the faults' settle time ({left} left)"
    if wait.what == "release":
        return "the gray release to finish"
    return f"steady state ({left} to go)" if left is not None else "steady state (not holding)"


def recovery_text(status: DrillStatus) -> Text | None:
    """`recovered at +3.4 s, confirming 6.0 s of 10 s`, or what stands in its way."""
    rec = status.recovery
    if rec is None:
        return None
    need = human_duration(rec.need_s)
    if status.first_fault_at is None:
        held = human_duration(rec.stable_s or 0.0)
        if rec.holds:
            return Text(f"baseline: steady state holds ({held}, needs {need})", style="green")
        return Text(f"baseline: steady state {held} of {need}", style="cyan")
    if rec.failing is not None:
        return Text(f"recovery: impacted ({rec.failing} failing)", style="red")
    if rec.stable_s is None:
        return Text("recovery: judging the first samples since the last change", style="dim")
    since = f"+{human_duration(rec.since_fault_s)}" if rec.since_fault_s is not None else ""
    if rec.holds:
        when = f" since {since}" if since else ""
        held = f"held {human_duration(rec.stable_s)}, needs {need}"
        return Text(f"recovery: steady state holds{when} ({held})", style="green")
    # the tracker starts afresh at each change: failures it saw are this window's impact
    word = "recovered at" if rec.impacted else "steady since"
    at = f"{word} {since}" if since else word.split()[0]
    return Text(f"{at}, confirming {human_duration(rec.stable_s)} of {need}", style="yellow")


@dataclass(frozen=True)
class ProbeView:
    """A probe's latest sample and its recent latencies (-1: a failure)."""

    last: Sample
    history: tuple[float, ...] = ()


@dataclass(frozen=True)
class Screen:
    """One frame's data, frozen: the live thread draws it while the drill goes on."""

    title: str
    phase: str = "load"
    elapsed: float = 0.0
    status: DrillStatus | None = None
    probes: Mapping[str, ProbeView] = field(default_factory=dict)
    faults: Sequence[str] = ()  # labels in force, as the fault runner last said
    pending: Sequence[str] | None = None  # steps still pending, as the engine last said
    events: Sequence[tuple[str, str]] = ()  # (text, style), oldest first
    traffic: Mapping[str, Any] | None = None

    # ----------------------------------------------------------------- layout

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        # one line short of the terminal: a frame of its full height would scroll it
        height = max((options.height or options.size.height) - 1, len(self._top()) + 8)
        opts = options.update(width=width, height=None)

        def lines(*renderables: RenderableType) -> list[Line]:
            out: list[Line] = []
            for r in renderables:
                out += console.render_lines(r, opts, pad=False)
            return out

        top = lines(*self._top())
        room = height - len(top) - 1 - MIN_EVENTS
        for level in range(LEVELS):
            middle = lines(*self._middle(level, width))
            if len(middle) <= room:
                break
        else:  # past the last level: the most urgent deadlines that fit
            for rows in range(len(self._countdowns()) - 1, -1, -1):
                middle = lines(*self._middle(LEVELS - 1, width, rows))
                if len(middle) <= room:
                    break
            middle = middle[: max(room, 0)]
        events = self._events(console, opts, height - len(top) - len(middle) - 1)
        rule = lines(Rule("events (newest last)", style="dim", align="left"))
        for line in [*top, *middle, *rule, *events]:
            yield from line
            yield Segment.line()

    def _top(self) -> list[RenderableType]:
        status = self.status
        header = Text(no_wrap=True, overflow="ellipsis")
        header.append(f"{self.phase} ", style="bold cyan")
        header.append(clock(self.elapsed))
        if status is not None and status.suite is not None:
            header.append(f"  scenario {status.suite[0]} of {status.suite[1]}", style="bold")
        header.append(f"  {self.title}", style="bold")
        out: list[RenderableType] = [header]
        if status is None:
            return out
        if status.waiting:
            numbers = {c.name: c.number for c in self._countdowns() if c.kind == "step"}
            waiting = Text("waiting for: ", style="bold", overflow="ellipsis")
            waiting.append("; ".join(wait_text(w, numbers) for w in status.waiting), style="")
            out.append(_Cropped(waiting, 2))
        rec = recovery_text(status)
        if rec is not None and status.phase in ("baseline", "inject", "observe", "recover"):
            rec.no_wrap, rec.overflow = True, "ellipsis"
            out.append(rec)
        out.append(_Cropped(self._faults_line(), 2))
        return out

    def _faults_line(self) -> Text:
        left = {f.label: f.left_s for f in self.status.faults} if self.status else {}
        text = Text("faults in force: ")
        if not self.faults:
            text.append("none", style="dim")
        for i, label in enumerate(self.faults):
            remaining = left.get(label)
            until = f"{human_duration(max(remaining, 0.0))} left" if remaining is not None else ""
            text.append(", " if i else "")
            text.append(label, style="bold yellow")
            text.append(f" ({until or 'until reverted'})", style="yellow")
        return text

    def _middle(self, level: int, width: int, rows: int | None = None) -> list[RenderableType]:
        deadlines = self._deadline_table(rows)
        probes: RenderableType | None
        probes = self._probe_table(sparklines=level == 0) if level < 3 else None
        out: list[RenderableType] = []
        if probes is not None and deadlines is not None and width >= WIDE:
            grid = Table.grid(padding=(0, 3))
            grid.add_row(deadlines, probes)
            out.append(grid)
        else:
            out += [r for r in (deadlines, probes) if r is not None]
        if level == 3:
            out += self._probe_summary()
        if level < 2 and self.traffic:
            t = self.traffic
            out.append(
                Text(
                    f"traffic: {t.get('count', 0)} req/s  ok {t.get('ok', 0)}  "
                    f"shed {t.get('shed', 0)}  5xx {t.get('error_5xx', 0)}  "
                    f"p99 {t.get('p99_ms') or 0:.0f} ms",
                    no_wrap=True,
                    overflow="ellipsis",
                )
            )
        return out

    def _countdowns(self) -> list[Countdown]:
        if self.status is None:
            return []
        return [
            c
            for c in self.status.countdowns
            if c.kind == "objective" or self.pending is None or c.name in self.pending
        ]

    def _deadline_table(self, limit: int | None = None) -> Table | None:
        """The deadlines; with ``limit``, that many lines: the most urgent, then how many more."""
        rows = self._countdowns()
        more = 0
        if limit is not None and limit < len(rows):
            # nearest first; a reached objective or a clock not started waits its turn
            rows = sorted(rows, key=lambda c: (c.reached, c.left_s is None, c.left_s or 0.0))
            keep = max(limit - 1, 0)
            rows, more = rows[:keep], len(rows) - keep
        if not rows and not more:
            return None
        table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1))
        for column in ("deadline", "limit", "left"):
            table.add_column(column, no_wrap=True, overflow="ellipsis", header_style="bold")
        for c in rows:
            if c.kind == "step":
                name = Text(f"#{c.number} " if c.number is not None else "", style="bold")
                name.append(f"{c.name} ({c.owner})")
            else:
                name = Text(c.name)
            if c.reached:
                left = Text("reached", style="green")
            else:
                style = "red" if c.left_s is not None and c.left_s < 0 else ""
                left = Text(left_text(c.left_s), style=style or ("dim" if c.left_s is None else ""))
            table.add_row(name, human_duration(c.limit_s), left)
        if more:
            table.add_row(Text(f"… {more} more", style="dim"), "", "")
        return table

    def _judged(self, name: str) -> bool:
        # before the first status every probe is taken as judged: a failure is never hidden
        return self.status is None or not self.status.judged or name in self.status.judged

    def _groups(self) -> list[tuple[str, list[tuple[str, ProbeView]]]]:
        judged = [(n, p) for n, p in self.probes.items() if self._judged(n)]
        evidence = [(n, p) for n, p in self.probes.items() if not self._judged(n)]
        return [(g, rows) for g, rows in (("judged", judged), ("evidence", evidence)) if rows]

    def _probe_table(self, sparklines: bool) -> Table | None:
        groups = self._groups()
        if not groups:
            return None
        table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1))
        for column in ("", "probe", "state", "latency", *(["recent"] if sparklines else [])):
            table.add_column(column, no_wrap=True, overflow="ellipsis", header_style="bold")
        table.columns[2].max_width = 28
        for group, rows in groups:
            for i, (name, probe) in enumerate(rows):
                sample = probe.last
                latency = f"{sample.latency * 1000:.0f} ms" if sample.latency is not None else "-"
                cells: list[RenderableType] = [
                    Text(group if i == 0 else "", style="dim"),
                    name,
                    _state(sample, judged=group == "judged"),
                    latency,
                ]
                if sparklines:
                    cells.append(_sparkline(probe.history, judged=group == "judged"))
                table.add_row(*cells)
        return table

    def _probe_summary(self) -> list[Text]:
        out = []
        for group, rows in self._groups():
            text = Text(f"{group}: ", style="dim", no_wrap=True, overflow="ellipsis")
            for i, (name, probe) in enumerate(rows):
                text.append(", " if i else "")
                text.append(f"{name} ")
                text.append_text(_state(probe.last, judged=group == "judged", short=True))
            out.append(text)
        return out

    def _events(self, console: Console, options: ConsoleOptions, room: int) -> list[Line]:
        """The newest events that fit in ``room`` lines, whole, oldest first."""
        shown: list[list[Line]] = []
        used = 0
        for text, style in reversed(self.events):
            rendered = console.render_lines(Text(text, style=style), options, pad=False)
            if used + len(rendered) > room:
                if not shown:  # the newest event alone is taller than the room: its start
                    shown.append(rendered[:room])
                break
            shown.append(rendered)
            used += len(rendered)
        return [line for event in reversed(shown) for line in event]


@dataclass(frozen=True)
class _Cropped:
    """At most ``lines`` lines of ``text``, the last ending in an ellipsis if cut."""

    text: Text
    lines: int

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rendered = console.render_lines(self.text, options, pad=False)
        if len(rendered) > self.lines:
            last = Segment.adjust_line_length(rendered[self.lines - 1], options.max_width - 1)
            rendered = [*rendered[: self.lines - 1], [*last, Segment("…")]]
        for line in rendered:
            yield from line
            yield Segment.line()


def _state(sample: Sample, judged: bool, short: bool = False) -> Text:
    """A judged failure is a red FAIL; an evidence probe failing is recorded, not judged."""
    if sample.ok:
        return Text("ok", style="green")
    detail = "" if short or not sample.detail else f" {sample.detail}"
    if judged:
        return Text(f"FAIL{detail}", style="bold red")
    return Text(f"failing{detail}", style="yellow")


def _sparkline(history: Iterable[float], judged: bool) -> Text:
    values = list(history)
    failed = "red" if judged else "yellow"
    text = Text()
    oks = [v for v in values if v >= 0]
    top = max(oks) if oks else 1.0
    for value in values:
        if value < 0:
            text.append("×", style=failed)
        else:
            level = int(value / top * (len(SPARK) - 1)) if top > 0 else 0
            text.append(SPARK[level], style="green")
    return text
