"""Trends across runs: per scenario, recovery, detection, data loss and verdicts over time."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..analysis.verdict import Verdict
from .chart import trend_svg
from .html import environment
from .report import Report

TRENDS = (
    ("recovery_time", "recovery", "s"),
    ("detection_time", "detection", "s"),
    ("data_loss", "data loss", "count"),
    ("availability", "availability", "ratio"),
)


@dataclass(frozen=True)
class RunPoint:
    """One run of a scenario, reduced to what the history shows."""

    path: Path
    run_id: str
    started: str
    verdict: Verdict
    signed: bool
    values: dict[str, tuple[float | None, bool | None, str]]  # objective → measured, passed, bound


def load_runs(root: Path) -> tuple[dict[str, list[RunPoint]], list[str]]:
    """Every report.json under root, grouped by scenario and sorted by start; plus skipped files."""
    runs: dict[str, list[RunPoint]] = defaultdict(list)
    skipped: list[str] = []
    for path in sorted(root.rglob("report.json")):
        try:
            report = Report.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            skipped.append(f"{path}: {exc}")
            continue
        values: dict[str, tuple[float | None, bool | None, str]] = {
            r.name: (r.measured, r.passed, r.bound_text) for r in report.objectives
        }
        runs[report.scenario.name].append(
            RunPoint(
                path,
                report.run_id,
                report.started,
                report.verdict,
                (path.parent / "report.dsse.json").is_file(),
                values,
            )
        )
    for points in runs.values():
        points.sort(key=lambda p: p.started)
    return dict(sorted(runs.items())), skipped


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.1f}s"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    return f"{value:g}"


def _bound_value(text: str, unit: str) -> float | None:
    from ..scenarios.units import parse_duration, parse_percent

    raw = text.lstrip("≤≥ ").split(" ")[0]
    try:
        return (
            parse_duration(raw)
            if unit == "s"
            else parse_percent(raw)
            if unit == "ratio"
            else float(raw)
        )
    except (ValueError, TypeError):
        return None


def render_index(runs: dict[str, list[RunPoint]], out: Path) -> str:
    """The history page: per scenario a table of runs and a trend chart per measure."""
    sections = []
    for name, points in runs.items():
        charts = []
        for key, label, unit in TRENDS:
            if not any(key in p.values for p in points):
                continue
            series = [
                (
                    p.started[:10],
                    p.values.get(key, (None, None, ""))[0],
                    bool(p.values.get(key, (None, False, ""))[1]),
                )
                for p in points
            ]
            bound_text = next((p.values[key][2] for p in reversed(points) if key in p.values), "")
            charts.append(
                trend_svg(f"{name}: {label}", series, unit, _bound_value(bound_text, unit))
            )
        rows = [
            {
                "p": p,
                "href": os.path.relpath(p.path.parent / "report.html", out.parent),
                "cells": [fmt(p.values.get(k, (None, None, ""))[0], u) for k, _, u in TRENDS],
            }
            for p in points
        ]
        sections.append({"name": name, "charts": charts, "rows": rows})
    return environment().get_template("history.html.j2").render(sections=sections, trends=TRENDS)
