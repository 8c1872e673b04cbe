"""The end-of-drill console summary, from the same rows the HTML and Markdown print."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..analysis.verdict import Verdict
from .report import Report
from .view import deviation_list, objective_rows

_COLOURS = {Verdict.PASSED: "green", Verdict.FAILED: "red", Verdict.ABORTED: "yellow"}


def print_summary(
    out: Console, report: Report, run_dir: Path, written: Sequence[Path] = ()
) -> None:
    """Objectives (target, measured ± bound, verdict, why), deviations, verdict, file paths."""
    colour = _COLOURS.get(report.verdict, "red")
    table = Table(title=f"{report.scenario.name}: objectives", title_justify="left")
    for column in ("objective", "target", "measured", "verdict", "why"):
        table.add_column(column, overflow="fold")
    for row in objective_rows(report):
        table.add_row(
            row.name,
            row.target,
            row.measured,
            {"met": "[green]met[/green]", "missed": "[red]missed[/red]"}.get(
                row.verdict, "[yellow]not judged[/yellow]"
            ),
            "" if row.passed else escape(row.reason),
        )
    out.print(table)
    for hop in report.hops:
        if hop.crossed_in:
            out.print(
                f"slow hop: [bold]{escape(hop.hop)}[/bold] p99 {hop.crossed_p99 * 1000:.0f} ms "
                f"(over {hop.threshold * 1000:.0f} ms) during {escape(', '.join(hop.crossed_in))}"
            )
    for warning in report.budget_warnings:
        out.print(f"[yellow]warning[/yellow]: {escape(warning)}")
    for line in deviation_list(report):
        if not any(line.startswith(f"{r.name}:") for r in report.objectives):
            out.print(f"[yellow]deviation[/yellow]: {escape(line)}")
    out.print(f"verdict: [{colour}]{report.verdict}[/{colour}] ({escape(report.reason)})")
    out.print(f"report: {run_dir / 'report.json'}")
    for path in written:
        if path.suffix in (".html", ".md", ".xml") or path.name.endswith(".dsse.json"):
            out.print(f"        {path}")
