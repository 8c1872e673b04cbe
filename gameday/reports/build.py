"""Judging a finished drill: its timeline and scenario evaluated into a Report, and again from JSON.

Pure code, no I/O. Evaluation runs on `relative_timeline(timeline)`, exactly the numbers
the report stores, so `recompute_objectives` on the JSON reproduces every result bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..analysis.canon import canon, canon_hops, micro, micro_opt
from ..analysis.milestones import DrillMilestones, derive_milestones
from ..analysis.objectives import (
    ObjectiveResult,
    deviations,
    evaluate_objectives,
    hop_latency,
    overall_verdict,
)
from ..analysis.timeline import (
    FAULT_FAILED,
    FAULT_INJECTED,
    FAULT_REVERTED,
    GUARDRAIL,
    LEDGER,
    MANUAL,
    Clock,
    Event,
    Sample,
    Timeline,
)
from ..analysis.verdict import Verdict
from ..scenarios.deadlines import choose_deadline
from ..scenarios.model import AnyFault, Scenario
from .report import Report
from .sections import FaultRecord, ManualStepRecord, ScenarioInfo, TargetInfo


def _shift_ledger(detail: Mapping[str, Any], start: float) -> dict[str, Any]:
    # the ledger's [seq, t] pairs are monotonic readings like every other time
    out = dict(detail)
    for key in ("acked", "missing", "in_doubt"):
        if isinstance(out.get(key), list | tuple):
            out[key] = [[int(seq), micro(float(t) - start)] for seq, t in out[key]]
    return out


def relative_timeline(timeline: Timeline) -> Timeline:
    """A canonical copy: times relative to the drill start and rounded to µs, details canon.

    Evaluate objectives on this copy: the report stores exactly these numbers, so a
    recomputation from the JSON reproduces every result bit for bit.
    """
    s = timeline.clock.start
    out = Timeline(Clock(0.0, timeline.clock.start_wall), probes=dict(timeline.probes))
    # a 24-hour drill has ~1 M samples: the constructor, not dataclasses.replace, and a
    # flat canon for the hops (float values only) keep this a few seconds
    for name in timeline.samples:
        out.samples[name] = [
            Sample(
                x.probe,
                round(x.t - s, 6),
                x.ok,
                None if x.latency is None else round(x.latency, 6),
                round(x.value, 6) if isinstance(x.value, float) else x.value,
                x.detail,
                round(x.late, 6),
                None if x.hops is None else canon_hops(x.hops),
                x.served_by,
                x.hop_desc,
                None if x.ended is None else round(x.ended, 6),
            )
            for x in timeline.samples[name]
        ]
    for e in timeline.events:
        detail = _shift_ledger(e.detail, s) if e.kind == LEDGER else e.detail
        out.events.append(Event(micro(e.t - s), e.kind, e.name, canon(detail)))
    for w in timeline.traffic:
        out.traffic.append(
            replace(
                w,
                t_mono=micro(w.t_mono - s),
                window=micro(w.window),
                p50_ms=micro_opt(w.p50_ms),
                p95_ms=micro_opt(w.p95_ms),
                p99_ms=micro_opt(w.p99_ms),
                max_ms=micro_opt(w.max_ms),
                served_by=dict(sorted(w.served_by.items())),
            )
        )
    return out


def recompute_objectives(data: Mapping[str, Any]) -> list[ObjectiveResult]:
    """Evaluate the scenario's objectives again from the report JSON alone."""
    report = Report.from_json(data)
    info = report.scenario
    return evaluate_objectives(
        report.timeline(),
        info.objectives_model(),
        stable_for=info.stable_for,
        min_traffic_success=info.min_traffic_success,
        faults=info.fault_models(),
    )


def _fault_records(
    tl: Timeline, faults: Sequence[AnyFault], plans: Mapping[str, Mapping[str, Any]]
) -> list[FaultRecord]:
    out: list[FaultRecord] = []
    for fault in faults:
        name = fault.label()
        inj = tl.first(FAULT_INJECTED, name)
        rev = tl.first(FAULT_REVERTED, name, after=None if inj is None else inj.t)
        failed = tl.first(FAULT_FAILED, name)

        def num(e: Event | None, key: str) -> float | None:
            v = None if e is None else e.detail.get(key)
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

        out.append(
            FaultRecord(
                name=name,
                action=str(getattr(fault, "action", "")),
                spec=fault.model_dump(mode="json"),
                plan=plans.get(name),
                injected_t=None if inj is None else inj.t,
                reverted_t=None if rev is None else rev.t,
                apply_s=num(inj, "apply_s"),
                revert_s=num(rev, "revert_s"),
                confirmation={} if inj is None else dict(inj.detail),
                revert_confirmation={} if rev is None else dict(rev.detail),
                error=None if failed is None else str(failed.detail.get("error", failed.detail)),
            )
        )
    return out


def _manual_records(
    tl: Timeline, scenario: Scenario, t_inj: float | None, end: float
) -> list[ManualStepRecord]:
    """Each step met, missed, or not judged (None): no fault, or the drill ended before its deadline."""
    out: list[ManualStepRecord] = []
    for step in scenario.manual_steps:
        # a {day, night} deadline: the one for the hour the drill started, with why
        chosen = choose_deadline(step.deadline, tl.clock.start_wall, scenario.night)
        done = tl.first(MANUAL, step.name)
        met: bool | None = None
        if t_inj is not None and done is not None:
            met = done.t - t_inj <= chosen.seconds + 1e-9
        elif t_inj is not None and end >= t_inj + chosen.seconds - 1e-9:
            met = False  # its deadline came and went
        by = None if done is None else done.detail.get("by")
        out.append(
            ManualStepRecord(
                name=step.name,
                deadline_s=chosen.seconds,
                deadline_tier=chosen.tier,
                deadline_why=chosen.why,
                description=step.description,
                owner=step.owner,
                optional=step.optional,
                done_t=None if done is None else done.t,
                by=None if by is None else str(by),
                met=met,
            )
        )
    return out


def build_report(
    timeline: Timeline,
    scenario: Scenario,
    *,
    run_id: str,
    target: TargetInfo,
    operator: str,
    ended: float,
    scenario_path: str | None = None,
    scenario_sha256: str | None = None,
    plans: Mapping[str, Mapping[str, Any]] | None = None,
    aborted: str | None = None,
    error: str | None = None,
    budget_warnings: Sequence[str] = (),
    unreverted: Sequence[Mapping[str, Any]] = (),
) -> Report:
    """Evaluate a finished drill and assemble its report (`ended`: monotonic end time).

    Evaluation runs on `relative_timeline(timeline)`, exactly the data the report stores.
    """
    tl = relative_timeline(timeline)
    end = micro(ended - timeline.clock.start)
    stable = scenario.steady_state.stable_for
    mts = scenario.steady_state.min_traffic_success
    ms: DrillMilestones = derive_milestones(tl, stable, mts)
    results = evaluate_objectives(
        tl,
        scenario.objectives,
        stable_for=stable,
        min_traffic_success=mts,
        faults=scenario.faults,
        milestones=ms,
    )
    verdict = Verdict(overall_verdict(results, aborted is not None, error))
    manual = _manual_records(tl, scenario, ms.t_inj, end)
    # a required step whose deadline passed undone fails the drill as a missed objective does
    late = [m.name for m in manual if m.met is False and not m.optional]
    if late and verdict is Verdict.PASSED:
        verdict = Verdict.FAILED
    devs = deviations(results, aborted)
    at = len(devs) - 1 if aborted is not None else len(devs)  # "aborted: …" stays last
    devs[at:at] = [f"manual step {name}: missed its deadline" for name in late]
    if error:
        devs.append(f"error: {error}")
    for r in ms.relapses:
        since = ms.t_inj or 0.0
        devs.append(
            f"relapse: the steady state held from +{r.recovered_at - since:.3f}s to "
            f"+{r.confirmed_at - since:.3f}s, then {r.stream} was impacted again at "
            f"+{r.impact_at - since:.3f}s; recovery is measured after the last impact"
        )
    left = [dict(u) for u in unreverted]
    for u in left:
        devs.append(
            f"fault {u['fault']} was NOT reverted ({u['error']}); the target is still "
            f"damaged: run `{u['recover']}`"
        )
    failed = [r.name for r in results if r.missed]
    unjudged = [r.name for r in results if not r.judged]
    if error:
        error_reason = f"the drill could not run: {error}"
    else:
        error_reason = f"could not judge {', '.join(unjudged)}"
    if left:
        # whatever the objectives said: a drill that leaves damage behind is not a pass
        verdict = Verdict.ERROR
        error_reason = (
            f"{len(left)} fault{'s' if len(left) > 1 else ''} left in force "
            f"({', '.join(u['fault'] for u in left)}); run `{left[0]['recover']}`"
            + (f"; {error_reason}" if error else "")
        )
    reason = {
        Verdict.ERROR: error_reason,
        Verdict.ABORTED: f"aborted: {aborted}",
        Verdict.FAILED: "; ".join(
            (
                [f"{len(failed)} of {len(results)} objectives failed: {', '.join(failed)}"]
                if failed
                else []
            )
            + (
                [f"manual step{'s' if len(late) > 1 else ''} missed: {', '.join(late)}"]
                if late
                else []
            )
        ),
        Verdict.PASSED: f"all {len(results)} objectives met",
    }[verdict]
    ledger = tl.first(LEDGER)
    clock = tl.clock
    return Report(
        run_id=run_id,
        scenario=ScenarioInfo.of(scenario, scenario_path, scenario_sha256),
        target=target,
        operator=operator,
        started=clock.start_wall.isoformat(timespec="microseconds"),
        monotonic_start=timeline.clock.start,
        ended=clock.wall(end).isoformat(timespec="microseconds"),
        duration_s=end,
        verdict=verdict,
        exit_code=verdict.exit_code,
        reason=reason,
        objectives=results,
        milestones=ms.all,
        faults=_fault_records(tl, scenario.faults, plans or {}),
        manual_steps=manual,
        events=sorted(tl.events, key=lambda e: e.t),
        probes=list(tl.probes.values()),
        samples=tl.samples,
        traffic=sorted(tl.traffic, key=lambda w: (w.t_mono, w.name)),
        ledger=None if ledger is None else {"t": ledger.t, **dict(ledger.detail)},
        hops=hop_latency(tl),
        guardrails=[
            {"t": e.t, "name": e.name, **dict(e.detail)} for e in tl.events if e.kind == GUARDRAIL
        ],
        budget_warnings=list(budget_warnings),
        deviations=devs,
        unreverted=left,
    )
