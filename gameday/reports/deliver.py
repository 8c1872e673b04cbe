"""A finished drill handed to its operator: its report published, its summary printed.

Both things can fail after the faults are gone, and neither may cost a traceback: a report
that cannot be written (a full disk) and a console that cannot be written (a closed pipe) are
each said in one line on stderr, and returned as the reason the run ends in error.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from ..runners.lost_console import GuardedView
from ..runners.record import DrillRecord
from .publish import Published, publish
from .summary import print_summary


@dataclass(frozen=True)
class Delivered:
    """The published report (None when it could not be written) and what went wrong, if anything."""

    published: Published | None
    failure: str | None = None  # one line: why the run ends in error although the drill ran


def deliver(record: DrillRecord, view: GuardedView, out: Console, err: Console) -> Delivered:
    """Publish ``record`` and print its summary on ``out``; failures go to ``err`` in one line."""
    try:
        published = publish(record)
    except OSError as exc:  # after faults: never a traceback, and say where the record is
        why = exc.strerror or str(exc)
        _say(
            err,
            f"the drill ran but its report could not be written to {record.run_dir}: {why}; "
            f"once there is room, `gameday report rebuild {record.run_dir}` writes it",
        )
        return Delivered(None, f"its report could not be written: {why}")
    try:
        print_summary(out, published.report, published.run_dir, published.written)
    except OSError as exc:
        view.lose(exc)
    if view.lost is not None:
        _say(
            err,
            f"the console could not be written ({view.lost}); the drill ran to its end and "
            f"its report is in {published.run_dir}",
        )
        return Delivered(published, f"the console could not be written ({view.lost})")
    return Delivered(published)


def _say(err: Console, text: str) -> None:
    with contextlib.suppress(OSError):
        err.print(f"[red]error[/red]: {escape(text)}")
