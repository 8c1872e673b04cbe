"""The end-of-drill console summary, from the same rows the HTML and Markdown print.

On a terminal the objectives table fits the window (long reasons fold); in a CI log (or any
console that is not a terminal) it is as wide as its rows, so no "why" is ever wrapped or
cut. The summary always ends with one line that holds the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from ..analysis.verdict import Verdict
from ..scenarios.units import human_duration
from .report import Report
from .view import deviation_list, objective_rows

_COLOURS = {Verdict.PASSED: "green", Verdict.FAILED: "red", Verdict.ABORTED: "yellow"}
MAX_LOG_WIDTH = 1000  # a CI log line; beyond it the reason is a runaway, folded after all


class _AtWidth:
    """A renderable drawn at a fixed width, whatever the console's own (a CI log's is 80)."""

    def __init__(self, renderable: RenderableType, width: int) -> None:
        self.renderable, self.width = renderable, width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from console.render(self.renderable, options.update(width=self.width))


def print_table(out: Console, table: Table, log: bool) -> None:
    """A table on the console; in a log (``log``) as wide as its rows, never wrapped."""
    if log:
        wide = Measurement.get(out, out.options.update(max_width=MAX_LOG_WIDTH), table).maximum
        out.print(_AtWidth(table, max(wide, 1)), crop=False)
    else:
        out.print(table)


def verdict_line(report: Report) -> str:
    """The closing line (Rich markup): verdict, exit code, scenario, how long, why."""
    colour = _COLOURS.get(report.verdict, "red")
    reason = " ".join(report.reason.split())  # one line, whatever the reason holds
    return (
        f"verdict: [{colour}]{report.verdict}[/{colour}] (exit {report.exit_code}) — "
        f"{escape(report.scenario.name)}, {human_duration(report.duration_s)}: {escape(reason)}"
    )


def print_summary(
    out: Console,
    report: Report,
    run_dir: Path,
    written: Sequence[Path] = (),
    ci: bool | None = None,
) -> None:
    """Objectives (target, measured ± bound, verdict, why), deviations, file paths, the verdict.

    ``ci`` (default: the console is not a terminal) sizes the table for a log: no wrapping.
    """
    log = not out.is_terminal if ci is None else ci
    table = Table(
        title=f"{report.scenario.name}: objectives",
        title_justify="left",
        box=box.ASCII if log else box.HEAVY_HEAD,
    )
    for column in ("objective", "target", "measured", "verdict", "why"):
        table.add_column(column, overflow="fold", no_wrap=log)
    for row in objective_rows(report):
        table.add_row(
            row.name,
            row.target,
            row.measured,
            {"met": "[green]met[/green]", "missed": "[red]missed[/red]"}.get(
                row.verdict, "[yellow]not judged[/yellow]"
            ),
            "" if row.passed else escape(" ".join(row.reason.split())),
        )
    print_table(out, table, log)
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
    out.print(f"report: {run_dir / 'report.json'}")
    for path in written:
        if path.suffix in (".html", ".md", ".xml") or path.name.endswith(".dsse.json"):
            out.print(f"        {path}")
    out.print(verdict_line(report), soft_wrap=True, crop=False)
