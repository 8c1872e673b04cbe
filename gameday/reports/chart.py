"""Inline SVG charts: the drill timeline (downsampled) and the history trend lines.

Pure string building, no I/O and no script: the SVG is embedded in a file an auditor may
open years later, so it must render without anything but the browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from ..scenarios.units import format_duration, parse_duration
from .report import Report

MAX_BUCKETS = 600  # points per series: ~1 per screen pixel, whatever the drill length
DEADLINE_OBJECTIVES = (
    "detection_time",
    "escalation_time",
    "failover_time",
    "recovery_time",
    "rollback_time",
)
_W, _LEFT, _RIGHT = 1000, 120, 20
_LANE, _GAP, _PANEL = 14, 4, 100
_COLOURS = {
    "fault.injected": "#b45309",
    "impact.started": "#b91c1c",
    "detected": "#7c3aed",
    "failover.completed": "#0369a1",
    "recovered": "#15803d",
    "fault.reverted": "#92400e",
}


@dataclass(frozen=True)
class Buckets:
    """Fixed-width time buckets over [0, span]."""

    span: float
    n: int

    @classmethod
    def over(cls, span: float, points: int) -> Buckets:
        return cls(max(span, 1e-6), max(1, min(MAX_BUCKETS, points)))

    def index(self, t: float) -> int:
        return min(self.n - 1, max(0, int(t / self.span * self.n)))

    def start(self, i: int) -> float:
        return i * self.span / self.n


def _x(t: float, span: float) -> float:
    return _LEFT + (_W - _LEFT - _RIGHT) * min(max(t / span, 0.0), 1.0)


def _f(v: float) -> str:
    return f"{v:.1f}"


def _clock(seconds: float) -> str:
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _nice_step(span: float, ticks: int = 8) -> float:
    raw = span / ticks
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600):
        if step >= raw:
            return float(step)
    return 43200.0


def probe_lanes(
    report: Report, span: float
) -> list[tuple[str, Buckets, list[tuple[int, int, str]]]]:
    """Per probe: runs of buckets (first, last, state) with state ok / fail / mixed / none.

    A probe's buckets are never finer than its interval, and a sample holds its state until
    the next one; a gap of more than two intervals (missed ticks) stays visible as `none`.
    """
    out = []
    for probe in sorted(report.probes, key=lambda p: (p.role != "steady", p.name)):
        buckets = Buckets.over(span, math.ceil(span / max(probe.every, 1e-3)))
        ok = [0] * buckets.n
        bad = [0] * buckets.n
        last_t: list[float | None] = [None] * buckets.n
        for s in report.samples.get(probe.name, ()):
            i = buckets.index(s.t)
            if s.ok:
                ok[i] += 1
            else:
                bad[i] += 1
            last_t[i] = s.t
        states: list[str] = []
        held, held_t = "none", -math.inf
        for i in range(buckets.n):
            if ok[i] + bad[i]:
                held = "ok" if not bad[i] else "fail" if not ok[i] else "mixed"
                held_t = last_t[i] or 0.0
                states.append(held)
            elif buckets.start(i) - held_t <= 2 * probe.every:
                states.append(held)
            else:
                states.append("none")
        runs: list[tuple[int, int, str]] = []
        for i, state in enumerate(states):
            if runs and runs[-1][2] == state:
                runs[-1] = (runs[-1][0], i, state)
            else:
                runs.append((i, i, state))
        out.append((f"{probe.name} ({probe.role})", buckets, runs))
    return out


def traffic_series(
    report: Report, buckets: Buckets
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(t, success ratio) and (t, worst p99 ms) per bucket, from the aggregate windows."""
    count = [0] * buckets.n
    ok = [0] * buckets.n
    p99: list[float | None] = [None] * buckets.n
    for w in report.traffic:
        if not w.is_aggregate:
            continue
        i = buckets.index(w.t_mono)
        count[i] += w.count
        ok[i] += w.ok
        if w.p99_ms is not None:
            cur = p99[i]
            p99[i] = w.p99_ms if cur is None else max(cur, w.p99_ms)  # worst, never averaged away
    mid = buckets.span / buckets.n / 2
    success = [(buckets.start(i) + mid, ok[i] / count[i]) for i in range(buckets.n) if count[i]]
    lat = [(buckets.start(i) + mid, v) for i in range(buckets.n) if (v := p99[i]) is not None]
    return success, lat


def deadlines(report: Report) -> list[tuple[str, float]]:
    """(objective, report time) of each time objective's deadline, counted from the first fault."""
    injected = [f.injected_t for f in report.faults if f.injected_t is not None]
    if not injected:
        return []
    t0 = min(injected)
    out = []
    for name in DEADLINE_OBJECTIVES:
        bound = report.scenario.objectives.get(name)
        if bound is None:
            continue
        try:
            out.append((name, t0 + parse_duration(bound)))
        except (ValueError, TypeError):
            continue
    return out


def _polyline(
    points: Sequence[tuple[float, float]],
    span: float,
    top: float,
    scale: float,
    lo: float,
    colour: str,
) -> str:
    if not points:
        return ""
    coords = " ".join(f"{_f(_x(t, span))},{_f(top + _PANEL - (v - lo) * scale)}" for t, v in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'


def timeline_svg(report: Report) -> str:
    """The drill timeline: probe lanes, traffic success and p99, faults, milestones, deadlines."""
    span = max(report.duration_s, 1e-3)
    buckets = Buckets.over(span, MAX_BUCKETS)
    lanes = probe_lanes(report, span)
    success, p99 = traffic_series(report, buckets)
    marks_h = 72
    lanes_top = marks_h
    succ_top = lanes_top + len(lanes) * (_LANE + _GAP) + 16
    p99_top = succ_top + _PANEL + 26
    axis_y = p99_top + _PANEL
    height = axis_y + 48
    plot_r = _W - _RIGHT
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline-chart" class="chart" viewBox="0 0 {_W} {height}" '
        f'width="100%" role="img" aria-labelledby="chart-title" font-family="sans-serif" font-size="11">',
        '<title id="chart-title">Drill timeline: probe results, user success rate and p99 latency, '
        "faults, milestones and objective deadlines</title>",
        f'<rect x="0" y="0" width="{_W}" height="{height}" fill="#fff"/>',
    ]
    # faults first, so everything else is drawn over the bands
    for f in report.faults:
        if f.injected_t is None:
            continue
        end = f.reverted_t if f.reverted_t is not None else span
        x0, x1 = _x(f.injected_t, span), _x(end, span)
        parts.append(
            f'<rect class="fault-band" x="{_f(x0)}" y="{marks_h - 8}" width="{_f(max(x1 - x0, 1.5))}" '
            f'height="{axis_y - marks_h + 8}" fill="#f59e0b" fill-opacity="0.16">'
            f"<title>fault {escape(f.name)}: {f.injected_t:.3f}s → "
            f"{'not reverted' if f.reverted_t is None else f'{f.reverted_t:.3f}s'}</title></rect>"
        )
        parts.append(
            f'<text x="{_f(x0 + 3)}" y="{marks_h - 1}" fill="#92400e" font-size="10">fault: {escape(f.name)}</text>'
        )
    # probe lanes
    palette = {"ok": "#16a34a", "fail": "#dc2626", "mixed": "#f97316", "none": "#e5e7eb"}
    for k, (label, lane_buckets, runs) in enumerate(lanes):
        y = lanes_top + k * (_LANE + _GAP)
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 11}" text-anchor="end">{escape(label)}</text>')
        for first, last, state in runs:
            x0 = _x(lane_buckets.start(first), span)
            x1 = _x(lane_buckets.start(last + 1), span)
            parts.append(
                f'<rect class="probe-{state}" x="{_f(x0)}" y="{y}" width="{_f(max(x1 - x0, 0.5))}" '
                f'height="{_LANE}" fill="{palette[state]}"/>'
            )
    # user success rate panel (0–100 %)
    parts.append(_panel(succ_top, "user success %", ["100", "50", "0"]))
    parts.append(
        _polyline(success, span, succ_top, _PANEL, 0.0, "#2563eb").replace(
            "<polyline", '<polyline class="series-success"', 1
        )
    )
    top_ms = max([v for _, v in p99] + [1.0])
    nice = 10 ** math.ceil(math.log10(top_ms))
    top_ms = next(m * nice / 10 for m in (1, 2, 5, 10) if m * nice / 10 >= top_ms)
    parts.append(_panel(p99_top, "user p99 ms", [f"{top_ms:g}", f"{top_ms / 2:g}", "0"]))
    parts.append(
        _polyline(p99, span, p99_top, _PANEL / top_ms, 0.0, "#7c3aed").replace(
            "<polyline", '<polyline class="series-p99"', 1
        )
    )
    # milestones: a line through every panel; labels of near-simultaneous ones are merged
    clusters: list[list[Any]] = []
    for m in sorted(report.milestones, key=lambda m: m.t):
        x = _x(m.t, span)
        if clusters and x - clusters[-1][0] < 6:
            clusters[-1][1].append(m)
        else:
            clusters.append([x, [m]])
    for i, (x, group) in enumerate(clusters):
        colour = _COLOURS.get(group[0].name, "#374151")
        ly = 10 + (i % 4) * 12
        names = " / ".join(m.name for m in group)
        tips = "; ".join(f"{m.name} at {m.t:.3f}s (±{m.bound:.3f}s)" for m in group)
        anchor = "end" if x > _W - 200 else "start"
        dx = -5 if anchor == "end" else 5
        parts.append(
            f'<line class="milestone" x1="{_f(x)}" y1="{ly + 2}" x2="{_f(x)}" y2="{axis_y}" '
            f'stroke="{colour}" stroke-width="1" stroke-dasharray="2,2"/>'
            f'<path d="M{_f(x - 4)},{ly + 2} L{_f(x + 4)},{ly + 2} L{_f(x)},{ly + 8} Z" fill="{colour}">'
            f"<title>{escape(tips)}</title></path>"
            f'<text x="{_f(x + dx)}" y="{ly + 1}" text-anchor="{anchor}" fill="{colour}">{escape(names)}</text>'
        )
    # objective deadlines
    off_chart = []
    for name, t in deadlines(report):
        if t > span:
            off_chart.append(f"{name} at {_clock(t)}")
            continue
        x = _x(t, span)
        parts.append(
            f'<line class="deadline" x1="{_f(x)}" y1="{marks_h}" x2="{_f(x)}" y2="{axis_y}" '
            f'stroke="#dc2626" stroke-width="1.5" stroke-dasharray="6,3"><title>{name} deadline</title></line>'
            f'<text x="{_f(x - 3)}" y="{axis_y - 4}" text-anchor="end" fill="#dc2626">{name} deadline</text>'
        )
    # time axis
    parts.append(f'<line x1="{_LEFT}" y1="{axis_y}" x2="{plot_r}" y2="{axis_y}" stroke="#6b7280"/>')
    step = _nice_step(span)
    t = 0.0
    while t <= span + 1e-9:
        x = _x(t, span)
        parts.append(
            f'<line x1="{_f(x)}" y1="{axis_y}" x2="{_f(x)}" y2="{axis_y + 4}" stroke="#6b7280"/>'
            f'<text x="{_f(x)}" y="{axis_y + 15}" text-anchor="middle">{_clock(t)}</text>'
        )
        t += step
    note = "time since drill start (m:ss)"
    if off_chart:
        note += " · deadlines beyond the drill: " + ", ".join(off_chart)
    parts.append(f'<text x="{_LEFT}" y="{axis_y + 32}" fill="#374151">{escape(note)}</text>')
    parts.append("</svg>")
    return "\n".join(p for p in parts if p)


def _panel(top: float, label: str, ticks: Sequence[str]) -> str:
    out = [
        f'<rect x="{_LEFT}" y="{top}" width="{_W - _LEFT - _RIGHT}" height="{_PANEL}" fill="none" stroke="#d1d5db"/>',
        f'<text x="{_LEFT - 6}" y="{top + _PANEL / 2 + 4}" text-anchor="end" font-weight="bold">{escape(label)}</text>',
    ]
    for k, tick in enumerate(ticks):
        y = top + k * _PANEL / (len(ticks) - 1)
        out.append(
            f'<text x="{_LEFT + 3}" y="{_f(y + (10 if k == 0 else -2))}" fill="#6b7280">{tick}</text>'
        )
    return "".join(out)


def trend_svg(
    title: str,
    points: Sequence[tuple[str, float | None, bool]],
    unit: str,
    bound: float | None = None,
) -> str:
    """A small line chart across runs: (label, value or None, passed) with the objective as a line."""
    w, h, left, bottom = 520, 160, 60, 30
    values = [v for _, v, _ in points if v is not None] + ([bound] if bound is not None else [])
    top = max([*values, 1e-09]) * 1.15
    n = max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + (w - left - 10) * i / n, 10 + (h - bottom - 10) * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {w} {h}" width="{w}" '
        f'font-family="sans-serif" font-size="10" role="img"><title>{escape(title)}</title>',
        f'<text x="{left}" y="9" font-weight="bold">{escape(title)} ({escape(unit)})</text>',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="#6b7280"/>',
        f'<text x="{left - 4}" y="14" text-anchor="end">{_fmt_unit(top, unit)}</text>',
        f'<text x="{left - 4}" y="{h - bottom}" text-anchor="end">0</text>',
    ]
    if bound is not None:
        _, y = xy(0, bound)
        parts.append(
            f'<line x1="{left}" y1="{_f(y)}" x2="{w - 10}" y2="{_f(y)}" stroke="#dc2626" stroke-dasharray="6,3"/>'
            f'<text x="{w - 12}" y="{_f(y - 3)}" text-anchor="end" fill="#dc2626">objective {_fmt_unit(bound, unit)}</text>'
        )
    coords = [xy(i, v) for i, (_, v, _) in enumerate(points) if v is not None]
    if len(coords) > 1:
        parts.append(
            '<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="'
            + " ".join(f"{_f(x)},{_f(y)}" for x, y in coords)
            + '"/>'
        )
    for i, (label, v, passed) in enumerate(points):
        x, y = xy(i, v if v is not None else 0.0)
        colour = "#16a34a" if passed else "#dc2626"
        shape = (
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3.5" fill="{colour}">'
            if v is not None
            else f'<text x="{_f(x)}" y="{_f(y - 4)}" text-anchor="middle" fill="{colour}">n/a'
        )
        closing = "</circle>" if v is not None else "</text>"
        shown = "n/a" if v is None else _fmt_unit(v, unit)
        parts.append(f"{shape}<title>{escape(label)}: {shown}</title>{closing}")
        parts.append(
            f'<text x="{_f(x)}" y="{h - bottom + 13}" text-anchor="middle">{escape(label[:10])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _fmt_unit(v: float, unit: str) -> str:
    if unit == "s":
        return format_duration(round(v, 3))
    if unit == "ratio":
        return f"{v * 100:.2f}%"
    return f"{v:g}"
