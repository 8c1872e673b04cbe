"""A drill's record from what its run directory holds, when the runner never wrote its report.

A runner killed (SIGKILL, a crash, the machine stopping) or one that could not write its
report (a full disk) leaves ``record.jsonl`` (see `live_record`), the scenario it ran and
the journal. `rebuild` turns those into the DrillRecord the runner would have handed over:
judged as far as it got, aborted where it stopped, with what is missing named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..analysis.timeline import (
    FAULT_INJECTED,
    FAULT_REVERTED,
    GUARDRAIL,
    Clock,
    Event,
    ProbeInfo,
    Timeline,
)
from ..analysis.timeline_json import sample_from, window_from
from ..scenarios.loader import load_scenario
from ..scenarios.model import Scenario
from ..scenarios.problems import ScenarioError
from .journal import JOURNAL_FILE, JournalError, JournalState, read_journal
from .live_record import RECORD_FILE, SCENARIO_COPY
from .record import DrillRecord, RunOptions


class RebuildError(Exception):
    """The run directory holds too little to rebuild a report; the message says what."""


def rebuild(run_dir: Path) -> DrillRecord:
    """The DrillRecord of the run in ``run_dir``, from its record, scenario and journal."""
    header, timeline, end, warnings = _read_record(run_dir / RECORD_FILE)
    scenario = _scenario(run_dir, header)
    journal = _journal(run_dir)
    plans: dict[str, dict[str, Any]] = {}
    unreverted: list[Mapping[str, Any]] = []
    if journal is not None:
        warnings += journal.warnings
        for label, plan_id in journal.labels.items():
            entry = journal.plans[plan_id]
            if entry.status != "planned":
                plans[label] = entry.plan.to_json()
        _add_reverts_by_recover(timeline, journal)
        if end is None:
            unreverted = [
                {
                    "fault": p.plan.fault,
                    "action": p.plan.action,
                    "error": p.error or "not reverted",
                    "attempts": 1,
                    "recover": f"gameday recover --journal {journal.path}",
                }
                for p in journal.pending()
            ]
    ended = _last_t(timeline) if end is None else float(end["t"])
    if end is None:
        elapsed = timeline.clock.elapsed(ended)
        aborted: str | None = (
            f"the record ends at +{elapsed:.1f} s: the runner was killed, or could not write "
            "more (a full disk); this report was rebuilt from what it recorded. Missing after "
            "that point: the rest of the observation, the verification and the runner's own "
            "teardown"
        )
        error = None
        # judged like any stopped drill: what had no time to happen is not judged, not missed
        timeline.events.append(Event(ended, GUARDRAIL, "runner stopped", {"reason": aborted}))
    else:
        aborted, error = end.get("aborted"), end.get("error")
        unreverted = list(end.get("unreverted") or [])
    opts = header.get("options") or {}
    options = RunOptions(
        ci=bool(opts.get("ci")),
        report_root=run_dir.parent,
        operator=str(opts.get("operator") or "unknown"),
        sign_key=_existing(opts.get("sign_key")),
        approver=opts.get("approver"),
        participants=tuple(opts.get("participants") or ()),
        findings=_existing(opts.get("findings")),
    )
    notes = [*(end or {}).get("budget_warnings", []), *warnings]
    if end is None:
        notes.append(f"report rebuilt from {RECORD_FILE} after the runner stopped")
    return DrillRecord(
        scenario=scenario,
        scenario_path=Path(str(header.get("scenario_path") or run_dir / SCENARIO_COPY)),
        scenario_sha256=str(header.get("scenario_sha256") or ""),
        run_id=str(header.get("run_id") or run_dir.name),
        run_dir=run_dir,
        timeline=timeline,
        target_type=journal.driver if journal and journal.driver else scenario.target.type,
        target_spec=dict(journal.spec) if journal else {},
        operator=options.operator,
        ended=ended,
        plans=plans,
        aborted=aborted,
        error=error,
        budget_warnings=notes,
        redact=lambda text: text,  # the record was redacted as it was written
        options=options,
        unreverted=unreverted,
    )


def _read_record(
    path: Path,
) -> tuple[dict[str, Any], Timeline, dict[str, Any] | None, list[str]]:
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise RebuildError(f"no record to rebuild from at {path}: {exc.strerror or exc}") from None
    header: dict[str, Any] | None = None
    timeline: Timeline | None = None
    end: dict[str, Any] | None = None
    warnings: list[str] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            kind = line["kind"]
            if header is None or timeline is None:
                if kind != "header":
                    raise ValueError("the first line is not the header")
                header = line
                start = datetime.fromisoformat(str(line["start_wall"]))
                timeline = Timeline(Clock(float(line["clock_start"]), start))
            elif kind == "probe":
                timeline.add_probe(
                    ProbeInfo(line["name"], line["type"], line["every"], line["role"])
                )
            elif kind == "sample":
                timeline.add_sample(sample_from(line["probe"], line))
            elif kind == "event":
                detail = dict(line.get("detail") or {})
                timeline.events.append(Event(float(line["t"]), line["type"], line["name"], detail))
            elif kind == "traffic":
                timeline.add_traffic(window_from(line))
            elif kind == "end":
                end = line
        except (ValueError, KeyError, TypeError) as exc:
            if header is None:
                raise RebuildError(f"{path}:{number}: not a gameday record ({exc})") from None
            warnings.append(f"{path.name}:{number}: unreadable line skipped (a torn write?)")
    if header is None or timeline is None:
        raise RebuildError(f"{path} is empty: the runner stopped before recording anything")
    return header, timeline, end, warnings


def _scenario(run_dir: Path, header: dict[str, Any]) -> Scenario:
    candidates = [run_dir / SCENARIO_COPY, Path(str(header.get("scenario_path") or ""))]
    problems: list[str] = []
    for path in candidates:
        if not path.is_file():
            continue
        try:
            return load_scenario(path)
        except ScenarioError as exc:
            problems.append(f"{path}: {exc}")
    raise RebuildError(
        "the scenario this run used cannot be read: " + ("; ".join(problems) or "no copy kept")
    )


def _journal(run_dir: Path) -> JournalState | None:
    if not (run_dir / JOURNAL_FILE).is_file():
        return None
    try:
        return read_journal(run_dir / JOURNAL_FILE)
    except JournalError:
        return None


def _add_reverts_by_recover(timeline: Timeline, journal: JournalState) -> None:
    """Reverts the runner never saw (done by `gameday recover`), at their journaled times."""
    reverted = {e.name for e in timeline.events if e.kind == FAULT_REVERTED}
    injected = {e.name for e in timeline.events if e.kind == FAULT_INJECTED}
    for label, plan_id in journal.labels.items():
        entry = journal.plans[plan_id]
        done_by_recover = label in injected and label not in reverted
        if done_by_recover and entry.status == "reverted" and entry.changed_mono is not None:
            detail = {"action": entry.plan.action, "by": "recover"}
            timeline.events.append(Event(entry.changed_mono, FAULT_REVERTED, label, detail))


def _last_t(timeline: Timeline) -> float:
    times = [e.t for e in timeline.events]
    times += [s.t + (s.latency or s.ended or 0.0) for ss in timeline.samples.values() for s in ss]
    times += [w.t_mono for w in timeline.traffic]
    return max(times, default=timeline.clock.start)


def _existing(path: object) -> Path | None:
    return Path(str(path)) if path and Path(str(path)).is_file() else None
