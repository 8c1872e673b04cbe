"""Reports for runs whose runner never wrote one: rebuilt from the run directory's record.

`gameday recover` calls `complete_run` for each run it cleaned up after; `gameday report
rebuild RUN_DIR` does it by hand (after freeing disk space, for instance).
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..analysis.verdict import Verdict
from ..runners.live_record import RECORD_FILE
from ..runners.rebuild import RebuildError, rebuild
from .publish import Published, publish
from .render import REPORT_JSON
from .signing import SigningKeyError
from .summary import print_summary


def has_report(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a complete report.json (a torn one does not count)."""
    try:
        json.loads((run_dir / REPORT_JSON).read_bytes())
    except (OSError, ValueError):
        return False
    return True


def needs_report(run_dir: Path) -> bool:
    """A run that recorded something but has no report: what `complete_run` is for."""
    return (run_dir / RECORD_FILE).is_file() and not has_report(run_dir)


def complete_run(run_dir: Path) -> Published:
    """Rebuild the run's record and publish it; raises RebuildError, OSError or SigningKeyError."""
    return publish(rebuild(run_dir))


def cmd_rebuild(run_dir: Path) -> int:
    """`gameday report rebuild RUN_DIR`: write the report a runner could not; exit code of its verdict."""
    err = Console(stderr=True, highlight=False)
    if has_report(run_dir):
        err.print(
            f"[red]error[/red]: {escape(str(run_dir))} already has its report "
            "(`gameday report render` writes its renderings again)"
        )
        return Verdict.INVALID.exit_code
    try:
        outcome = complete_run(run_dir)
    except (RebuildError, SigningKeyError) as exc:
        err.print(f"[red]error[/red]: {escape(str(exc))}")
        return Verdict.INVALID.exit_code
    except OSError as exc:
        err.print(
            f"[red]error[/red]: the report cannot be written to {run_dir}: {exc.strerror or exc}"
        )
        return Verdict.ERROR.exit_code
    print_summary(Console(highlight=False), outcome.report, outcome.run_dir, outcome.written)
    return outcome.exit_code


def complete_after_recover(run_dir: Path) -> str | None:
    """For `gameday recover`: write the report of a run its runner left without one.

    A suite whose runner died running it is marked aborted too (`suite.complete_suites`).
    """
    from .suite import complete_suites

    lines: list[str] = []
    if needs_report(run_dir):
        try:
            outcome = complete_run(run_dir)
        except (RebuildError, SigningKeyError, OSError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            lines.append(f"its report could not be rebuilt: {why}")
        else:
            lines.append(f"wrote its report ({outcome.reason}) in {outcome.run_dir}")
    try:
        lines += complete_suites(run_dir)
    except OSError as exc:
        lines.append(f"its suite's record could not be completed: {exc.strerror or exc}")
    return "\n  ".join(lines) or None
