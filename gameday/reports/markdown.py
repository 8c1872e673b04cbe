"""The Markdown summary for pull requests and tickets (GitHub-flavoured tables)."""

from __future__ import annotations

from ..analysis.verdict import Verdict
from ..scenarios.units import format_duration
from .audit import effective_audit
from .html import environment
from .report import Report
from .view import deviation_list, objective_rows, utc, wall

_ICONS = {Verdict.PASSED: "✅", Verdict.FAILED: "❌", Verdict.ABORTED: "⚠️", Verdict.ERROR: "💥"}


_MD_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        **{c: "\\" + c for c in "\\`*[]|"},
        "\n": " ",
        "\r": " ",
    }
)


def _md(text: object) -> str:
    """Text from the drill (operator, errors, reasons) as inert Markdown: no HTML, no links or
    emphasis, and a table cell stays one cell."""
    return str(text).translate(_MD_ESCAPES)


def render_markdown(report: Report, *, key_fingerprint: str | None = None) -> str:
    """A short summary: verdict, the objectives table, deviations, faults, run details."""
    env = environment().overlay(autoescape=False)
    env.filters["md"] = _md
    return env.get_template("summary.md.j2").render(
        r=report,
        icon=_ICONS.get(report.verdict, ""),
        objectives=objective_rows(report),
        deviations=deviation_list(report),
        faults=[{"f": f, "at": wall(report, f.injected_t)} for f in report.faults],
        audit=effective_audit(report),
        started=utc(report.started),
        duration=format_duration(round(report.duration_s, 3)),
        key_fingerprint=key_fingerprint,
    )
