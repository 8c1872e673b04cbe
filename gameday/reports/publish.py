"""Publishing a finished drill: its DrillRecord judged into report.json, rendered and signed.

The engine measures and reverts and hands back a DrillRecord; this is the one place a run's
report is made: the CLI, the pytest plugin and a suite (`suite.SuiteRecord`) call `publish`
after `run_drill`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.verdict import Verdict
from ..runners.live_record import RECORD_FILE
from ..runners.record import DrillRecord
from .audit import apply_audit
from .build import build_report
from .formats import formats_for
from .render import REPORT_JSON, dumps_report, write_renderings
from .report import Report
from .sections import TargetInfo


@dataclass(frozen=True)
class Published:
    """What the caller needs after a run: verdict, exit code, where the report is."""

    verdict: Verdict
    exit_code: int
    reason: str
    run_dir: Path
    report: Report  # as judged, before redaction: print from it, never store it
    written: list[Path] = field(default_factory=list)


def publish(record: DrillRecord) -> Published:
    """Judge the drill, write report.json (redacted), its renderings and, with a key, its signature.

    Raises AuditInputError for an unreadable findings file and SigningKeyError for an unusable
    key: check both before the drill (`audit.load_findings`, `render.check_sign_key`).
    """
    o = record.options
    report = build_report(
        record.timeline,
        record.scenario,
        run_id=record.run_id,
        target=TargetInfo(record.target_type, record.target_spec),
        operator=record.operator,
        ended=record.ended,
        scenario_path=str(record.scenario_path),
        scenario_sha256=record.scenario_sha256,
        plans=record.plans,
        aborted=record.aborted,
        error=record.error,
        budget_warnings=record.budget_warnings,
        unreverted=record.unreverted,
    )
    report = apply_audit(
        report, approver=o.approver, participants=o.participants, findings=o.findings
    )
    # redact last, over the finished text: no path through the report can leak a secret
    text = record.redact(dumps_report(report.to_json()))
    _write_whole(record.run_dir / REPORT_JSON, text)
    # report.json holds all the live record did: the record has served its purpose
    (record.run_dir / RECORD_FILE).unlink(missing_ok=True)
    written = write_renderings(
        report, record.run_dir, formats=formats_for(ci=o.ci), sign_key=o.sign_key
    )
    return Published(
        report.verdict, report.exit_code, report.reason, record.run_dir, report, written
    )


def _write_whole(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a full disk leaves no torn report.json behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
