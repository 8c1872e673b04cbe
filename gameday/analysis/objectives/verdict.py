"""A drill's verdict from its judged objectives: overall verdict and deviations.

The words and exit codes themselves are `gameday.analysis.verdict`'s; this module only
judges which one a drill earned.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..verdict import Verdict
from .result import ObjectiveResult


def overall_verdict(
    results: Iterable[ObjectiveResult], aborted: bool, error: str | None
) -> Verdict:
    """`error` if the drill could not run, `aborted` on a guardrail, else passed/failed.

    A finished drill with an objective it could not judge (and none missed) is an error:
    it cannot claim a pass it did not measure.
    """
    if error:
        return Verdict.ERROR
    if aborted:
        return Verdict.ABORTED
    results = list(results)
    if any(r.missed for r in results):
        return Verdict.FAILED
    return Verdict.PASSED if all(r.passed for r in results) else Verdict.ERROR


def deviations(results: Iterable[ObjectiveResult], abort_reason: str | None = None) -> list[str]:
    """One line per failed objective (and the abort), for the report's deviations section."""
    lines = [f"{r.name} ({r.bound_text}): {r.reason}" for r in results if r.missed]
    if abort_reason:
        lines.append(f"aborted: {abort_reason}")
    return lines
