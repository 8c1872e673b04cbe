"""The drill lifecycle: load → preflight → baseline → inject → observe → recover → verify →
teardown → report. Teardown always runs: on success, failure, guardrail abort, Ctrl-C,
SIGTERM and exceptions, everything still applied is reverted in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import secrets
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..reports.model import Report
from ..reports.render import dumps_report
from ..scenarios.model import AnyFault, AnyProbe, GrayReleaseFault, LoadSurgeFault, Scenario
from ..scenarios.references import Resolver, SecretError
from ..scenarios.units import format_duration
from ..targets.base import FaultPlan, Target, TargetError
from .budget import budget_warnings
from .console import DrillView
from .manual import AckInbox, ManualSteps
from .scheduler import MissedTicks, freeze_heap
from .timeline import (
    ALERT,
    FAULT_FAILED,
    FAULT_INJECTED,
    FAULT_REVERTED,
    GUARDRAIL,
    LEDGER,
    MANUAL,
    PHASE,
    TICK_MISSED,
    Clock,
    ProbeInfo,
    Sample,
    Timeline,
)

POLL_S = 0.2
BASELINE_TIMEOUT_FLOOR_S = 60.0


class DrillAborted(Exception):
    """A guardrail or the operator stopped the drill; everything is reverted."""


class InvalidRun(Exception):
    """A user mistake found after loading (unset secret, manual steps in --ci): exit 2."""


@dataclass(frozen=True)
class RunOptions:
    """How to run: CI mode, where reports go, who is running it."""

    ci: bool = False
    report_root: Path = Path("reports")
    operator: str = field(default_factory=lambda: f"{getpass.getuser()}@{socket.gethostname()}")
    install_signal_handlers: bool = True
    sign_key: Path | None = None  # Ed25519 private key: sign the report (in-toto/DSSE)
    approver: str | None = None
    participants: tuple[str, ...] = ()  # "NAME:ROLE"
    findings: Path | None = None


@dataclass
class AppliedFault:
    fault: AnyFault
    plan: FaultPlan
    plan_id: str
    injected_at: float
    reverted_at: float | None = None


@dataclass
class DrillOutcome:
    """What the CLI needs after a run: verdict, exit code, where the report is."""

    verdict: str
    exit_code: int
    reason: str
    run_dir: Path
    report: Report
    written: list[Path] = field(default_factory=list)


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
        self.resolver = Resolver(variables={})
        self.applied: list[AppliedFault] = []
        self.manual = ManualSteps(scenario.manual_steps)
        self.t_inj: float | None = None
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
        self._inbox = AckInbox(self.run_dir)
        self._main_task: asyncio.Task[Any] | None = None

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

    async def run(self) -> DrillOutcome:
        """Run the whole lifecycle; never raises for drill failures, only reports them."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.view.start(f"gameday {self.scenario.name} ({self.run_id})")
        main = self._main_task = asyncio.current_task()
        interrupted: list[str] = []
        if self.options.install_signal_handlers and main is not None:
            loop = asyncio.get_running_loop()

            def on_signal(signame: str) -> None:
                if interrupted:
                    self._say(f"{signame} again: still reverting faults, please wait", "yellow")
                    return
                interrupted.append(signame)
                main.cancel()

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, on_signal, sig.name)
        try:
            await self._preflight()
            await self._baseline()
            await self._inject_and_observe()
            await self._verify()
        except asyncio.CancelledError:
            if self.abort_reason is None:  # a guardrail that cancelled us already said why
                who = interrupted[0] if interrupted else "cancellation"
                self.abort_reason = f"interrupted by {who}"
                self.timeline.add_event(
                    self._now(), GUARDRAIL, "interrupted", reason=self.abort_reason
                )
            self._say(f"aborting: {self.abort_reason}; reverting everything", "bold red")
        except DrillAborted as exc:
            self.abort_reason = str(exc)
            self._say(f"aborted: {exc}; reverting everything", "bold red")
        except InvalidRun:
            raise
        except (TargetError, SecretError) as exc:
            self.error = str(exc)
            self._say(f"error: {exc}", "bold red")
        except Exception as exc:  # the drill itself failed: record it, still tear down
            self.error = f"{type(exc).__name__}: {exc}"
            (self.run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            self._say(f"error: {self.error} (details in {self.run_dir / 'error.log'})", "bold red")
        finally:
            await self._teardown_shielded()
            if self.options.install_signal_handlers:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
        return self._finish()

    async def _teardown_shielded(self) -> None:
        # a second Ctrl-C must not cut the revert short: run teardown in its own task
        task = asyncio.ensure_future(self._teardown())
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        task.result()

    # ------------------------------------------------------------------ preflight

    async def _preflight(self) -> None:
        from ..targets import make_target
        from .journal import Journal
        from .lock import TargetLock
        from .probes import build_probe
        from .receiver import AlertReceiver
        from .scheduler import ProbeScheduler

        self._phase("preflight")
        if self.options.ci:
            required = [s.name for s in self.scenario.manual_steps if not s.optional]
            if required:
                raise InvalidRun(
                    f"--ci runs never prompt, but manual steps {', '.join(required)} are required; "
                    "mark them optional: true or run without --ci"
                )
        self._check_secrets()
        factory = self._target_factory or (lambda s: make_target(s.target))
        self.target = target = factory(self.scenario)
        bind = getattr(target, "bind_run", None)
        if bind is not None:  # drivers that label what they create with the run
            bind(self.run_id, self.scenario.name)
        self._journal = Journal.open(self.run_dir, run_id=self.run_id)
        self._lock = TargetLock.acquire(
            target.spec(),
            self.run_id,
            driver=target.name,
            scenario=self.scenario.name,
            journal=self._journal.path,
        )
        self._journal.drill_started(self.scenario.name, target.name, target.spec())
        await self._blocking(self._start_target)
        if getattr(target, "started", False):
            # recover must also stop a sandbox that a dead runner brought up
            self._journal.target_started(target.name, target.spec())
        services = self._services_used()
        problems = await self._blocking(target.preflight, services)
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
        self.warnings = budget_warnings(self.scenario, timings)
        for warning in self.warnings:
            self._say(f"warning: {warning}", "yellow")

        self._receiver = AlertReceiver(run_id=self.run_id, on_alert=self._on_alert)
        await self._receiver.start()
        await self._blocking(target.set_alert_receiver, self._receiver.url)

        self._tracker = self._new_tracker(after=None)
        probes = []
        for model, role in self._probe_models():
            rendered = self._render_model(model)
            self.timeline.add_probe(ProbeInfo(model.name, model.type, model.every, role))
            probe = build_probe(rendered, run_id=self.run_id, receiver=self._receiver)
            if model.type == "ledger":
                self._ledgers.append(probe)
            probes.append(probe)
        self._scheduler = ProbeScheduler(
            probes, on_sample=self._on_sample, on_missed=self._on_missed
        )
        if self.scenario.traffic is not None:
            self._start_traffic()

    def _new_tracker(self, after: float | None) -> Any:
        """A steady-state tracker judging samples from `after` on (None: everything)."""
        from .milestones import SteadyTracker

        steady = self.scenario.steady_state
        return SteadyTracker(
            [p.name for p in steady.probes],
            steady.stable_for,
            min_traffic_success=steady.min_traffic_success,
            after=after,
        )

    def _check_secrets(self) -> None:
        """Resolve every ${env:}/${file:} once before anything runs, so a typo fails fast."""
        from ..scenarios.references import SECRET

        probe = Resolver(variables={}, base_dir=self.scenario_path.parent)
        text = self.scenario.model_dump_json()
        for match in SECRET.finditer(text):
            try:
                probe.render(match.group(0))
            except SecretError as exc:
                raise InvalidRun(f"secret reference {match.group(0)}: {exc}") from None

    def _start_target(self) -> None:
        assert self.target is not None
        ensure = getattr(self.target, "ensure_running", None)
        if ensure is not None:
            self._say(f"starting target {self.target.name} if needed")
            ensure()

    def _services_used(self) -> set[str]:
        services: set[str] = set()
        for fault in self.scenario.faults:
            service = getattr(fault, "service", None)
            if service and fault.action not in {"gray-release", "load-surge", "command"}:
                services.add(service)
            for group in getattr(fault, "between", []) or []:
                services.update(group)
        return services

    def _probe_models(self) -> list[tuple[AnyProbe, Any]]:
        steady: list[tuple[AnyProbe, Any]] = [
            (p, "steady") for p in self.scenario.steady_state.probes
        ]
        return steady + [(p, "evidence") for p in self.scenario.evidence]

    def _render_model(self, model: AnyProbe) -> AnyProbe:
        """Fill variables and secrets into every string field of a probe."""

        def render(value: Any) -> Any:
            if isinstance(value, str):
                return self.resolver.render(value)
            if isinstance(value, list):
                return [render(v) for v in value]
            if isinstance(value, dict):
                return {k: render(v) for k, v in value.items()}
            return value

        data = {name: render(getattr(model, name)) for name in type(model).model_fields}
        return type(model).model_construct(**data)

    def _start_traffic(self) -> None:
        from ..traffic.profiles import BUILTIN_PROFILES
        from ..traffic.runner import TrafficConfig, TrafficRun

        traffic = self.scenario.traffic
        assert traffic is not None
        if traffic.locustfile:
            locustfile = (self.scenario_path.parent / traffic.locustfile).resolve()
        else:
            locustfile = BUILTIN_PROFILES[traffic.profile or "payments"]
        config = TrafficConfig(
            host=self.resolver.render(traffic.host),
            users=traffic.users,
            spawn_rate=traffic.spawn_rate,
            max_duration_s=self.scenario.guardrails.max_duration + 60,
            max_requests=traffic.max_requests,
            locustfile=locustfile,
            workers=traffic.workers,
        )
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
        guard = self.scenario.guardrails
        below_since: float | None = None
        self._stdin_reader()
        while not self._stop.is_set():
            now = self._now()
            latest = None
            if self._traffic is not None:
                for window in self._traffic.read_new():
                    self.timeline.add_traffic(window)
                    self._tracker.feed_traffic(window)
                    if window.name == "*":
                        latest = window
            for ack in self._inbox.read_new():
                self._ack(ack.step, ack.by)
            if latest is not None and guard.min_availability is not None and self.t_baseline_end:
                rate = latest.ok / latest.count if latest.count else 0.0
                if rate < guard.min_availability.floor:
                    below_since = below_since or now
                    if now - below_since >= guard.min_availability.for_:
                        self._trip(
                            f"user availability below {guard.min_availability.floor:.1%} "
                            f"for {format_duration(guard.min_availability.for_)}"
                        )
                else:
                    below_since = None
            if self.clock.elapsed(now) > guard.max_duration:
                self._trip(f"max_duration {format_duration(guard.max_duration)} reached")
            self._update_steps(now)
            self.view.tick(self.clock.elapsed(now), latest.__dict__ if latest is not None else None)
            await asyncio.sleep(POLL_S)

    def _trip(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
            self.timeline.add_event(self._now(), GUARDRAIL, "tripped", reason=reason)
            main = self._main_task
            if main is not None:
                main.cancel()

    def _stdin_reader(self) -> None:
        """Let the operator type a step's number (or name) + Enter to mark it done."""
        if self.options.ci or not self.scenario.manual_steps or not sys.stdin.isatty():
            return
        loop = asyncio.get_running_loop()

        def on_line(text: str) -> None:
            name = self.manual.by_number(int(text)) if text.isdigit() else text
            if name:
                self._ack(name, getpass.getuser())

        def read() -> None:
            # a daemon thread: a blocked readline must never hold the process open at exit
            for line in sys.stdin:
                if self._stop.is_set():
                    return
                loop.call_soon_threadsafe(on_line, line.strip())

        threading.Thread(target=read, name="manual-steps", daemon=True).start()

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
                (s.step.name, s.step.owner or "operator", start + s.step.deadline - now)
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
        fault_tasks = [asyncio.ensure_future(self._run_fault(f, t0)) for f in self.scenario.faults]
        self._tasks.extend(fault_tasks)
        objectives = self.scenario.objectives
        stable = self.scenario.steady_state.stable_for
        first_at = min(f.at for f in self.scenario.faults)
        deadline_span = (
            objectives.recovery_time if objectives.recovery_time is not None else 15 * 60.0
        )
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
                recovered = now >= self._min_observation_end() and self._tracker.holds()
                waiting = self.manual.waiting_for(
                    now, self.t_inj, include_optional=not self.options.ci
                )
                if recovered and not waiting:
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

    def _min_observation_end(self) -> float:
        """A gray release must be watched through its steps, whatever the probes say."""
        ends = [0.0]
        for applied in self.applied:
            fault = applied.fault
            if isinstance(fault, GrayReleaseFault):
                interval = fault.interval or float(applied.plan.detail.get("interval", 5.0))
                ends.append(applied.injected_at + interval * (len(fault.steps) + 1))
        return max(ends)

    async def _run_fault(self, fault: AnyFault, t0: float) -> None:
        await asyncio.sleep(max(0.0, t0 + fault.at - self._now()))
        applied = await self._inject(fault)
        if applied is None:
            return
        end = self._fault_end(fault, applied)
        if end is not None:
            await asyncio.sleep(max(0.0, end - self._now()))
            await self._revert(applied)

    def _fault_end(self, fault: AnyFault, applied: AppliedFault) -> float | None:
        if isinstance(fault, LoadSurgeFault):
            # the surge ends by itself; its "revert" is the moment users are back to baseline
            return applied.injected_at + 2 * fault.ramp + fault.hold
        if fault.duration is not None:
            return applied.injected_at + fault.duration
        return None

    async def _inject(self, fault: AnyFault) -> AppliedFault | None:
        assert self.target is not None
        label = fault.label()
        if isinstance(fault, LoadSurgeFault):
            plan = FaultPlan(
                label,
                fault.action,
                "traffic",
                {},
                {"users": self.scenario.traffic.users if self.scenario.traffic else 0},
            )
        else:
            plan = await self._blocking(self.target.plan, fault)
        plan_id = self._journal.fault_planned(plan)
        started = self._now()
        try:
            if isinstance(fault, LoadSurgeFault):
                assert self._traffic is not None
                self._traffic.surge(fault.multiply, fault.ramp, fault.hold, start_at=started)
                confirmation: Mapping[str, Any] = {"multiply": fault.multiply}
            else:
                confirmation = await self._blocking(self.target.apply, plan)
        except Exception as exc:
            # it may be half applied: keep it for teardown's revert
            self.applied.append(AppliedFault(fault, plan, plan_id, started))
            self.timeline.add_event(self._now(), FAULT_FAILED, label, error=str(exc))
            self._journal.record("fault.failed", plan_id=plan_id, fault=label, error=str(exc))
            raise
        done = self._now()
        applied = AppliedFault(fault, plan, plan_id, done)
        self.applied.append(applied)
        self._journal.fault_applied(plan_id, dict(confirmation))
        if self.t_inj is None:
            self.t_inj = done
        # recovery is judged on what happens after the latest change to the system
        self._tracker = self._new_tracker(after=done)
        self.timeline.add_event(
            done,
            FAULT_INJECTED,
            label,
            action=fault.action,
            subject=fault.subject(),
            apply_s=round(done - started, 6),
            touches=list(plan.touches),
            confirmation=dict(confirmation),
        )
        self._say(
            f"injected {label} ({fault.subject()}) in {(done - started) * 1000:.0f} ms", "yellow"
        )
        self.view.faults_in_force([a.fault.label() for a in self.applied if a.reverted_at is None])
        return applied

    async def _revert(self, applied: AppliedFault) -> None:
        if applied.reverted_at is not None:
            return
        assert self.target is not None
        label = applied.fault.label()
        started = self._now()
        try:
            if applied.plan.driver == "traffic":
                if self._traffic is not None and self._traffic.running():
                    users = int(applied.plan.undo.get("users", 0))
                    spawn = self.scenario.traffic.spawn_rate if self.scenario.traffic else 10.0
                    self._traffic.set_users(users, spawn)
                result: Mapping[str, Any] = {}
            else:
                result = await self._blocking(self.target.revert, applied.plan)
        except Exception as exc:
            self._journal.fault_revert_failed(applied.plan_id, str(exc))
            self.timeline.add_event(self._now(), FAULT_FAILED, label, error=f"revert failed: {exc}")
            self._say(f"REVERT FAILED for {label}: {exc}; run `gameday recover`", "bold red")
            return
        done = self._now()
        applied.reverted_at = done
        self._tracker = self._new_tracker(after=done)
        self._journal.fault_reverted(applied.plan_id, dict(result))
        self.timeline.add_event(
            done,
            FAULT_REVERTED,
            label,
            action=applied.fault.action,
            revert_s=round(done - started, 6),
        )
        self._say(f"reverted {label}", "cyan")
        self.view.faults_in_force([a.fault.label() for a in self.applied if a.reverted_at is None])

    # ------------------------------------------------------------------ verify / teardown

    async def _verify(self) -> None:
        self._phase("verify")
        for ledger in self._ledgers:
            result = await ledger.verify()
            unreadable = {} if result.error is None else {"error": result.error}
            self.timeline.add_event(
                self._now(),
                LEDGER,
                ledger.name,
                acked=[[seq, t] for seq, t in result.acked],
                missing=[[seq, t] for seq, t in result.missing],
                unacked_present=result.unacked_present,
                **unreadable,
            )
            if result.error is not None:
                self._say(
                    f"ledger {ledger.name}: {len(result.acked)} acknowledged writes, "
                    f"could not be read back ({result.attempts} attempts): {result.error}",
                    "red",
                )
                continue
            lost = len(result.missing)
            self._say(
                f"ledger {ledger.name}: {len(result.acked)} acknowledged writes, {lost} missing",
                "red" if lost else "green",
            )

    async def _teardown(self) -> None:
        self.timeline.add_event(self._now(), PHASE, "teardown")
        self.view.phase("teardown", self._elapsed())
        for applied in reversed(self.applied):
            await self._revert(applied)
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
        if self.target is not None:
            with contextlib.suppress(Exception):
                await self._blocking(self.target.set_alert_receiver, None)
        if self._receiver is not None:
            await self._receiver.stop()
        if self.target is not None:
            with contextlib.suppress(Exception):
                await self._blocking(self.target.close)
                if getattr(self.target, "started", False) and self._journal is not None:
                    self._journal.target_stopped(self.target.name, self.target.spec())
        if self._journal is not None:
            unreverted = [a.fault.label() for a in self.applied if a.reverted_at is None]
            self._journal.record("drill.finished", unreverted=unreverted)
            self._journal.close(clean=not unreverted)
        if self._lock is not None:
            self._lock.release()
        self.view.faults_in_force([])

    # ------------------------------------------------------------------ report

    def _finish(self) -> DrillOutcome:
        from ..reports.audit import apply_audit
        from ..reports.model import TargetInfo, build_report
        from ..reports.render import write_renderings

        self.view.stop()
        spec = self.target.spec() if self.target is not None else {}
        raw = self.scenario_path.read_bytes() if self.scenario_path.is_file() else b""
        report = build_report(
            self.timeline,
            self.scenario,
            run_id=self.run_id,
            target=TargetInfo(self.scenario.target.type, spec),
            operator=self.options.operator,
            ended=self._now(),
            scenario_path=str(self.scenario_path),
            scenario_sha256=hashlib.sha256(raw).hexdigest(),
            plans={a.fault.label(): a.plan.to_json() for a in self.applied},
            aborted=self.abort_reason,
            error=self.error,
            budget_warnings=self.warnings,
        )
        o = self.options
        report = apply_audit(
            report, approver=o.approver, participants=o.participants, findings=o.findings
        )
        # redact last, over the finished text: no path through the report can leak a secret
        text = self.resolver.redact(dumps_report(report.to_json()))
        (self.run_dir / "report.json").write_text(text, encoding="utf-8")
        formats = {"html", "junit", "markdown"} if o.ci else {"html"}
        written = write_renderings(report, self.run_dir, formats=formats, sign_key=o.sign_key)
        return DrillOutcome(
            report.verdict, report.exit_code, report.reason, self.run_dir, report, written
        )


def run_drill(
    scenario: Scenario, scenario_path: Path, options: RunOptions, view: DrillView
) -> DrillOutcome:
    """Run one drill to completion in a fresh event loop."""
    return asyncio.run(Drill(scenario, scenario_path, options, view).run())
