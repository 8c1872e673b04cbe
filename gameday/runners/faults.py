"""The drill's faults in force: inject on schedule, journal first, revert exactly once.

Faults the drill performs itself (command, load surge) go to the local driver; every other
fault to the target's driver. Which driver reverts a plan is the plan's own ``driver``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..analysis.timeline import FAULT_FAILED, FAULT_INJECTED, FAULT_REVERTED, Clock, Timeline
from ..scenarios.model import AnyFault, GrayReleaseFault, LoadSurgeFault
from ..scenarios.target_types import LOCAL_FAULTS
from ..targets.base import FaultPlan, Target, recording_acts
from .console import DrillView
from .journal import Journal, JournalError

REVERT_RETRIES = 2  # teardown's extra rounds for reverts that failed while other faults held
RETRY_PAUSE_S = 1.0


@dataclass
class AppliedFault:
    fault: AnyFault
    plan: FaultPlan
    plan_id: str
    injected_at: float
    reverted_at: float | None = None
    revert_error: str | None = None  # the last revert attempt's error while still in force
    revert_attempts: int = 0


@dataclass(frozen=True)
class Unreverted:
    """A fault teardown could not undo: the drill's verdict is `error` whatever it measured."""

    fault: str
    action: str
    error: str
    attempts: int

    def to_json(self) -> dict[str, object]:
        return {
            "fault": self.fault,
            "action": self.action,
            "error": self.error,
            "attempts": self.attempts,
        }


def act_bracket(
    acts: Sequence[tuple[float, float]], started: float, returned: float
) -> tuple[float, float]:
    """When the fault struck: the first `acting()` stamp of the driver, else the whole call.

    Returns (midpoint, half-width): the injection instant and its error bound.
    """
    t0, t1 = started, returned
    if acts:
        t0, t1 = min(acts, key=lambda a: a[0])
    return (t0 + t1) / 2, (t1 - t0) / 2


async def _to_its_end(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking call in a thread to its end even when cancelled meanwhile (then re-raise).

    A thread cannot be stopped: returning early would let teardown's revert race the apply.
    """
    call = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    cancelled = False
    while not call.done():
        try:
            await asyncio.shield(call)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled and call.exception() is None:
        raise asyncio.CancelledError
    return call.result()


class FaultRunner:
    """Applies and reverts one drill's faults; ``applied`` is what teardown must undo."""

    def __init__(
        self,
        target: Target,
        local: Target,
        journal: Journal,
        timeline: Timeline,
        clock: Clock,
        view: DrillView,
        on_change: Callable[[float], None],
    ) -> None:
        self.target = target
        self.local = local
        self.journal = journal
        self.timeline = timeline
        self.clock = clock
        self.view = view
        self.on_change = on_change  # the system changed at t: judge recovery from there
        self.applied: list[AppliedFault] = []
        self.first_injected: float | None = None
        self._running: set[asyncio.Task[Any]] = set()  # `run` tasks: waiting or injecting

    def _driver(self, name: str) -> Target:
        return self.local if name == self.local.name else self.target

    def _say(self, text: str, style: str) -> None:
        self.view.line(text, self.clock.elapsed(self.clock.now()), style)

    def in_force(self) -> list[str]:
        """Labels of the faults applied and not yet reverted."""
        return [a.fault.label() for a in self.applied if a.reverted_at is None]

    async def run(self, fault: AnyFault, t0: float) -> None:
        """Inject ``fault`` at ``t0 + at``; revert it when its duration ends."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await asyncio.sleep(max(0.0, t0 + fault.at - self.clock.now()))
            applied = await self.inject(fault)
            end = self.ends_at(applied)
            if end is not None:
                await asyncio.sleep(max(0.0, end - self.clock.now()))
                await self.revert(applied, last_try=False)
        finally:
            if task is not None:
                self._running.discard(task)

    def ends_at(self, applied: AppliedFault) -> float | None:
        """When the drill reverts ``applied`` by itself; None: it stays until teardown."""
        fault = applied.fault
        if isinstance(fault, LoadSurgeFault):
            # the surge ends by itself; its "revert" is the moment users are back to baseline
            return applied.injected_at + 2 * fault.ramp + fault.hold
        if fault.duration is not None:
            return applied.injected_at + fault.duration
        return None

    def observation_end(self) -> float:
        """Recovery is not confirmed before this: a gray release must be watched through its
        steps, and a fault whose effect may be delayed through its `settle` time."""
        ends = [0.0]
        for applied in self.applied:
            fault = applied.fault
            if fault.settle is not None:
                ends.append(applied.injected_at + fault.settle)
            if isinstance(fault, GrayReleaseFault):
                interval = fault.interval or float(applied.plan.detail.get("interval", 5.0))
                ends.append(applied.injected_at + interval * (len(fault.steps) + 1))
        return max(ends)

    async def inject(self, fault: AnyFault) -> AppliedFault:
        """Plan, journal, apply and confirm one fault; a failure leaves it for teardown."""
        driver = self.local if fault.action in LOCAL_FAULTS else self.target
        label = fault.label()
        plan = await asyncio.to_thread(driver.plan, fault)
        plan_id = self.journal.fault_planned(plan)
        started = self.clock.now()
        try:
            with recording_acts() as acts:
                confirmation: dict[str, Any] = dict(await _to_its_end(driver.apply, plan))
            returned = self.clock.now()
            confirmation.update(await asyncio.to_thread(driver.confirm, plan))
        except asyncio.CancelledError:
            # stopped (Ctrl-C, a guardrail) while applying: the apply ran to its end, so the
            # fault may be in force; teardown reverts it like any other
            self.applied.append(AppliedFault(fault, plan, plan_id, started))
            raise
        except Exception as exc:
            # it may be half applied: keep it for teardown's revert
            self.applied.append(AppliedFault(fault, plan, plan_id, started))
            self.timeline.add_event(self.clock.now(), FAULT_FAILED, label, error=str(exc))
            self.journal.record("fault.failed", plan_id=plan_id, fault=label, error=str(exc))
            raise
        done = self.clock.now()
        # the fault struck when the driver acted (signal sent, rule installed), not when it
        # finished confirming: recovery is measured from the strike
        struck, act_s = act_bracket(acts, started, returned)
        applied = AppliedFault(fault, plan, plan_id, struck)
        self.applied.append(applied)
        self.journal.fault_applied(plan_id, confirmation)
        if self.first_injected is None or struck < self.first_injected:
            self.first_injected = struck
        self.on_change(struck)
        self.timeline.add_event(
            struck,
            FAULT_INJECTED,
            label,
            action=fault.action,
            subject=fault.subject(),
            apply_s=round(done - started, 6),
            act_s=round(act_s, 6),
            confirmed_at=done,
            touches=list(plan.touches),
            confirmation=confirmation,
        )
        self._say(
            f"injected {label} ({fault.subject()}) in {(done - started) * 1000:.0f} ms", "yellow"
        )
        self.view.faults_in_force(self.in_force())
        return applied

    async def revert(self, applied: AppliedFault, *, last_try: bool = True) -> None:
        """Undo one fault (once); a failed revert is journaled and stays in force."""
        if applied.reverted_at is not None:
            return
        label = applied.fault.label()
        started = self.clock.now()
        driver = self._driver(applied.plan.driver)
        applied.revert_attempts += 1
        try:
            # to its end even when stopped meanwhile: teardown's revert never races this one
            result: Mapping[str, Any] = await _to_its_end(driver.revert, applied.plan)
        except Exception as exc:
            applied.revert_error = str(exc) or type(exc).__name__
            self._journal_safely(
                self.journal.fault_revert_failed, applied.plan_id, applied.revert_error
            )
            self.timeline.add_event(
                self.clock.now(),
                FAULT_FAILED,
                label,
                error=f"revert failed: {applied.revert_error}",
                attempt=applied.revert_attempts,
            )
            if last_try:
                self._say(
                    f"REVERT FAILED for {label}: {applied.revert_error}; run `gameday recover`",
                    "bold red",
                )
            else:
                self._say(
                    f"revert of {label} failed: {applied.revert_error}; "
                    "retrying once the other faults are reverted",
                    "yellow",
                )
            return
        done = self.clock.now()
        applied.reverted_at = done
        applied.revert_error = None
        self.on_change(done)
        self._journal_safely(self.journal.fault_reverted, applied.plan_id, dict(result))
        self.timeline.add_event(
            done,
            FAULT_REVERTED,
            label,
            action=applied.fault.action,
            revert_s=round(done - started, 6),
        )
        self._say(f"reverted {label}", "cyan")
        self.view.faults_in_force(self.in_force())

    def _journal_safely(self, write: Callable[..., None], *args: Any) -> None:
        """Journal a revert's outcome; a journal that cannot be written must not stop the others.

        The fault stays pending in the journal, so `gameday recover` reverts it again (reverts
        are idempotent): safe, and said on the console.
        """
        try:
            write(*args)
        except JournalError as exc:
            self._say(f"warning: {exc}", "yellow")

    async def revert_all(self, retries: int = REVERT_RETRIES) -> list[Unreverted]:
        """Teardown: everything still applied, newest first; then retry what failed.

        Faults interact (a crash's revert may need the link another fault slowed), so a
        failed revert is tried again once every other fault is gone. Returns what is left.
        """
        # none may start now; one being applied (the drill was stopped meanwhile) is applied
        # to its end first, so it is reverted too, not left behind
        running = [t for t in self._running if t is not asyncio.current_task()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for applied in reversed(self.applied):
            await self.revert(applied, last_try=retries == 0)
        for round_ in range(retries):
            pending = [a for a in reversed(self.applied) if a.reverted_at is None]
            if not pending:
                break
            await asyncio.sleep(RETRY_PAUSE_S)
            for applied in pending:
                await self.revert(applied, last_try=round_ == retries - 1)
        return self.unreverted()

    def unreverted(self) -> list[Unreverted]:
        """Faults still in force, with the last error of their revert."""
        return [
            Unreverted(
                a.fault.label(),
                a.fault.action,
                a.revert_error or "never reverted",
                a.revert_attempts,
            )
            for a in self.applied
            if a.reverted_at is None
        ]
