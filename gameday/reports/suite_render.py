"""A suite's renderings from its suite.json: suite.md, junit.xml and the console summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..scenarios.units import human_duration
from .formats import JUNIT_XML
from .junit import render_junit
from .markdown import _md as md
from .report import Report
from .summary import print_table

SUITE_MD = "suite.md"
_ICONS = {"passed": "✅", "failed": "❌", "aborted": "⚠️", "error": "💥", "invalid": "⛔"}
_COLOURS = {"passed": "green", "failed": "red", "aborted": "yellow"}


def write_renderings(directory: Path, data: Mapping[str, Any], reports: Sequence[Report]) -> None:
    """suite.md and junit.xml (a test suite per scenario, those never run as skipped)."""
    (directory / SUITE_MD).write_text(render_suite_markdown(data, directory), encoding="utf-8")
    not_run = [(e["name"], e["reason"]) for e in data["scenarios"] if e["status"] != "finished"]
    junit = render_junit(reports, not_run=not_run)
    (directory / JUNIT_XML).write_text(junit, encoding="utf-8")


def _cell(value: object) -> str:
    return "" if value is None else md(value)


def _report_link(entry: Mapping[str, Any], directory: Path | None) -> str:
    link = entry.get("link")
    if not link:
        return ""
    name = "report.html"
    if directory is not None and not (directory / link / name).is_file():
        name = "report.json"
    return f"[{md(entry.get('run_id') or link)}]({link}/{name})"


def render_suite_markdown(data: Mapping[str, Any], directory: Path | None = None) -> str:
    """The suite for a ticket or a pull request: verdict, each scenario, the people's timeline."""
    verdict = str(data.get("verdict") or data.get("status"))
    lines = [
        f"## {_ICONS.get(verdict, '')} Suite `{data['suite']}`: **{verdict.upper()}**",
        "",
        md(data.get("reason", "")),
        "",
        "| # | scenario | verdict | exit | why | report |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, e in enumerate(data["scenarios"], 1):
        lines.append(
            f"| {i} | {md(e['name'])} | {_cell(e['verdict'] or e['status'])} | "
            f"{_cell(e['exit_code'])} | {_cell(e['reason'])} | {_report_link(e, directory)} |"
        )
    steps = data.get("manual_steps") or []
    if steps:
        lines += [
            "",
            "**Manual steps** (UTC)",
            "",
            "| scenario | step | owner | deadline | done | by | verdict |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for s in steps:
            judged = {True: "✅ met", False: "❌ missed"}.get(s["met"], "⚪ not judged")
            lines.append(
                f"| {md(s['scenario'])} | {md(s['step'])} | {_cell(s['owner'])} | "
                f"{_cell(s['deadline'])} | {_cell(s['done'])} | {_cell(s['by'])} | {judged} |"
            )
    audit = data.get("audit") or {}
    people = ", ".join(f"{p['name']} ({p['role']})" for p in data.get("participants") or [])
    lines += [
        "",
        "<details><summary>Suite details</summary>",
        "",
        f"- drill type {_cell(audit.get('drill_type'))}, environment "
        f"{_cell(audit.get('environment'))}, scope {_cell(audit.get('scope')) or '—'}",
        f"- controls: {_cell(', '.join(audit.get('controls') or [])) or 'none declared'}",
        f"- participants: {md(people) or 'none recorded'}",
        f"- operator {_cell(data.get('operator'))}, started {_cell(data.get('started'))}, "
        f"ended {_cell(data.get('ended'))}",
        f"- suite `{_cell(data.get('path'))}`",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def print_suite(out: Console, data: Mapping[str, Any], directory: Path) -> None:
    """The suite's summary table, where its record is, and one closing verdict line."""
    log = not out.is_terminal
    table = Table(
        title=f"suite {data['suite']}",
        title_justify="left",
        box=box.ASCII if log else box.HEAVY_HEAD,
    )
    for column in ("#", "scenario", "verdict", "exit", "why", "run"):
        table.add_column(column, overflow="fold", no_wrap=log)
    for i, e in enumerate(data["scenarios"], 1):
        verdict = str(e["verdict"] or e["status"])
        colour = _COLOURS.get(verdict, "red" if e["verdict"] else "dim")
        table.add_row(
            str(i),
            escape(e["name"]),
            f"[{colour}]{escape(verdict)}[/{colour}]",
            "" if e["exit_code"] is None else str(e["exit_code"]),
            "" if e["verdict"] == "passed" else escape(" ".join(str(e["reason"]).split())),
            escape(str(e.get("run_id") or "")),
        )
    print_table(out, table, log)
    out.print(f"suite report: {directory / SUITE_MD}  (runs beside it in {directory.parent})")
    verdict = str(data["verdict"])
    colour = _COLOURS.get(verdict, "red")
    took = datetime.fromisoformat(data["ended"]) - datetime.fromisoformat(data["started"])
    reason = " ".join(str(data["reason"]).split())
    out.print(
        f"verdict: [{colour}]{escape(verdict)}[/{colour}] (exit {data['exit_code']}) — suite "
        f"{escape(data['suite'])}, {len(data['scenarios'])} scenarios, "
        f"{human_duration(took.total_seconds())}: {escape(reason)}",
        soft_wrap=True,
        crop=False,
    )
