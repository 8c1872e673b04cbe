"""The canonical JSON report (schema `gameday.report/v1`) every other rendering starts from.

Pure code, no I/O. Times are monotonic seconds relative to the drill start (`t`), rounded
to the microsecond; events also carry their UTC wall time. The report holds every raw
sample, event and traffic window, plus the scenario's objectives, so every objective can
be recomputed from the JSON alone (`build.recompute_objectives`) and gives identical numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from .. import __version__
from ..analysis.canon import canon
from ..analysis.milestones import Milestone
from ..analysis.objectives import HopResult, ObjectiveResult
from ..analysis.timeline import Clock, Event, ProbeInfo, Sample, Timeline
from ..analysis.timeline_json import sample_from, sample_json, window_from, window_json
from ..analysis.verdict import DRILL_VERDICTS, Verdict
from ..traffic.stats import TrafficWindow
from .evidence import hop_from, hop_json, result_from, result_json
from .sections import FaultRecord, ManualStepRecord, ScenarioInfo, TargetInfo

SCHEMA_VERSION = "gameday.report/v1"


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
    verdict: Verdict  # a plain string is taken too: the Report holds it as a Verdict
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
    # faults teardown could not undo: fault, action, error, attempts, recover (the command)
    unreverted: Sequence[Mapping[str, Any]] = ()
    toolkit_version: str = __version__
    # the drill's CLOCK_MONOTONIC reading at t=0: lines the report up with other logs of the host
    monotonic_start: float | None = None
    schema: str = SCHEMA_VERSION
    # the audit record added at run time (approver, participants, findings from the command
    # line); it overrides the scenario's `audit` section key by key. Left out of the JSON when empty.
    audit: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        verdict = Verdict(self.verdict)
        if verdict not in DRILL_VERDICTS:
            raise ValueError(f"{verdict!r} is not a drill's verdict")
        object.__setattr__(self, "verdict", verdict)

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
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "objectives": [result_json(r) for r in self.objectives],
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
            "traffic": [window_json(w) for w in self.traffic],
            "ledger": None if self.ledger is None else dict(self.ledger),
            "hops": [hop_json(h) for h in self.hops],
            "guardrails": [dict(g) for g in self.guardrails],
            "budget_warnings": list(self.budget_warnings),
            "deviations": list(self.deviations),
            "unreverted": [dict(u) for u in self.unreverted],
        }
        if self.audit:
            data["audit"] = dict(self.audit)
        out = cast(dict[str, Any], canon(data))
        for probe in out["probes"]:  # `sample_json` is canonical already: skip canon's walk
            probe["samples"] = [sample_json(s) for s in self.samples.get(probe["name"], [])]
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
            p["name"]: [sample_from(p["name"], s) for s in p.get("samples", [])]
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
            verdict=Verdict(data["verdict"]),
            exit_code=int(data["exit_code"]),
            reason=data.get("reason", ""),
            objectives=[result_from(r) for r in data.get("objectives", [])],
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
            traffic=[window_from(w) for w in data.get("traffic", [])],
            ledger=data.get("ledger"),
            hops=[hop_from(h) for h in data.get("hops", [])],
            guardrails=[dict(g) for g in data.get("guardrails", [])],
            budget_warnings=list(data.get("budget_warnings", [])),
            deviations=list(data.get("deviations", [])),
            unreverted=[dict(u) for u in data.get("unreverted", [])],
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
