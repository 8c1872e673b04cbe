"""The audit record of a drill: scenario audit section merged with run-time additions, findings, controls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ..analysis.milestones import DrillMilestones, derive_milestones
from ..analysis.timeline import FAULT_INJECTED
from ..analysis.verdict import Verdict
from ..scenarios.units import format_duration
from .report import Report

# Which frameworks each report section serves (shown next to the section, and in the index).
CONTROLS: Mapping[str, Sequence[str]] = {
    "identification": ("NIST SP 800-84 AAR", "NIST 800-53 CP-4", "ISO 22301 8.5"),
    "scope": ("NIST 800-53 CP-4(a)", "ISO 22301 8.5", "SOC 2 A1.3"),
    "objectives": ("NIST 800-53 CP-4(a)", "ISO 22301 8.5", "SOC 2 A1.3", "PCI DSS 12.10.2"),
    "chart": ("NIST SP 800-84 AAR", "SOC 2 A1.3"),
    "faults": ("NIST 800-53 CP-4(a)", "NIST SP 800-84 AAR"),
    "people": ("NIST 800-53 CP-4(b)", "ISO 22301 8.5", "PCI DSS 12.10.2"),
    "timeline": ("NIST SP 800-84 AAR", "PCI DSS 12.10.2"),
    "deviations": ("NIST 800-53 CP-4(c)", "ISO 22301 8.5", "SOC 2 A1.3"),
    "findings": ("NIST 800-53 CP-4(c)", "ISO 22301 10.1", "NIST SP 800-84 AAR"),
    "signoff": ("NIST 800-53 CP-4(b)", "ISO 22301 8.5"),
    "next": ("PCI DSS 12.10.2", "NIST 800-53 CP-4", "ISO 22301 8.5"),
    "evidence": ("SOC 2 A1.3", "NIST SP 800-84 AAR", "ISO 22301 8.5"),
}


class AuditInputError(ValueError):
    """A run-time audit input (participant, findings file) is malformed."""


def effective_audit(report: Report) -> dict[str, Any]:
    """The scenario's audit section with the run's additions laid over it key by key."""
    merged: dict[str, Any] = {
        "drill_type": "technical",
        "scope": "",
        "exclusions": [],
        "environment": "staging",
        "participants": [],
        "approver": None,
        "controls": [],
        "next_drill": None,
        "findings": [],
    }
    merged.update({k: v for k, v in report.scenario.audit.items() if v is not None})
    merged.update({k: v for k, v in report.audit.items() if v not in (None, [], "")})
    # whoever acknowledged a step took part: recorded from the steps, not typed in again
    merged["participants"] = [*merged["participants"], *acknowledgers(report)]
    return merged


def acknowledgers(report: Report) -> list[dict[str, str]]:
    """Each acknowledged manual step as a participant: who, `acknowledged STEP`, when (UTC)."""
    from .view import wall  # view builds on this module: imported when used

    done = sorted(
        (m for m in report.manual_steps if m.by and m.done_t is not None),
        key=lambda m: m.done_t or 0.0,
    )
    return [
        {
            "name": str(m.by),
            "role": f"acknowledged {m.name}",
            "at": wall(report, m.done_t),
        }
        for m in done
    ]


def parse_participant(text: str) -> dict[str, str]:
    """`NAME:ROLE` from the command line (`--participant "Ana Silva:incident commander"`)."""
    name, sep, role = text.partition(":")
    if not sep or not name.strip() or not role.strip():
        raise AuditInputError(f"participant {text!r} must be NAME:ROLE")
    return {"name": name.strip(), "role": role.strip()}


def load_findings(path: Path) -> list[dict[str, Any]]:
    """Findings from a YAML/JSON list of {title, owner, due, status?, detail?}."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AuditInputError(f"cannot read findings {path}: {exc}") from exc
    if not isinstance(data, list):
        raise AuditInputError(f"{path}: findings must be a list of {{title, owner, due}}")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, Mapping) or not item.get("title") or not item.get("owner"):
            raise AuditInputError(f"{path}: finding {i} needs at least title and owner")
        due = item.get("due")
        if due is not None:
            try:
                due = date.fromisoformat(str(due)).isoformat()
            except ValueError as exc:
                raise AuditInputError(f"{path}: finding {i}: due must be YYYY-MM-DD") from exc
        out.append(
            {
                "title": str(item["title"]),
                "owner": str(item["owner"]),
                "due": due,
                "status": str(item.get("status", "open")),
                "detail": str(item.get("detail", "")),
            }
        )
    return out


def apply_audit(
    report: Report,
    *,
    approver: str | None = None,
    participants: Sequence[str] = (),
    findings: Path | None = None,
) -> Report:
    """The report with command-line audit additions recorded (call before writing report.json)."""
    extra: dict[str, Any] = dict(report.audit)
    if approver:
        extra["approver"] = approver
    if participants:
        extra["participants"] = [parse_participant(p) for p in participants]
    if findings is not None:
        extra["findings"] = load_findings(findings)
    return replace(report, audit=extra) if extra != dict(report.audit) else report


def drill_milestones(report: Report) -> DrillMilestones:
    """The drill's milestones and how it was observed, derived again from the report's timeline."""
    info = report.scenario
    return derive_milestones(report.timeline(), info.stable_for, info.min_traffic_success)


def _measurement_findings(report: Report) -> list[tuple[str, str, str]]:
    """(title, detail, source) of what the measurements say is suspicious besides objectives.

    A fault expected to have an impact after which no steady-state stream failed may not
    have taken effect (a fault expected to be absorbed is not suspicious); a recovery that
    an impact followed was not one.
    """
    ms = drill_milestones(report)
    if ms.t_inj is None:
        return []
    out: list[tuple[str, str, str]] = []

    def rel(t: float) -> str:
        return "+" + format_duration(round(t - (ms.t_inj or 0.0), 3))

    if not ms.impacted and ms.observed:
        injected = {e.name for e in report.events if e.kind == FAULT_INJECTED}
        for fault in report.scenario.fault_models():
            if fault.label() in injected and getattr(fault, "expect", "impact") == "impact":
                out.append(
                    (
                        f"no observable impact from {fault.label()} — "
                        "the fault may not have taken effect",
                        "no steady-state probe (nor user traffic, when judged) failed after "
                        "the injection; the fault expects an impact",
                        f"fault {fault.label()}",
                    )
                )
    for r in ms.relapses:
        out.append(
            (
                f"recovery at {rel(r.recovered_at)} was followed by impact at {rel(r.impact_at)}",
                f"a complete stable window ({rel(r.recovered_at)} to {rel(r.confirmed_at)}) "
                f"ended when {r.stream} failed; the recovery counted is after the last impact",
                "milestone recovered",
            )
        )
    return out


def findings(report: Report) -> list[dict[str, Any]]:
    """Recorded findings, plus one per failed objective, deviation or suspicious measurement.

    Suspicious measurements: a fault expected to have an impact that had none, and a
    recovery that a later impact undid (`_measurement_findings`).
    """
    audit = effective_audit(report)
    out = [dict(f, source="recorded") for f in audit.get("findings", [])]
    owner = audit.get("approver") or "unassigned"
    due = audit.get("next_drill")
    for r in report.objectives:
        if r.missed:
            out.append(
                {
                    "title": f"objective {r.name} missed: {r.reason}",
                    "owner": owner,
                    "due": due,
                    "status": "open",
                    "detail": f"target {r.bound_text}, measured {r.measured_text()}",
                    "source": f"objective {r.name}",
                }
            )
    for title, detail, source in _measurement_findings(report):
        out.append(
            {
                "title": title,
                "owner": owner,
                "due": due,
                "status": "open",
                "detail": detail,
                "source": source,
            }
        )
    if report.verdict in (Verdict.ABORTED, Verdict.ERROR):
        out.append(
            {
                "title": f"drill {report.verdict}: {report.reason}",
                "owner": owner,
                "due": due,
                "status": "open",
                "detail": "",
                "source": "verdict",
            }
        )
    for i, f in enumerate(out, 1):
        f["id"] = f"F{i}"
    return out
