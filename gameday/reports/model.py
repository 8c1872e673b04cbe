"""The canonical JSON report (schema `gameday.report/v1`) every other rendering starts from.

Pure code, no I/O. Times are monotonic seconds relative to the drill start (`t`), rounded
to the microsecond; events also carry their UTC wall time. The report holds every raw
sample, event and traffic window, plus the scenario's objectives, so every objective can
be recomputed from the JSON alone (`recompute_objectives`) and gives identical numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from pydantic import TypeAdapter

from .. import __version__
from ..runners.milestones import DrillMilestones, Milestone, derive_milestones
from ..runners.objectives import (
    HopResult,
    HopStats,
    ObjectiveResult,
    Unit,
    deviations,
    evaluate_objectives,
    exit_code,
    hop_latency,
    overall_verdict,
)
from ..runners.timeline import (
    FAULT_FAILED,
    FAULT_INJECTED,
    FAULT_REVERTED,
    GUARDRAIL,
    LEDGER,
    MANUAL,
    Clock,
    Event,
    ProbeInfo,
    Sample,
    Timeline,
)
from ..scenarios.model import AnyFault, Fault, Objectives, Scenario
from ..traffic.stats import TrafficWindow, hist_from_json, hist_to_json

SCHEMA_VERSION = "gameday.report/v1"
_FAULTS: TypeAdapter[AnyFault] = TypeAdapter(Fault)
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|credential|private", re.I)
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


# --------------------------------------------------------------------------- canonical values


def _r(x: float) -> float:
    return round(x, 6)


def canon(value: Any) -> Any:
    """JSON-ready copy: mappings with sorted string keys, tuples as lists, floats to µs."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return _r(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): canon(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [canon(v) for v in items]
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return str(value)


def redact(value: Any) -> Any:
    """Copy of a target spec with secrets blanked: secret-looking keys and DSN passwords."""
    if isinstance(value, Mapping):
        return {
            str(k): "***" if _SECRET_KEY.search(str(k)) and v else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _DSN_PASSWORD.sub(r"\1***@", value)
    return value


def _opt(x: float | None) -> float | None:
    return None if x is None else _r(x)


def _shift_ledger(detail: Mapping[str, Any], start: float) -> dict[str, Any]:
    # the ledger's [seq, t] pairs are monotonic readings like every other time
    out = dict(detail)
    for key in ("acked", "missing"):
        if isinstance(out.get(key), list | tuple):
            out[key] = [[int(seq), _r(float(t) - start)] for seq, t in out[key]]
    return out


def _canon_hops(hops: Mapping[str, Any]) -> Any:
    """`canon` of a hops mapping in one flat pass when, as usual, its values are all floats."""
    if all(type(k) is str and type(v) is float for k, v in hops.items()):
        return {k: round(v, 6) if math.isfinite(v) else None for k, v in sorted(hops.items())}
    return canon(hops)


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
                None if x.hops is None else _canon_hops(x.hops),
                x.served_by,
                x.hop_desc,
            )
            for x in timeline.samples[name]
        ]
    for e in timeline.events:
        detail = _shift_ledger(e.detail, s) if e.kind == LEDGER else e.detail
        out.events.append(Event(_r(e.t - s), e.kind, e.name, canon(detail)))
    for w in timeline.traffic:
        out.traffic.append(
            replace(
                w,
                t_mono=_r(w.t_mono - s),
                window=_r(w.window),
                p50_ms=_opt(w.p50_ms),
                p95_ms=_opt(w.p95_ms),
                p99_ms=_opt(w.p99_ms),
                max_ms=_opt(w.max_ms),
                served_by=dict(sorted(w.served_by.items())),
            )
        )
    return out


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class ScenarioInfo:
    """The scenario as run: identity, audit section, and what evaluation needs."""

    name: str
    description: str = ""
    path: str | None = None
    sha256: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    audit: Mapping[str, Any] = field(default_factory=dict)
    objectives: Mapping[str, Any] = field(default_factory=dict)  # scenario notation
    stable_for: float = 10.0
    min_traffic_success: float | None = None
    faults: Sequence[Mapping[str, Any]] = ()  # fault specs, scenario notation

    @classmethod
    def of(
        cls, scenario: Scenario, path: str | None = None, sha256: str | None = None
    ) -> ScenarioInfo:
        """Describe a loaded scenario (secrets in probe DSNs never enter: probes are not copied)."""
        return cls(
            name=scenario.name,
            description=scenario.description,
            path=path,
            sha256=sha256,
            labels=dict(scenario.labels),
            audit=scenario.audit.model_dump(mode="json", by_alias=True),
            objectives=scenario.objectives.model_dump(mode="json"),
            stable_for=scenario.steady_state.stable_for,
            min_traffic_success=scenario.steady_state.min_traffic_success,
            faults=[f.model_dump(mode="json") for f in scenario.faults],
        )

    def objectives_model(self) -> Objectives:
        return Objectives.model_validate(dict(self.objectives))

    def fault_models(self) -> list[AnyFault]:
        return [_FAULTS.validate_python(dict(f)) for f in self.faults]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "path": self.path,
            "sha256": self.sha256,
            "labels": dict(self.labels),
            "audit": dict(self.audit),
            "objectives": dict(self.objectives),
            "steady_state": {
                "stable_for": self.stable_for,
                "min_traffic_success": self.min_traffic_success,
            },
            "faults": [dict(f) for f in self.faults],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ScenarioInfo:
        steady = d.get("steady_state", {})
        return cls(
            name=d["name"],
            description=d.get("description", ""),
            path=d.get("path"),
            sha256=d.get("sha256"),
            labels=dict(d.get("labels", {})),
            audit=dict(d.get("audit", {})),
            objectives=dict(d.get("objectives", {})),
            stable_for=float(steady.get("stable_for", 10.0)),
            min_traffic_success=steady.get("min_traffic_success"),
            faults=[dict(f) for f in d.get("faults", [])],
        )


@dataclass(frozen=True)
class TargetInfo:
    """Where the drill acted; `spec` is redacted of secrets."""

    type: str
    spec: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "spec": redact(self.spec)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TargetInfo:
        return cls(d["type"], dict(d.get("spec", {})))


@dataclass(frozen=True)
class FaultRecord:
    """One fault: its spec, the journaled plan, when it was applied and reverted, and how."""

    name: str
    action: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    plan: Mapping[str, Any] | None = None
    injected_t: float | None = None
    reverted_t: float | None = None
    apply_s: float | None = None
    revert_s: float | None = None
    confirmation: Mapping[str, Any] = field(default_factory=dict)
    revert_confirmation: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "spec": dict(self.spec),
            "plan": None if self.plan is None else dict(self.plan),
            "injected_t": self.injected_t,
            "reverted_t": self.reverted_t,
            "apply_s": self.apply_s,
            "revert_s": self.revert_s,
            "confirmation": dict(self.confirmation),
            "revert_confirmation": dict(self.revert_confirmation),
            "error": self.error,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FaultRecord:
        return cls(
            name=d["name"],
            action=d["action"],
            spec=dict(d.get("spec", {})),
            plan=d.get("plan"),
            injected_t=d.get("injected_t"),
            reverted_t=d.get("reverted_t"),
            apply_s=d.get("apply_s"),
            revert_s=d.get("revert_s"),
            confirmation=dict(d.get("confirmation", {})),
            revert_confirmation=dict(d.get("revert_confirmation", {})),
            error=d.get("error"),
        )


@dataclass(frozen=True)
class ManualStepRecord:
    """A person's step: its deadline after the first fault, when it was marked done, by whom."""

    name: str
    deadline_s: float
    description: str = ""
    owner: str | None = None
    optional: bool = False
    done_t: float | None = None
    by: str | None = None
    met: bool | None = None  # None: no fault was injected, so there is no deadline to meet

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "deadline_s": self.deadline_s,
            "description": self.description,
            "owner": self.owner,
            "optional": self.optional,
            "done_t": self.done_t,
            "by": self.by,
            "met": self.met,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ManualStepRecord:
        return cls(
            name=d["name"],
            deadline_s=float(d["deadline_s"]),
            description=d.get("description", ""),
            owner=d.get("owner"),
            optional=bool(d.get("optional", False)),
            done_t=d.get("done_t"),
            by=d.get("by"),
            met=d.get("met"),
        )


def _sample_json(s: Sample) -> dict[str, Any]:
    # already canonical (what `canon` makes of it), so `to_json` need not walk ~1 M of these;
    # defaults are left out
    out: dict[str, Any] = {"t": _finite(s.t), "ok": s.ok}
    if s.latency is not None:
        out["latency"] = _finite(s.latency)
    if s.value is not None:
        out["value"] = _finite(s.value) if isinstance(s.value, float) else canon(s.value)
    if s.detail:
        out["detail"] = s.detail
    if s.late:
        out["late"] = _finite(s.late)
    if s.hops is not None:
        out["hops"] = _canon_hops(s.hops)
    if s.served_by is not None:
        out["served_by"] = s.served_by
    if s.hop_desc:
        out["hop_desc"] = canon(s.hop_desc)
    return out


def _finite(x: float) -> float | None:
    """`canon` of a float."""
    return round(x, 6) if math.isfinite(x) else None


def _sample_from(probe: str, d: Mapping[str, Any]) -> Sample:
    return Sample(
        probe=probe,
        t=float(d["t"]),
        ok=bool(d["ok"]),
        latency=d.get("latency"),
        value=d.get("value"),
        detail=d.get("detail", ""),
        late=float(d.get("late", 0.0)),
        hops=d.get("hops"),
        served_by=d.get("served_by"),
        hop_desc=d.get("hop_desc"),
    )


_WINDOW_FIELDS = (
    "t_mono", "window", "name", "count", "ok", "shed", "circuit", "error_5xx", "error_other",
    "p50_ms", "p95_ms", "p99_ms", "max_ms", "served_by", "users", "late",
)  # fmt: skip


def _window_json(w: TrafficWindow) -> dict[str, Any]:
    out = {k: getattr(w, k) for k in _WINDOW_FIELDS}
    if w.hist:
        out["hist"] = hist_to_json(w.hist)
    return out


def _window_from(d: Mapping[str, Any]) -> TrafficWindow:
    hist = hist_from_json(dict(d.get("hist") or {}))
    return TrafficWindow(**{k: d[k] for k in _WINDOW_FIELDS if k in d}, hist=hist)


def _result_json(r: ObjectiveResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "bound": r.bound_text,
        "measured": r.measured,
        "error": r.error,
        "unit": r.unit,
        "passed": r.passed,
        "reason": r.reason,
        "detail": dict(r.detail),
    }


def _result_from(d: Mapping[str, Any]) -> ObjectiveResult:
    return ObjectiveResult(
        d["name"],
        d["bound"],
        d.get("measured"),
        d.get("error"),
        cast(Unit, d["unit"]),
        bool(d["passed"]),
        d.get("reason", ""),
        dict(d.get("detail", {})),
    )


def _hop_stats_json(s: HopStats | None) -> dict[str, Any] | None:
    return None if s is None else {"n": s.n, "p50": s.p50, "p99": s.p99, "max": s.max}


def _hop_stats_from(d: Mapping[str, Any] | None) -> HopStats | None:
    return None if d is None else HopStats(int(d["n"]), d["p50"], d["p99"], d["max"])


def _hop_json(h: HopResult) -> dict[str, Any]:
    return {
        "hop": h.hop,
        "baseline": _hop_stats_json(h.baseline),
        "faults": {k: _hop_stats_json(v) for k, v in h.faults.items()},
        "p99": h.p99,
        "threshold": h.threshold,
        "crossed_in": list(h.crossed_in),
    }


def _hop_from(d: Mapping[str, Any]) -> HopResult:
    faults = {k: s for k, v in d.get("faults", {}).items() if (s := _hop_stats_from(v))}
    return HopResult(
        d["hop"],
        _hop_stats_from(d.get("baseline")),
        faults,
        d["p99"],
        d["threshold"],
        tuple(d.get("crossed_in", ())),
    )


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Report:
    """One drill's canonical record. Times `t` are seconds since the drill start."""

    run_id: str
    scenario: ScenarioInfo
    target: TargetInfo
    operator: str
    started: str  # UTC ISO 8601 (the clock's one wall reading)
    ended: str
    duration_s: float
    verdict: str
    exit_code: int
    reason: str
    objectives: Sequence[ObjectiveResult]
    milestones: Sequence[Milestone]
    faults: Sequence[FaultRecord]
    manual_steps: Sequence[ManualStepRecord]
    events: Sequence[Event]
    probes: Sequence[ProbeInfo]
    samples: Mapping[str, Sequence[Sample]]
    traffic: Sequence[TrafficWindow]
    ledger: Mapping[str, Any] | None = None
    hops: Sequence[HopResult] = ()
    guardrails: Sequence[Mapping[str, Any]] = ()
    budget_warnings: Sequence[str] = ()
    deviations: Sequence[str] = ()
    toolkit_version: str = __version__
    # the drill's CLOCK_MONOTONIC reading at t=0: lines the report up with other logs of the host
    monotonic_start: float | None = None
    schema: str = SCHEMA_VERSION
    # the audit record added at run time (approver, participants, findings from the command
    # line); it overrides the scenario's `audit` section key by key. Left out of the JSON when empty.
    audit: Mapping[str, Any] = field(default_factory=dict)

    def clock(self) -> Clock:
        """The drill's clock in report time: start 0, wall start as recorded."""
        return Clock(0.0, datetime.fromisoformat(self.started))

    def to_json(self) -> dict[str, Any]:
        """Deterministic JSON object: sorted keys, floats rounded to the microsecond."""
        clock = self.clock()
        data: dict[str, Any] = {
            "schema": self.schema,
            "run_id": self.run_id,
            "scenario": self.scenario.to_json(),
            "target": self.target.to_json(),
            "toolkit_version": self.toolkit_version,
            "monotonic_start": self.monotonic_start,
            "operator": self.operator,
            "started": self.started,
            "ended": self.ended,
            "duration_s": self.duration_s,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "objectives": [_result_json(r) for r in self.objectives],
            "milestones": [
                {"name": m.name, "t": m.t, "bound": m.bound, "detail": dict(m.detail)}
                for m in self.milestones
            ],
            "faults": [f.to_json() for f in self.faults],
            "manual_steps": [m.to_json() for m in self.manual_steps],
            "events": [
                {
                    "t": e.t,
                    "wall": clock.wall(e.t).isoformat(timespec="microseconds"),
                    "kind": e.kind,
                    "name": e.name,
                    "detail": dict(e.detail),
                }
                for e in self.events
            ],
            "probes": [
                {
                    "name": p.name,
                    "type": p.type,
                    "every": p.every,
                    "role": p.role,
                }
                for p in sorted(self.probes, key=lambda p: p.name)
            ],
            "traffic": [_window_json(w) for w in self.traffic],
            "ledger": None if self.ledger is None else dict(self.ledger),
            "hops": [_hop_json(h) for h in self.hops],
            "guardrails": [dict(g) for g in self.guardrails],
            "budget_warnings": list(self.budget_warnings),
            "deviations": list(self.deviations),
        }
        if self.audit:
            data["audit"] = dict(self.audit)
        out = cast(dict[str, Any], canon(data))
        for probe in out["probes"]:  # `_sample_json` is canonical already: skip canon's walk
            probe["samples"] = [_sample_json(s) for s in self.samples.get(probe["name"], [])]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """Read a report written by `to_json` (of this schema version)."""
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise ValueError(f"unsupported report schema {schema!r} (expected {SCHEMA_VERSION})")
        probes = [
            ProbeInfo(p["name"], p["type"], float(p["every"]), p["role"]) for p in data["probes"]
        ]
        samples = {
            p["name"]: [_sample_from(p["name"], s) for s in p.get("samples", [])]
            for p in data["probes"]
        }
        return cls(
            run_id=data["run_id"],
            scenario=ScenarioInfo.from_json(data["scenario"]),
            target=TargetInfo.from_json(data["target"]),
            operator=data["operator"],
            started=data["started"],
            ended=data["ended"],
            duration_s=float(data["duration_s"]),
            verdict=data["verdict"],
            exit_code=int(data["exit_code"]),
            reason=data.get("reason", ""),
            objectives=[_result_from(r) for r in data.get("objectives", [])],
            milestones=[
                Milestone(m["name"], m["t"], m["bound"], dict(m.get("detail", {})))
                for m in data.get("milestones", [])
            ],
            faults=[FaultRecord.from_json(f) for f in data.get("faults", [])],
            manual_steps=[ManualStepRecord.from_json(m) for m in data.get("manual_steps", [])],
            events=[
                Event(e["t"], e["kind"], e["name"], dict(e.get("detail", {})))
                for e in data.get("events", [])
            ],
            probes=probes,
            samples=samples,
            traffic=[_window_from(w) for w in data.get("traffic", [])],
            ledger=data.get("ledger"),
            hops=[_hop_from(h) for h in data.get("hops", [])],
            guardrails=[dict(g) for g in data.get("guardrails", [])],
            budget_warnings=list(data.get("budget_warnings", [])),
            deviations=list(data.get("deviations", [])),
            toolkit_version=data.get("toolkit_version", ""),
            monotonic_start=data.get("monotonic_start"),
            schema=schema,
            audit=dict(data.get("audit") or {}),
        )

    def timeline(self) -> Timeline:
        """The drill's timeline in report time (start 0)."""
        tl = Timeline(self.clock())
        for p in self.probes:
            tl.add_probe(p)
            tl.samples[p.name] = list(self.samples.get(p.name, []))
        tl.events.extend(self.events)
        tl.traffic.extend(self.traffic)
        return tl


def timeline_from_report(data: Mapping[str, Any]) -> Timeline:
    """Rebuild the timeline from report JSON (times relative to the drill start)."""
    return Report.from_json(data).timeline()


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


# --------------------------------------------------------------------------- building one


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
    tl: Timeline, scenario: Scenario, t_inj: float | None
) -> list[ManualStepRecord]:
    out: list[ManualStepRecord] = []
    for step in scenario.manual_steps:
        done = tl.first(MANUAL, step.name)
        met: bool | None = None
        if t_inj is not None:
            met = done is not None and done.t - t_inj <= step.deadline + 1e-9
        by = None if done is None else done.detail.get("by")
        out.append(
            ManualStepRecord(
                name=step.name,
                deadline_s=step.deadline,
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
) -> Report:
    """Evaluate a finished drill and assemble its report (`ended`: monotonic end time).

    Evaluation runs on `relative_timeline(timeline)`, exactly the data the report stores.
    """
    tl = relative_timeline(timeline)
    end = _r(ended - timeline.clock.start)
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
    verdict = overall_verdict(results, aborted is not None, error)
    devs = deviations(results, aborted)
    if error:
        devs.append(f"error: {error}")
    failed = [r.name for r in results if not r.passed]
    reason = {
        "error": f"the drill could not run: {error}",
        "aborted": f"aborted: {aborted}",
        "failed": f"{len(failed)} of {len(results)} objectives failed: {', '.join(failed)}",
        "passed": f"all {len(results)} objectives met",
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
        exit_code=exit_code(verdict),
        reason=reason,
        objectives=results,
        milestones=ms.all,
        faults=_fault_records(tl, scenario.faults, plans or {}),
        manual_steps=_manual_records(tl, scenario, ms.t_inj),
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
    )


# --------------------------------------------------------------------------- JSON Schema


def report_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of `Report.to_json()`."""
    num = {"type": "number"}
    opt_num = {"type": ["number", "null"]}
    obj = {"type": "object"}
    str_ = {"type": "string"}
    opt_str = {"type": ["string", "null"]}

    def rec(props: dict[str, Any], required: Sequence[str] | None = None) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": props,
            "required": list(props if required is None else required),
        }

    sample = rec(
        {
            "t": num,
            "ok": {"type": "boolean"},
            "latency": opt_num,
            "value": {"type": ["number", "string", "null"]},
            "detail": str_,
            "late": num,
            "hops": obj,
            "served_by": opt_str,
            "hop_desc": obj,
        },
        ["t", "ok"],
    )
    hop_stats = {
        "anyOf": [
            {"type": "null"},
            rec({"n": {"type": "integer"}, "p50": num, "p99": num, "max": num}),
        ]
    }
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gameday.dev/schemas/report-v1.json",
        "title": "gameday drill report",
        **rec(
            {
                "schema": {"const": SCHEMA_VERSION},
                "run_id": str_,
                "scenario": rec(
                    {
                        "name": str_,
                        "description": str_,
                        "path": opt_str,
                        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
                        "labels": obj,
                        "audit": obj,
                        "objectives": obj,
                        "steady_state": rec({"stable_for": num, "min_traffic_success": opt_num}),
                        "faults": {"type": "array", "items": obj},
                    }
                ),
                "target": rec({"type": str_, "spec": obj}),
                "toolkit_version": str_,
                "monotonic_start": opt_num,
                "operator": str_,
                "started": {**str_, "format": "date-time"},
                "ended": {**str_, "format": "date-time"},
                "duration_s": num,
                "verdict": {"enum": ["passed", "failed", "aborted", "error"]},
                "exit_code": {"enum": [0, 1, 3, 4]},
                "reason": str_,
                "objectives": {
                    "type": "array",
                    "items": rec(
                        {
                            "name": str_,
                            "bound": str_,
                            "measured": opt_num,
                            "error": opt_num,
                            "unit": {"enum": ["s", "ratio", "count"]},
                            "passed": {"type": "boolean"},
                            "reason": str_,
                            "detail": obj,
                        }
                    ),
                },
                "milestones": {
                    "type": "array",
                    "items": rec({"name": str_, "t": num, "bound": num, "detail": obj}),
                },
                "faults": {
                    "type": "array",
                    "items": rec(
                        {
                            "name": str_,
                            "action": str_,
                            "spec": obj,
                            "plan": {"type": ["object", "null"]},
                            "injected_t": opt_num,
                            "reverted_t": opt_num,
                            "apply_s": opt_num,
                            "revert_s": opt_num,
                            "confirmation": obj,
                            "revert_confirmation": obj,
                            "error": opt_str,
                        }
                    ),
                },
                "manual_steps": {
                    "type": "array",
                    "items": rec(
                        {
                            "name": str_,
                            "deadline_s": num,
                            "description": str_,
                            "owner": opt_str,
                            "optional": {"type": "boolean"},
                            "done_t": opt_num,
                            "by": opt_str,
                            "met": {"type": ["boolean", "null"]},
                        }
                    ),
                },
                "events": {
                    "type": "array",
                    "items": rec(
                        {
                            "t": num,
                            "wall": {**str_, "format": "date-time"},
                            "kind": str_,
                            "name": str_,
                            "detail": obj,
                        }
                    ),
                },
                "probes": {
                    "type": "array",
                    "items": rec(
                        {
                            "name": str_,
                            "type": str_,
                            "every": num,
                            "role": {"enum": ["steady", "evidence"]},
                            "samples": {"type": "array", "items": sample},
                        }
                    ),
                },
                "traffic": {
                    "type": "array",
                    "items": rec(
                        {
                            "t_mono": num,
                            "window": num,
                            "name": str_,
                            "count": {"type": "integer"},
                            "ok": {"type": "integer"},
                            "shed": {"type": "integer"},
                            "circuit": {"type": "integer"},
                            "error_5xx": {"type": "integer"},
                            "error_other": {"type": "integer"},
                            "p50_ms": opt_num,
                            "p95_ms": opt_num,
                            "p99_ms": opt_num,
                            "max_ms": opt_num,
                            "served_by": obj,
                            "users": {"type": "integer"},
                            "late": {"type": "integer"},
                            "hist": {"type": "object", "additionalProperties": {"type": "integer"}},
                        },
                        required=_WINDOW_FIELDS,
                    ),
                },
                "ledger": {"type": ["object", "null"]},
                "hops": {
                    "type": "array",
                    "items": rec(
                        {
                            "hop": str_,
                            "baseline": hop_stats,
                            "faults": {"type": "object", "additionalProperties": hop_stats},
                            "p99": num,
                            "threshold": num,
                            "crossed_in": {"type": "array", "items": str_},
                        }
                    ),
                },
                "guardrails": {"type": "array", "items": obj},
                "budget_warnings": {"type": "array", "items": str_},
                "deviations": {"type": "array", "items": str_},
            }
        ),
    }
    # optional: only present when the run added an audit record
    schema["properties"]["audit"] = obj
    return schema
