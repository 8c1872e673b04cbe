"""A suite run as one drill session: its scenarios in order, and one stop ends them all.

A stop signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) at any moment of the session, a guardrail
abort, a fault left in force, or a failure under `stop_on_failure` ends the scenario running
(it reverts and reports as a single drill does) and starts no other. What each drill's record
becomes (its report, the suite's record) is the caller's: `finish` is handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..analysis.verdict import Verdict, worst
from ..scenarios.model import Scenario
from .engine import run_drill
from .lost_console import GuardedView
from .preparation import refusals as run_refusals
from .record import DrillRecord, InvalidRun, RunOptions


@dataclass(frozen=True)
class Finished:
    """What became of one scenario of the suite."""

    verdict: Verdict
    exit_code: int
    reason: str
    run_dir: Path | None  # None: refused before its run directory was made
    # why the suite cannot go on after this scenario although its drill ended (its report
    # could not be written, the console is gone), and the verdict that costs the suite
    halt: str | None = None
    halt_verdict: Verdict | None = None


@dataclass(frozen=True)
class Stop:
    """Where and why the suite stopped before its last scenario was done."""

    at: str  # the scenario running (or just finished) when the suite stopped
    why: str
    aborted: bool  # an operator's or a guardrail's stop: the suite is aborted


@dataclass
class SuiteOutcome:
    """The scenarios that ran, in order, and the stop that ended the suite early, if any."""

    finished: list[Finished] = field(default_factory=list)
    stop: Stop | None = None

    @property
    def verdict(self) -> Verdict:
        """The worst of the scenarios' verdicts; aborted at least when the suite was stopped."""
        verdicts = [f.verdict for f in self.finished]
        verdicts += [f.halt_verdict for f in self.finished if f.halt_verdict is not None]
        if self.stop is not None and self.stop.aborted:
            verdicts.append(Verdict.ABORTED)
        return worst(verdicts)


Start = Callable[[int], GuardedView]
Finish = Callable[[int, DrillRecord, GuardedView], Finished]


def refusals(members: Sequence[tuple[Path, Scenario]], ci: bool) -> list[str]:
    """What would refuse a scenario (exit 2) when its turn came: found before the first runs."""
    return [
        f"{path}: {why}" for path, scenario in members for why in run_refusals(scenario, path, ci)
    ]


def run_suite(
    members: Sequence[tuple[Path, Scenario]],
    options: RunOptions,
    *,
    start: Start,
    finish: Finish,
    stop_on_failure: bool,
    held: Sequence[str],
) -> SuiteOutcome:
    """Run the scenarios in order; ``start(i)`` gives each drill its view.

    Call it inside `interrupts.held_stop_signals`, whose list is ``held``: the stop signals
    of the whole session, a drill's own stop included.
    """
    outcome = SuiteOutcome()
    for index, (path, scenario) in enumerate(members):
        view = start(index)
        position = replace(options, suite_position=(index + 1, len(members)))
        try:
            record = run_drill(scenario, path, position, view)
        except InvalidRun as exc:
            outcome.finished.append(
                Finished(Verdict.INVALID, Verdict.INVALID.exit_code, f"refused: {exc}", None)
            )
            outcome.stop = Stop(scenario.name, f"refused: {exc}", aborted=False)
            break
        done = finish(index, record, view)
        outcome.finished.append(done)
        later = index + 1 < len(members)
        outcome.stop = _stop(scenario.name, record, done, held[0] if held else None, later)
        failed = done.verdict is not Verdict.PASSED
        if outcome.stop is None and later and stop_on_failure and failed:
            outcome.stop = Stop(
                scenario.name, f"stop_on_failure: the scenario {done.verdict}", aborted=False
            )
        if outcome.stop is not None:
            break
    return outcome


def _stop(
    name: str, record: DrillRecord, done: Finished, signal: str | None, later: bool
) -> Stop | None:
    """Why nothing may run after this scenario, whatever the suite says about failures."""
    if record.aborted is not None:  # the operator (during the drill) or a guardrail
        return Stop(name, record.aborted, aborted=True)
    if signal is not None and later:  # arrived after the drill, while its report was written
        return Stop(name, f"{signal} received", aborted=True)
    if done.halt is not None:
        return Stop(name, done.halt, aborted=False)
    if record.unreverted and later:
        return Stop(name, "a fault it applied could not be reverted", aborted=False)
    return None
