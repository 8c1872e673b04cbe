"""`gameday run SUITE`: the suite's scenarios as one drill session, and the suite's record.

The running (order, stop rules) is `runners.suite`; the record (suite.json, renderings) is
`reports.suite`; this ties them together inside one `held_stop_signals` session.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from ..analysis.verdict import Verdict
from ..runners.console import PipeSafeConsole, make_view
from ..runners.interrupts import held_stop_signals
from ..runners.live_record import RecordUnwritable
from ..runners.lost_console import GuardedView
from ..runners.record import RunOptions
from ..runners.suite import refusals, run_suite
from ..scenarios.model import Scenario, Suite
from .suite import SuiteRecord


def run_suite_session(
    suite: Suite, suite_path: Path, members: Sequence[tuple[Path, Scenario]], options: RunOptions
) -> int:
    """Run the suite, write its record in <report-dir>/<suite>-<utc>/; returns its exit code."""
    out = PipeSafeConsole(highlight=False, soft_wrap=True)
    err = PipeSafeConsole(stderr=True, highlight=False, soft_wrap=True)
    problems = refusals(members, options.ci)
    if problems:  # what would refuse a later scenario refuses the suite before the first runs
        for problem in problems:
            err.print(f"[red]error[/red]: {escape(problem)}")
        err.print("nothing was run.")
        return Verdict.INVALID.exit_code
    # one session: a stop at any moment, between drills and while a record is written too
    with held_stop_signals() as held:
        try:
            record = SuiteRecord.start(
                suite,
                suite_path,
                members,
                options.report_root,
                operator=options.operator,
                out=out,
                err=err,
            )
        except RecordUnwritable as exc:
            err.print(f"[red]error[/red]: {escape(str(exc))}")
            return Verdict.INVALID.exit_code
        outcome = run_suite(
            members,
            options,
            start=lambda i: record.starting(i, GuardedView(make_view(options.ci))),
            finish=record.finish,
            stop_on_failure=suite.stop_on_failure,
            held=held,
        )
        return record.close(outcome)
