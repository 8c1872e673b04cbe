"""What the drill is doing right now, as one snapshot the operator's view renders.

`drill_status` reads the engine's state once per tick (faults in force and their end times,
the steady-state tracker, the manual steps, the objectives' clocks) and decides nothing: the
engine's own conditions stay the engine's. Times are seconds; `left_s` counts down to a
deadline and goes negative once it has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..analysis.objectives import release_settled
from ..analysis.timeline import ALERT, PHASE
from ..scenarios.model import GrayReleaseFault
from ..traffic.stats import TrafficWindow

if TYPE_CHECKING:
    from .engine import Drill

# the objectives whose clock starts at the first fault: each gets a countdown
TIMED_OBJECTIVES = ("detection_time", "failover_time", "recovery_time", "rollback_time")
WAITING_PHASES = ("baseline", "inject", "observe")


@dataclass(frozen=True)
class FaultInForce:
    """A fault applied and not yet reverted; `left_s` None: in force until the drill reverts it."""

    label: str
    left_s: float | None = None


@dataclass(frozen=True)
class Countdown:
    """An objective's or a manual step's deadline, counted from the first fault.

    `left_s` is None before the first fault (the clock has not started). `reached`: the
    objective's milestone was seen live (the report still judges it from the record).
    `number` is what the operator types to acknowledge a step.
    """

    kind: Literal["objective", "step"]
    name: str
    limit_s: float
    left_s: float | None = None
    reached: bool = False
    owner: str = ""
    number: int | None = None


@dataclass(frozen=True)
class Recovery:
    """The steady state since the system last changed, against `stable_for` (`need_s`).

    `stable_s`: how long it has held (None while failing or before any judged sample);
    `since_fault_s`: when that run began, counted from the first fault (None before it);
    `failing`: the stream that failed last, while failing; `impacted`: a failure was judged
    since the last change.
    """

    need_s: float
    stable_s: float | None = None
    since_fault_s: float | None = None
    failing: str | None = None
    impacted: bool = False
    holds: bool = False


@dataclass(frozen=True)
class Wait:
    """One condition the drill is waiting on before it can go on: what, which, how long left."""

    what: Literal["steady state", "fault", "fault end", "settle", "release", "manual step"]
    name: str = ""
    left_s: float | None = None


@dataclass(frozen=True)
class DrillStatus:
    """The drill's state at one tick, for the view; `now` is on the drill's monotonic clock."""

    now: float
    elapsed: float
    phase: str = "load"
    suite: tuple[int, int] | None = None  # (this scenario's position, scenarios in the suite)
    first_fault_at: float | None = None  # elapsed seconds when the first fault struck
    faults: tuple[FaultInForce, ...] = ()
    recovery: Recovery | None = None
    countdowns: tuple[Countdown, ...] = ()
    waiting: tuple[Wait, ...] = ()
    judged: frozenset[str] = frozenset()  # steady-state probes; every other probe is evidence
    traffic: Mapping[str, Any] | None = None  # the newest aggregate traffic second, if new


def drill_status(drill: Drill, now: float, window: TrafficWindow | None) -> DrillStatus:
    """Snapshot ``drill`` at ``now`` (``window``: the traffic second read this tick, if any)."""
    timeline = drill.timeline
    phase = next((e.name for e in reversed(timeline.events) if e.kind == PHASE), "load")
    t_inj = drill.t_inj
    runner = drill.faults
    faults: tuple[FaultInForce, ...] = ()
    if runner is not None:
        faults = tuple(
            FaultInForce(a.fault.label(), None if (end := runner.ends_at(a)) is None else end - now)
            for a in runner.applied
            if a.reverted_at is None
        )
    tracker = drill._tracker
    recovery = None
    if tracker is not None:
        since, judged = tracker.since, tracker.judged_until
        last = tracker.last_failure
        recovery = Recovery(
            need_s=tracker.stable_for,
            stable_s=judged - since if since is not None and judged is not None else None,
            since_fault_s=since - t_inj if since is not None and t_inj is not None else None,
            failing=last[1] if since is None and last is not None else None,
            impacted=tracker.failures > 0,
            holds=tracker.holds(),
        )
    countdowns = _objective_countdowns(drill, now, bool(faults), recovery) + _step_countdowns(
        drill, now
    )
    return DrillStatus(
        now=now,
        elapsed=drill.clock.elapsed(now),
        phase=phase,
        suite=drill.options.suite_position,
        first_fault_at=drill.clock.elapsed(t_inj) if t_inj is not None else None,
        faults=faults,
        recovery=recovery,
        countdowns=countdowns,
        waiting=_waiting(drill, now, phase, faults, recovery) if phase in WAITING_PHASES else (),
        judged=frozenset(p.name for p in timeline.steady_probes()),
        traffic=vars(window) if window is not None else None,
    )


def _objective_countdowns(
    drill: Drill, now: float, faults_held: bool, recovery: Recovery | None
) -> tuple[Countdown, ...]:
    t_inj = drill.t_inj
    holds = recovery is not None and recovery.holds
    alerted = t_inj is not None and drill.timeline.first(ALERT, after=t_inj) is not None
    applied = drill.faults.applied if drill.faults is not None else []
    released = any(isinstance(a.fault, GrayReleaseFault) for a in applied)
    reached = {
        "detection_time": alerted,
        "failover_time": holds and faults_held,
        "recovery_time": holds and not faults_held and t_inj is not None,
        "rollback_time": released and release_settled(drill.timeline, drill.scenario.faults),
    }
    out: list[Countdown] = []
    for name in TIMED_OBJECTIVES:
        limit = getattr(drill.scenario.objectives, name)
        if not limit:
            continue
        left = t_inj + limit - now if t_inj is not None else None
        out.append(Countdown("objective", name, limit, left, reached=reached[name]))
    return tuple(out)


def _step_countdowns(drill: Drill, now: float) -> tuple[Countdown, ...]:
    t_inj = drill.t_inj
    manual = drill.manual
    pending = manual.pending()
    # the number the terminal's "type the number" resolves to, whatever numbering it uses
    numbers = {manual.by_number(n): n for n in range(1, len(manual.states) + 1)}
    return tuple(
        Countdown(
            "step",
            s.step.name,
            s.deadline_s,
            t_inj + s.deadline_s - now if t_inj is not None else None,
            owner=s.step.owner or "operator",
            number=numbers.get(s.step.name),
        )
        for s in pending
    )


def _waiting(
    drill: Drill,
    now: float,
    phase: str,
    faults: tuple[FaultInForce, ...],
    recovery: Recovery | None,
) -> tuple[Wait, ...]:
    """What the drill waits for, in the engine's own terms, people's steps first."""
    t_inj, t0, runner = drill.t_inj, drill.t_baseline_end, drill.faults
    waits: list[Wait] = []
    if t_inj is not None:
        optional = not drill.options.ci  # the engine waits for optional steps only off CI
        waits += [
            Wait("manual step", s.step.name, t_inj + s.deadline_s - now)
            for s in drill.manual.pending()
            if now < t_inj + s.deadline_s and (optional or not s.step.optional)
        ]
    if t0 is not None and runner is not None:
        applied = {a.fault.label() for a in runner.applied}
        waits += [
            Wait("fault", f.label(), t0 + f.at - now)
            for f in sorted(drill.scenario.faults, key=lambda f: f.at)
            if f.label() not in applied
        ]
        waits += [Wait("fault end", f.label, f.left_s) for f in faults if f.left_s is not None]
        if t_inj is not None and now < (settle := runner.observation_end()):
            waits.append(Wait("settle", "", settle - now))
    if recovery is not None and not recovery.holds and (phase == "baseline" or t_inj is not None):
        stable = recovery.stable_s
        waits.append(
            Wait("steady state", "", recovery.need_s - stable if stable is not None else None)
        )
    if t_inj is not None and not release_settled(drill.timeline, drill.scenario.faults):
        waits.append(Wait("release"))
    return tuple(waits)
