"""One judged objective: `ObjectiveResult`, its wording, and the two ways to build one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ...scenarios.units import format_duration, format_percent

Unit = Literal["s", "ratio", "count"]
Outcome = Literal["met", "missed", "not judged"]
OUTCOMES: tuple[Outcome, ...] = ("met", "missed", "not judged")
EPS = 1e-9  # float slack when comparing a measurement with its bound


@dataclass(frozen=True)
class ObjectiveResult:
    """One objective judged: the measured value, its error bound, and why it passed or failed.

    `judged` is False when the drill never produced what the objective needs (aborted before
    its deadline, measurement died): the objective is then neither met nor missed.
    """

    name: str
    bound_text: str
    measured: float | None
    error: float | None
    unit: Unit
    passed: bool
    reason: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    judged: bool = True

    @property
    def outcome(self) -> Outcome:
        """`met`, `missed` or `not judged`: the word every rendering prints."""
        if not self.judged:
            return "not judged"
        return "met" if self.passed else "missed"

    @property
    def missed(self) -> bool:
        """Judged and not met: the only outcome that is a deviation and a finding."""
        return self.judged and not self.passed

    def measured_text(self) -> str:
        """The measured value with its error bound, e.g. `41.2s (±250ms)`; `n/a` without data."""
        observed = self.detail.get("observed")
        if isinstance(observed, str):
            # a state, not a quantity (how a release ended): the number is its evidence
            if self.measured is None:
                return observed
            return f"{observed} (max {self.measured * 100:.2f}%)"
        if self.measured is None:
            return "n/a"
        if self.unit == "ratio":
            # two decimals: more digits than the error bound supports would be false precision
            text = f"{self.measured * 100:.2f}%"
            return text + (f" (±{self.error * 100:.2f}%)" if self.error else "")
        text = format_value(self.measured, self.unit)
        if self.error:
            text += f" (±{format_value(self.error, self.unit)})"
        return text


def format_value(value: float, unit: Unit) -> str:
    """A value in its unit: `41.2s`, `99.5%`, `3`."""
    if unit == "s":
        # keep sub-millisecond bounds visible instead of rounding them to "0s"
        return format_duration(round(value, 3) if value >= 0.001 else round(value, 6))
    if unit == "ratio":
        return format_percent(value)
    return f"{value:g}"


def unmeasured(
    name: str, bound_text: str, unit: Unit, reason: str, **detail: Any
) -> ObjectiveResult:
    """A failure without a measurement: missing or inconclusive data never passes."""
    return ObjectiveResult(name, bound_text, None, None, unit, False, reason, detail)


def not_judged(
    name: str, bound_text: str, unit: Unit, reason: str, **detail: Any
) -> ObjectiveResult:
    """An objective the drill could not judge (stopped before it mattered, measurement died)."""
    return ObjectiveResult(name, bound_text, None, None, unit, False, reason, detail, judged=False)


def met_without_measurement(
    name: str, bound_text: str, unit: Unit, reason: str, **detail: Any
) -> ObjectiveResult:
    """Met with nothing to measure, e.g. a recovery objective when no impact was observed."""
    return ObjectiveResult(name, bound_text, None, None, unit, True, reason, detail)


def at_most(
    name: str,
    measured: float,
    error: float | None,
    bound: float,
    unit: Unit,
    what: str,
    **detail: Any,
) -> ObjectiveResult:
    """`measured` judged against an upper `bound`, worded as `{what} 41.2s, within ...`."""
    ok = measured <= bound + EPS
    text = f"≤ {format_value(bound, unit)}"
    verb = "within" if ok else "over"
    reason = (
        f"{what} {format_value(measured, unit)}, {verb} the objective {format_value(bound, unit)}"
    )
    return ObjectiveResult(name, text, measured, error, unit, ok, reason, detail)
