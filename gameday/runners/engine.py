"""The drill lifecycle: load → preflight → baseline → inject → observe → recover → verify →
teardown → report. Teardown always runs: on success, failure, guardrail abort, Ctrl-C,
SIGTERM and exceptions, everything still applied is reverted in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..analysis.budget import budget_warnings
from ..analysis.objectives import escalation_pending, release_settled
from ..analysis.timeline import (
    ALERT,
    GUARDRAIL,
    MANUAL,
    PHASE,
    TICK_MISSED,
    Clock,
    Sample,
    Timeline,
)
from ..scenarios.model import Scenario
from ..scenarios.references import Resolver, SecretError
from ..scenarios.units import format_duration
from ..targets.base import Target, TargetError
from ..targets.local import LocalDriver
from ..targets.registry import make_target
from .console import DrillView
from .faults import FaultRunner, Unreverted
from .guardrails import GuardrailWatch, TrafficWatch
from .interrupts import cancel_on_stop_signals
from .journal import JournalError
from .live_record import LiveRecord
from .lock import TargetLocked
from .manual import AckInbox, ManualSteps, acknowledge_from_terminal
from .preflight import refuse_unknown_services
from .preparation import build_probes, refusals, steady_tracker, traffic_config
from .record import DrillRecord, InvalidRun, RunOptions
from .scheduler import MissedTicks, freeze_heap
from .status import drill_status
from .verification import verify_ledgers

POLL_S = 0.2
BASELINE_TIMEOUT_FLOOR_S = 60.0


class DrillAborted(Exception):
    """A guardrail or the operator stopped the drill; everything is reverted."""


def _run_id(name: str, started: datetime) -> str:
    return f"{name}-{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


class Drill:
    """One run of one scenario against its target."""

    def __init__(
        self,
        scenario: Scenario,
        scenario_path: Path,
        options: RunOptions,
        view: DrillView,
        target_factory: Callable[[Scenario], Target] | None = None,
    ) -> None:
        self.scenario = scenario
        self.scenario_path = scenario_path
        self.options = options
        self.view = view
        self._target_factory = target_factory
        self.clock = Clock.start_now()
        self.timeline = Timeline(self.clock)
        self.run_id = _run_id(scenario.name, self.clock.start_wall)
        self.run_dir = (options.report_root / self.run_id).resolve()
        self.target: Target | None = None
        self.faults: FaultRunner | None = None
        self.resolver = Resolver(variables={})
        self.manual = ManualSteps(scenario.manual_steps, self.clock.start_wall, scenario.night)
        self.t_baseline_end: float | None = None
        self.abort_reason: str | None = None
        self.error: str | None = None
        self.warnings: list[str] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop = asyncio.Event()
        # set in preflight
        self._journal: Any = None
        self._lock: Any = None
        self._receiver: Any = None
        self._scheduler: Any = None
        self._traffic: Any = None
        self._ledgers: list[Any] = []
        self._tracker: Any = None
        self._inbox = AckInbox(self.run_dir, self.manual)  # publishes the steps for `ack`
        self._main_task: asyncio.Task[Any] | None = None
        self._recovered = False
        self._unreverted: list[Unreverted] = []

    # ------------------------------------------------------------------ helpers

    def _now(self) -> float:
        return self.clock.now()

    def _elapsed(self) -> float:
        return self.clock.elapsed(self._now())

    def _phase(self, name: str) -> None:
        self.timeline.add_event(self._now(), PHASE, name)
        self.view.phase(name, self._elapsed())

    def _say(self, text: str, style: str = "") -> None:
        self.view.line(text, self._elapsed(), style)

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking driver call off the event loop so probes keep their schedule."""
        return await asyncio.to_thread(fn, *args)

    # ------------------------------------------------------------------ lifecycle

    @property
    def t_inj(self) -> float | None:
        """When the first fault was injected (None before)."""
        return self.faults.first_injected if self.faults is not None else None

    async def run(self) -> DrillRecord:
        """Run the whole lifecycle; never raises for drill failures, only reports them."""
        # checks the report directory (exit 2 before anything runs), then records as it goes
        self._live = LiveRecord.start(self, redact=lambda text: self.resolver.redact(text))
        self.view.start(f"gameday {self.scenario.name} ({self.run_id})")
        main = self._main_task = asyncio.current_task()
        enabled = self.options.install_signal_handlers
        with cancel_on_stop_signals(main, enabled, self._signalled_again) as got:
            try:
                await self._preflight()
                await self._baseline()
                await self._inject_and_observe()
                await self._verify()
            except asyncio.CancelledError:
                if self.abort_reason is None:  # a guardrail that cancelled us already said why
                    self.abort_reason = f"interrupted by {got[0] if got else 'cancellation'}"
                    self.timeline.add_event(
                        self._now(), GUARDRAIL, "interrupted", reason=self.abort_reason
                    )
                self._say(f"aborting: {self.abort_reason}; reverting everything", "bold red")
            except DrillAborted as exc:
                self.abort_reason = str(exc)
                self._say(f"aborted: {exc}; reverting everything", "bold red")
            except InvalidRun:
                raise
            except (TargetError, SecretError, TargetLocked, JournalError) as exc:  # one line
                self.error = str(exc)
                self._say(f"error: {exc}", "bold red")
            except Exception as exc:  # the drill itself failed: record it, still tear down
                self.error = f"{type(exc).__name__}: {exc}"
                log = self.run_dir / "error.log"
                with contextlib.suppress(OSError):  # a full disk must not cost the revert
                    log.write_text(traceback.format_exc(), encoding="utf-8")
                self._say(f"error: {self.error} (details in {log})", "bold red")
            finally:
                await self._teardown_shielded()
        return self._record()

    def _signalled_again(self, name: str) -> None:
        self._say(f"{name} again: still reverting faults, please wait", "yellow")

    async def _teardown_shielded(self) -> None:
        # a second Ctrl-C must not cut the revert short: run teardown in its own task
        task = asyncio.ensure_future(self._teardown())
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:  # measured to the end: the verdict stands
                self._say("stop received while reverting: the revert finishes first", "yellow")
        task.result()

    # ------------------------------------------------------------------ preflight

    async def _preflight(self) -> None:
        from .journal import Journal
        from .lock import TargetLock
        from .receiver import AlertReceiver
        from .scheduler import ProbeScheduler

        self._phase("preflight")
        refused = refusals(self.scenario, self.scenario_path, self.options.ci)
        if refused:  # a typo'd secret or an unanswerable step fails fast
            raise InvalidRun(refused[0])
        factory = self._target_factory or (lambda s: make_target(s.target))
        self.target = target = factory(self.scenario)
        target.bind_run(self.run_id, self.scenario.name)
        self._journal = Journal.open(self.run_dir, run_id=self.run_id)
        self._lock = TargetLock.acquire(
            target.name,
            target.spec(),
            self.run_id,
            scenario=self.scenario.name,
            journal=self._journal.path,
        )
        self._journal.drill_started(self.scenario.name, target.name, target.spec())
        # journaled first: recover must also stop a sandbox a dead runner was bringing up
        self._journal.target_starting(target.name, target.spec())
        await self._blocking(self._start_target)
        self._journal.target_ready(target.name, target.spec(), started=target.started)
        services = self._services_used()
        problems = await self._blocking(target.preflight, services)
        refuse_unknown_services(problems, self.scenario, self.scenario_path)  # exit 2
        if problems:
            raise DrillAborted("preflight failed: " + "; ".join(problems))
        variables = {f"target.{k}": v for k, v in (await self._blocking(target.variables)).items()}
        variables.update({f"vars.{k}": v for k, v in self.scenario.vars.items()})
        variables.update(
            {
                "drill.run_id": self.run_id,
                "drill.name": self.scenario.name,
                "drill.report_dir": str(self.run_dir),
            }
        )
        self.resolver = Resolver(variables=variables, base_dir=self.scenario_path.parent)
        # values the target itself considers secret (e.g. the sandbox's database password)
        self.resolver.secrets.update(v for v in await self._blocking(target.secrets) if v)
        timings = await self._blocking(target.timings)
        takeover = self._lock.takeover_warning()
        self.warnings = [takeover] if takeover else []
        self.warnings += budget_warnings(self.scenario, timings)
        for warning in self.warnings:
            self._say(f"warning: {warning}", "yellow")

        self._receiver = AlertReceiver(run_id=self.run_id, on_alert=self._on_alert)
        await self._receiver.start()
        await self._blocking(target.set_alert_receiver, self._receiver.url)

        self._tracker = steady_tracker(self.scenario, after=None)
        probes = build_probes(
            self.scenario, self.resolver, self.timeline, self.run_id, self._receiver
        )
        self._ledgers = [p for p in probes if p.type == "ledger"]
        self._scheduler = ProbeScheduler(
            probes, on_sample=self._on_sample, on_missed=self._on_missed
        )
        if self.scenario.traffic is not None:
            self._start_traffic()
        traffic = self.scenario.traffic
        local = LocalDriver(
            self._traffic,
            users=traffic.users if traffic else 0,
            spawn_rate=traffic.spawn_rate if traffic else 10.0,
            resolver=self.resolver,
        )
        self.faults = FaultRunner(
            target, local, self._journal, self.timeline, self.clock, self.view, self._changed
        )

    def _changed(self, t: float) -> None:
        # recovery is judged on what happens after the latest change to the system
        self._tracker = steady_tracker(self.scenario, after=t)

    def _start_target(self) -> None:
        assert self.target is not None
        if self.target.ensure_running():
            self._say(f"started target {self.target.name}")

    def _services_used(self) -> set[str]:
        return {s for fault in self.scenario.faults for s in fault.target_services()}

    def _start_traffic(self) -> None:
        from ..traffic.runner import TrafficRun

        config = traffic_config(self.scenario, self.scenario_path, self.resolver)
        self._traffic = TrafficRun(config, self.run_dir)

    # ------------------------------------------------------------------ observation callbacks

    def _on_sample(self, sample: Sample) -> None:
        self.timeline.add_sample(sample)
        self._tracker.feed(sample)
        self.view.sample(sample)

    def _on_missed(self, missed: MissedTicks) -> None:
        self.timeline.add_event(
            missed.t,
            TICK_MISSED,
            missed.probe,
            count=missed.count,
            first=missed.first,
            reason=missed.reason,
        )

    def _on_alert(self, alert: Any) -> None:
        labels = dict(getattr(alert, "labels", {}) or {})
        status = getattr(alert, "status", "firing")
        name = labels.get("alertname", "alert")
        self.timeline.add_event(
            getattr(alert, "t", self._now()), ALERT, name, status=status, labels=labels
        )
        self._say(f"alert {status}: {name} {labels.get('severity', '')}".rstrip(), "magenta")

    async def _pump(self) -> None:
        """Collect traffic windows and acknowledgements; enforce guardrails. Runs all drill long."""
        guard = GuardrailWatch(self.scenario.guardrails, self._lock)
        traffic_watch = TrafficWatch(self._traffic, self.timeline) if self._traffic else None
        if not self.options.ci and self.scenario.manual_steps:
            acknowledge_from_terminal(self.manual, self._ack, self._stop.is_set, self._say)
        while not self._stop.is_set():
            now = self._now()
            latest = None
            if self._traffic is not None:
                for window in self._traffic.read_new():
                    self.timeline.add_traffic(window)
                    self._tracker.feed_traffic(window)
                    if window.name == "*":
                        latest = window
            if traffic_watch is not None and traffic_watch.lost(now, self.t_baseline_end):
                self._say(
                    f"traffic stopped ({traffic_watch.reason}): what it measures cannot be judged",
                    "red",
                )
            for ack in self._inbox.read_new():
                self._ack(ack.step, ack.by)
            reason = guard.check(
                now, self.clock.elapsed(now), latest, self.t_baseline_end is not None
            )
            if reason is not None:
                self._trip(reason)
            self.view.status(drill_status(self, now, latest))
            await asyncio.sleep(POLL_S)

    def _trip(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
            self.timeline.add_event(self._now(), GUARDRAIL, "tripped", reason=reason)
            main = self._main_task
            if main is not None:
                main.cancel()

    def _ack(self, step: str, by: str) -> None:
        state = self.manual.acknowledge(step, by, self._now())
        if state is None:
            return
        self.timeline.add_event(state.done_at or self._now(), MANUAL, step, by=by)
        self._say(f"manual step {step} done by {by}", "green")
        self._update_steps(self._now())

    def _update_steps(self, now: float) -> None:
        start = self.t_inj if self.t_inj is not None else now
        self.view.pending_steps(
            [
                (s.step.name, s.step.owner or "operator", start + s.deadline_s - now)
                for s in self.manual.pending()
            ]
        )

    # ------------------------------------------------------------------ baseline

    async def _baseline(self) -> None:
        self._phase("baseline")
        freeze_heap()
        await self._scheduler.start()
        if self._traffic is not None:
            await self._blocking(self._traffic.start)
            for role, pid in self._traffic.pids().items():
                self._journal.process_started(pid, f"locust-{role}", group=True)
        self._tasks.append(asyncio.ensure_future(self._pump()))
        stable = self.scenario.steady_state.stable_for
        give_up = self._now() + max(BASELINE_TIMEOUT_FLOOR_S, 6 * stable)
        while not self._tracker.holds():
            now = self._now()
            if now > give_up:
                raise DrillAborted(
                    f"steady state did not hold for {format_duration(stable)} before any fault "
                    f"(waited {format_duration(now - (give_up - max(BASELINE_TIMEOUT_FLOOR_S, 6 * stable)))}); "
                    "the target is not healthy enough to drill"
                    + (f" ({hint})" if (hint := self._lock.takeover_warning()) else "")
                )
            await asyncio.sleep(POLL_S)
        self.t_baseline_end = self._now()
        self._say(
            f"steady state held for {format_duration(stable)}; injecting on schedule", "green"
        )

    # ------------------------------------------------------------------ inject / observe / recover

    async def _inject_and_observe(self) -> None:
        assert self.t_baseline_end is not None
        self._phase("inject")
        t0 = self.t_baseline_end
        faults = self.faults
        assert faults is not None
        fault_tasks = [asyncio.ensure_future(faults.run(f, t0)) for f in self.scenario.faults]
        self._tasks.extend(fault_tasks)
        objectives = self.scenario.objectives
        stable = self.scenario.steady_state.stable_for
        first_at = min(f.at for f in self.scenario.faults)
        spans = (objectives.recovery_time, objectives.rollback_time, objectives.escalation_time)
        limits = [t for t in spans if t]
        deadline_span = max(limits, default=15 * 60.0)
        deadline = t0 + first_at + deadline_span + stable
        observing = False
        while True:
            now = self._now()
            if not observing and self.t_inj is not None:
                observing = True
                self._phase("observe")
            for task in fault_tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            faults_done = all(t.done() for t in fault_tasks)
            if faults_done and self.t_inj is not None:
                # a gray release is judged on how it ended: wait until it did
                recovered = (
                    now >= faults.observation_end()
                    and self._tracker.holds()
                    and release_settled(self.timeline, self.scenario.faults)
                )
                waiting = self.manual.waiting_for(
                    now, self.t_inj, include_optional=not self.options.ci
                ) or escalation_pending(self.timeline, objectives.escalation_time, now)
                if recovered and not waiting:
                    self._recovered = True
                    self._say("steady state holds again; recovery confirmed", "green")
                    break
            if now > deadline and not self.manual.waiting_for(now, self.t_inj, not self.options.ci):
                self._say(
                    f"recovery deadline passed ({format_duration(deadline_span)} after the first fault); stopping",
                    "red",
                )
                break
            await asyncio.sleep(POLL_S)
        self._phase("recover")
        for task in fault_tasks:
            task.cancel()

    # ------------------------------------------------------------------ verify / teardown

    async def _verify(self) -> None:
        self._phase("verify")
        if self._ledgers:
            if not self._recovered and self.faults is not None and self.faults.in_force():
                # a database still down cannot be read back: undo the faults first, so
                # data loss is known even when recovery failed
                self._say("recovery not confirmed: reverting faults before the read-back", "yellow")
                self._unreverted = await self.faults.revert_all()
            # the read-back compares a closed set: no write may be acknowledged during it
            await self._scheduler.retire([ledger.name for ledger in self._ledgers])
        await verify_ledgers(self._ledgers, self.timeline, self.clock, self._say)

    async def _teardown(self) -> None:
        self.timeline.add_event(self._now(), PHASE, "teardown")
        self.view.phase("teardown", self._elapsed())
        if self.faults is not None:
            self._unreverted = await self.faults.revert_all()
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # a final read: windows that arrived while we were reverting still count
        if self._traffic is not None:
            with contextlib.suppress(Exception):
                for window in self._traffic.read_new():
                    self.timeline.add_traffic(window)
            await self._blocking(self._traffic.stop)
        if self._scheduler is not None:
            await self._scheduler.stop()
        if self.target is not None and self._receiver is not None:
            # only a run that attached the receiver detaches it: a refused run never did
            with contextlib.suppress(Exception):
                await self._blocking(self.target.set_alert_receiver, None)
        if self._receiver is not None:
            await self._receiver.stop()
        if self.target is not None:
            with contextlib.suppress(Exception):
                await self._blocking(self.target.close)
                if self.target.started and self._journal is not None:
                    self._journal.target_stopped(self.target.name, self.target.spec())
        if self._journal is not None:
            unreverted = [u.fault for u in self._unreverted]
            try:
                self._journal.record("drill.finished", unreverted=unreverted)
            except JournalError as exc:  # a full disk: the lock must still be released
                self.error = self.error or str(exc)
            self._journal.close(clean=not unreverted)
        if self._lock is not None:
            self._lock.release()
        self.view.faults_in_force([])

    # ------------------------------------------------------------------ report

    def _record(self) -> DrillRecord:
        self.view.stop()
        self._live.flush()
        self.error = self.error or self._live.failed
        path = self.scenario_path
        raw = path.read_bytes() if path.is_file() else b""
        applied = self.faults.applied if self.faults is not None else []
        record = DrillRecord(
            scenario=self.scenario,
            scenario_path=path,
            scenario_sha256=hashlib.sha256(raw).hexdigest(),
            run_id=self.run_id,
            run_dir=self.run_dir,
            timeline=self.timeline,
            target_type=self.scenario.target.type,
            target_spec=self.target.spec() if self.target is not None else {},
            operator=self.options.operator,
            ended=self._now(),
            plans={a.fault.label(): a.plan.to_json() for a in applied},
            aborted=self.abort_reason,
            error=self.error,
            budget_warnings=self.warnings,
            redact=self.resolver.redact,
            options=self.options,
            unreverted=[
                {**u.to_json(), "recover": self._recover_command()} for u in self._unreverted
            ],
        )
        self._live.finish(record)
        return record

    def _recover_command(self) -> str:
        journal = self._journal.path if self._journal is not None else self.run_dir
        return f"gameday recover --journal {journal}"


def run_drill(
    scenario: Scenario, scenario_path: Path, options: RunOptions, view: DrillView
) -> DrillRecord:
    """Run one drill to completion in a fresh event loop; publishing it is the reports' job."""
    return asyncio.run(Drill(scenario, scenario_path, options, view).run())


__all__ = ["Drill", "DrillAborted", "InvalidRun", "RunOptions", "run_drill"]
