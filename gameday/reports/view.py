"""What every rendering shows, computed once from a Report: HTML, Markdown, JUnit and console share it."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..analysis.canon import redact
from ..scenarios.units import format_duration
from .audit import CONTROLS, effective_audit, findings
from .report import Report

MAX_TIMELINE_ROWS = 2000  # beyond this the HTML lists the first rows; the JSON keeps them all
MAX_SPANS = 50


@dataclass(frozen=True)
class ObjectiveRow:
    """One objective as every rendering prints it."""

    name: str
    target: str
    measured: str
    passed: bool
    reason: str
    outcome: str = "met"

    @property
    def verdict(self) -> str:
        return self.outcome


@dataclass(frozen=True)
class ProbeSummary:
    """A probe's samples in a few numbers, plus its failing spans."""

    name: str
    type: str
    role: str
    every: float
    samples: int
    ok: int
    late: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    spans: list[tuple[float, float, int, str]] = field(
        default_factory=list
    )  # start, end, n, first detail

    @property
    def failed(self) -> int:
        return self.samples - self.ok


def wall(report: Report, t: float | None) -> str:
    """UTC wall time of a report time, `YYYY-MM-DD HH:MM:SS.mmmZ`."""
    if t is None:
        return ""
    return report.clock().wall(t).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def utc(iso: str) -> str:
    """An ISO timestamp from the report shown in UTC with a Z."""
    from datetime import UTC, datetime

    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + "Z"


def objective_rows(report: Report) -> list[ObjectiveRow]:
    return [
        ObjectiveRow(r.name, r.bound_text, r.measured_text(), r.passed, r.reason, r.outcome)
        for r in report.objectives
    ]


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def probe_summaries(report: Report) -> list[ProbeSummary]:
    out = []
    for p in sorted(report.probes, key=lambda p: (p.role != "steady", p.name)):
        samples = report.samples.get(p.name, [])
        lat = [s.latency * 1000 for s in samples if s.latency is not None]
        spans: list[tuple[float, float, int, str]] = []
        current: list[Any] | None = None
        for s in samples:
            if not s.ok:
                if current is None:
                    current = [s.t, s.t, 0, s.detail]
                current[1], current[2] = s.t, current[2] + 1
            elif current is not None:
                spans.append((current[0], current[1], current[2], current[3]))
                current = None
        if current is not None:
            spans.append((current[0], current[1], current[2], current[3]))
        out.append(
            ProbeSummary(
                p.name,
                p.type,
                p.role,
                p.every,
                len(samples),
                sum(1 for s in samples if s.ok),
                sum(1 for s in samples if s.late > p.every),
                None if not lat else statistics.median(lat),
                _pct(lat, 0.99),
                max(lat, default=None),
                spans,
            )
        )
    return out


def alerts(report: Report) -> list[dict[str, Any]]:
    rows = []
    for e in report.events:
        if e.kind != "alert":
            continue
        labels = e.detail.get("labels", {}) if isinstance(e.detail, Mapping) else {}
        rows.append(
            {
                "t": e.t,
                "wall": wall(report, e.t),
                "name": e.name,
                "status": e.detail.get("status", ""),
                "severity": labels.get("severity", ""),
                "service": labels.get("service", ""),
            }
        )
    return rows


def event_summary(detail: Mapping[str, Any], limit: int = 160) -> str:
    """A one-line digest of an event's detail (long lists are in the JSON)."""
    parts = []
    for k, v in detail.items():
        if isinstance(v, list) and len(v) > 4:
            text = f"[{len(v)} items]"
        elif isinstance(v, Mapping):
            text = ", ".join(f"{a}={b}" for a, b in v.items())
        else:
            text = str(v)
        parts.append(f"{k}: {text}")
    out = "; ".join(parts)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def deviation_list(report: Report) -> list[str]:
    """Deviations from the plan: aborts, errors, failed objectives with their reason, warnings."""
    out = list(report.deviations)
    for r in report.objectives:
        line = f"{r.name}: {r.reason}"
        if r.missed and not any(r.name in d for d in out):
            out.append(line)
    for g in report.guardrails:
        out.append(f"guardrail {g.get('name')} at {g.get('t')}s: {event_summary(g)}")
    left = {u.get("fault") for u in report.unreverted}
    for f in report.faults:
        if f.name in left:
            continue  # named with its recover command already
        if f.error:
            out.append(f"fault {f.name} failed: {f.error}")
        elif f.injected_t is not None and f.reverted_t is None and f.spec.get("restart", True):
            out.append(f"fault {f.name} has no recorded revert")
    out.extend(f"budget: {w}" for w in report.budget_warnings)
    return out


def header(report: Report, key_fingerprint: str | None = None) -> list[tuple[str, str]]:
    """The identification block: what ran, where, by whom, when, with what, and the verdict."""
    a = effective_audit(report)
    s = report.scenario
    return [
        ("drill id", report.run_id),
        ("drill type", str(a.get("drill_type", ""))),
        ("scenario", s.name),
        ("purpose", s.description.strip() or "—"),
        ("target", f"{report.target.type}"),
        ("environment", str(a.get("environment", ""))),
        ("operator", report.operator),
        ("started (UTC)", utc(report.started)),
        ("ended (UTC)", utc(report.ended)),
        ("duration", format_duration(round(report.duration_s, 3))),
        ("toolkit version", f"gameday {report.toolkit_version}"),
        ("scenario file", s.path or "—"),
        ("scenario sha256", s.sha256 or "—"),
        ("report schema", report.schema),
        ("signing key", key_fingerprint or "not signed"),
        ("verdict", f"{report.verdict.upper()}: {report.reason}"),
    ]


def context(
    report: Report,
    *,
    key_fingerprint: str | None = None,
    artifacts: Sequence[tuple[str, str, int]] = (),
    chain_head: str | None = None,
) -> dict[str, Any]:
    """Everything the templates need, as plain values."""
    a = effective_audit(report)
    events = list(report.events)
    return {
        "r": report,
        # the Report object may still hold secrets (to_json redacts): never render them
        "target_spec": redact(report.target.spec),
        "audit": a,
        "header": header(report, key_fingerprint),
        "objectives": objective_rows(report),
        "faults": [
            {
                "f": f,
                "subject": f.spec.get("service")
                or f.spec.get("version")
                or f.confirmation.get("subject", ""),
                "injected": wall(report, f.injected_t),
                "reverted": wall(report, f.reverted_t),
            }
            for f in report.faults
        ],
        "manual": [{"m": m, "done": wall(report, m.done_t)} for m in report.manual_steps],
        "events": [
            {"e": e, "wall": wall(report, e.t), "summary": event_summary(e.detail)}
            for e in events[:MAX_TIMELINE_ROWS]
        ],
        "events_omitted": max(0, len(events) - MAX_TIMELINE_ROWS),
        "deviations": deviation_list(report),
        "findings": findings(report),
        "probes": probe_summaries(report),
        "max_spans": MAX_SPANS,
        "alerts": alerts(report)[:MAX_TIMELINE_ROWS],
        "ledger": report.ledger,
        "hops": report.hops,
        "controls": CONTROLS,
        "artifacts": list(artifacts),
        "chain_head": chain_head,
        "key_fingerprint": key_fingerprint,
        "milestones": [{"m": m, "wall": wall(report, m.t)} for m in report.milestones],
    }
