"""A suite's own record, ``<report-dir>/<suite>-<utc>/``: suite.json, suite.md and junit.xml.

suite.json is written when the suite starts (status running, every scenario pending) and
again as each scenario starts and ends, so a runner that dies leaves it saying how far it got;
`gameday recover` marks such a suite aborted (`complete_suites`). The renderings are made
from suite.json and the report.json of each run it links to (redacted, as stored).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.markup import escape

from ..analysis.verdict import Verdict, worst
from ..runners.journal import proc_start_ticks, process_matches, utc_stamp, write_durable_json
from ..runners.live_record import claim_report_root
from ..runners.lost_console import GuardedView
from ..runners.record import DrillRecord
from ..runners.suite import Finished, SuiteOutcome
from ..scenarios.model import Scenario, Suite
from .deliver import deliver
from .render import REPORT_JSON
from .report import Report
from .suite_render import print_suite, write_renderings

SUITE_JSON = "suite.json"
SUITE_SCHEMA = "gameday.suite/v1"
RUNNER_DIED = "aborted: runner died"


@dataclass
class SuiteRecord:
    """The suite directory and the suite.json it keeps up to date."""

    directory: Path
    data: dict[str, Any]
    out: Console
    err: Console

    @classmethod
    def start(
        cls,
        suite: Suite,
        suite_path: Path,
        members: Sequence[tuple[Path, Scenario]],
        report_root: Path,
        *,
        operator: str,
        out: Console,
        err: Console,
    ) -> SuiteRecord:
        """Make the suite directory and its suite.json; raises RecordUnwritable (exit 2)."""
        claim_report_root(report_root)
        started = datetime.now(UTC)
        directory = _new_dir(report_root, f"{suite.name}-{utc_stamp(started)}")
        pid = os.getpid()
        data: dict[str, Any] = {
            "schema": SUITE_SCHEMA,
            "suite": suite.name,
            "description": suite.description,
            "path": str(suite_path),
            "status": "running",
            "verdict": None,
            "exit_code": None,
            "reason": "",
            "stopped": None,
            "started": _iso(started),
            "ended": None,
            "operator": operator,
            "runner": {"pid": pid, "start_ticks": proc_start_ticks(pid), "host": _host()},
            "audit": suite.audit.model_dump(mode="json"),
            "scenarios": [
                {
                    "name": scenario.name,
                    "path": str(path),
                    "status": "pending",
                    "verdict": None,
                    "exit_code": None,
                    "reason": "",
                    "run_id": None,
                    "link": None,
                }
                for path, scenario in members
            ],
            "participants": [],
            "manual_steps": [],
        }
        record = cls(directory, data, out, err)
        record.save()
        return record

    def save(self) -> None:
        """Write suite.json as it stands now (whole or not at all)."""
        write_durable_json(self.directory / SUITE_JSON, self.data)

    def starting(self, index: int, view: GuardedView) -> GuardedView:
        """Mark scenario ``index`` running and say so; returns the drill's view."""
        entry = self.data["scenarios"][index]
        entry["status"] = "running"
        self.save()
        total = len(self.data["scenarios"])
        with contextlib.suppress(OSError):  # a lost console is the drill's view to find
            self.out.print(f"[bold]scenario {index + 1} of {total}[/bold]: {entry['name']}")
        return view

    def finish(self, index: int, record: DrillRecord, view: GuardedView) -> Finished:
        """Publish the drill's report, print its summary and record it in suite.json."""
        entry = self.data["scenarios"][index]
        entry.update(run_id=record.run_id, link=_link(self.directory, record.run_dir))
        delivered = deliver(record, view, self.out, self.err)
        published = delivered.published
        if published is None:
            done = Finished(
                Verdict.ERROR,
                Verdict.ERROR.exit_code,
                delivered.failure or "its report could not be written",
                record.run_dir,
                halt="a report could not be written",
            )
        else:
            done = Finished(
                published.verdict,
                published.exit_code,
                published.reason,
                published.run_dir,
                halt=delivered.failure,
                halt_verdict=None if delivered.failure is None else Verdict.ERROR,
            )
        self._record(entry, done)
        return done

    def _record(self, entry: dict[str, Any], done: Finished) -> None:
        entry.update(
            status="finished",
            verdict=done.verdict.value,
            exit_code=done.exit_code,
            reason=done.reason,
        )
        self.save()

    def _say_error(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.err.print(f"[red]error[/red]: {escape(text)}")

    def close(self, outcome: SuiteOutcome) -> int:
        """Write the suite's verdict and renderings, print its summary; returns its exit code."""
        for finished, entry in zip(outcome.finished, self.data["scenarios"], strict=False):
            if finished.run_dir is None:  # refused before it made a run directory
                self._say_error(f"{entry['path']}: {finished.reason}")
                entry.update(
                    status="refused",
                    verdict=finished.verdict.value,
                    exit_code=finished.exit_code,
                    reason=finished.reason,
                )
        stop = outcome.stop
        never = len(self.data["scenarios"]) - len(outcome.finished)
        if stop is not None and never:
            with contextlib.suppress(OSError):
                self.out.print(f"stopping: {escape(stop.why)}; {never} scenario(s) not run")
        conclude(
            self.directory,
            self.data,
            outcome.verdict,
            stop=None if stop is None else (stop.at, stop.why),
            aborted=stop is not None and stop.aborted,
        )
        with contextlib.suppress(OSError):
            print_suite(self.out, self.data, self.directory)
        return outcome.verdict.exit_code


def conclude(
    directory: Path,
    data: dict[str, Any],
    verdict: Verdict,
    *,
    stop: tuple[str, str] | None,
    aborted: bool,
) -> None:
    """Close suite.json (scenarios never run say where the suite stopped) and render it."""
    for entry in data["scenarios"]:
        if entry["status"] in ("pending", "running"):
            where = "the suite stopped" + (f" at {stop[0]} ({stop[1]})" if stop else "")
            entry.update(status="not run", reason=f"not run: {where}")
    reports = _reports(directory, data)
    data.update(
        status="aborted" if aborted else "finished",
        verdict=verdict.value,
        exit_code=verdict.exit_code,
        reason=_reason(data, stop),
        stopped=None if stop is None else {"at": stop[0], "why": stop[1]},
        ended=_iso(datetime.now(UTC)),
        participants=_participants(reports),
        manual_steps=_manual_timeline(reports),
    )
    write_durable_json(directory / SUITE_JSON, data)
    write_renderings(directory, data, [report for _, report in reports])


def _reason(data: dict[str, Any], stop: tuple[str, str] | None) -> str:
    if stop is not None:
        return f"stopped at {stop[0]}: {stop[1]}"
    entries = data["scenarios"]
    failed = [e["name"] for e in entries if e["verdict"] != Verdict.PASSED.value]
    if not failed:
        return f"all {len(entries)} scenarios passed"
    return f"{len(failed)} of {len(entries)} scenarios did not pass: {', '.join(failed)}"


def _reports(directory: Path, data: dict[str, Any]) -> list[tuple[str, Report]]:
    """(scenario, report) of every run the suite links to whose report.json can be read."""
    out: list[tuple[str, Report]] = []
    for entry in data["scenarios"]:
        if not entry.get("link"):
            continue
        try:
            raw = json.loads((directory / entry["link"] / REPORT_JSON).read_bytes())
            out.append((entry["name"], Report.from_json(raw)))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a run without a report: its row says why
    return out


def _participants(reports: Sequence[tuple[str, Report]]) -> list[dict[str, str]]:
    """Everyone the scenarios' reports name: their audit participants and who acknowledged steps."""
    from .audit import effective_audit

    roles: dict[str, list[str]] = {}
    for _, report in reports:
        for person in effective_audit(report).get("participants", []):
            roles.setdefault(str(person["name"]), []).append(str(person["role"]))
        for step in report.manual_steps:
            if step.by:
                roles.setdefault(step.by, []).append(f"acknowledged {step.name}")
    return [
        {"name": name, "role": ", ".join(dict.fromkeys(role_list))}
        for name, role_list in roles.items()
    ]


def _manual_timeline(reports: Sequence[tuple[str, Report]]) -> list[dict[str, Any]]:
    """Every scenario's manual steps on one wall-clock timeline: deadline, when done, by whom."""
    rows: list[dict[str, Any]] = []
    for name, report in reports:
        clock = report.clock()
        injected = [f.injected_t for f in report.faults if f.injected_t is not None]
        t_inj = min(injected) if injected else None
        for step in report.manual_steps:
            deadline = None if t_inj is None else t_inj + step.deadline_s
            rows.append(
                {
                    "scenario": name,
                    "step": step.name,
                    "owner": step.owner,
                    "optional": step.optional,
                    "deadline": None if deadline is None else _iso(clock.wall(deadline)),
                    "done": None if step.done_t is None else _iso(clock.wall(step.done_t)),
                    "by": step.by,
                    "met": step.met,
                }
            )
    rows.sort(key=lambda r: r["done"] or r["deadline"] or "~")
    return rows


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def _new_dir(root: Path, name: str) -> Path:
    """``root/name``, or ``root/name-2`` ... when a suite started in the same second."""
    for n in range(1, 100):
        path = root / (name if n == 1 else f"{name}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{root / name}: too many suites started in one second")


def _link(directory: Path, run_dir: Path) -> str:
    """The run directory relative to the suite directory: the pair can be moved together."""
    return os.path.relpath(run_dir, directory)


def _host() -> str:
    return socket.gethostname() or "localhost"


# ---------------------------------------------------------------------------- recover


def complete_suites(run_dir: Path) -> list[str]:
    """For `gameday recover`: mark aborted the suites whose dead runner was running ``run_dir``.

    Such a suite's suite.json still says running; the scenario it was running gets its run
    (and the report recover just rebuilt), the rest "not run", the suite "aborted: runner died".
    """
    lines: list[str] = []
    for path in sorted(run_dir.parent.glob(f"*/{SUITE_JSON}")):
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("schema") != SUITE_SCHEMA:
            continue
        entry = _running_entry(data, run_dir)
        if entry is None or data.get("status") != "running" or _alive(data):
            continue
        entry.update(run_id=run_dir.name, link=_link(path.parent, run_dir))
        report = _stored_report(run_dir)
        if report is not None:
            entry.update(
                status="finished",
                verdict=report["verdict"],
                exit_code=report["exit_code"],
                reason=report.get("reason", ""),
            )
        ran = [Verdict(e["verdict"]) for e in data["scenarios"] if e.get("verdict")]
        conclude(
            path.parent,
            data,
            worst([*ran, Verdict.ABORTED]),
            stop=(entry["name"], RUNNER_DIED),
            aborted=True,
        )
        lines.append(f"marked suite {data.get('suite')} {RUNNER_DIED} in {path.parent}")
    return lines


def _running_entry(data: dict[str, Any], run_dir: Path) -> dict[str, Any] | None:
    """The scenario entry that ran ``run_dir`` (its run id starts with the scenario's name)."""
    entries: list[dict[str, Any]] = data.get("scenarios", [])
    for entry in entries:
        if entry.get("run_id") == run_dir.name:
            return entry
        if entry.get("status") == "running" and run_dir.name.startswith(f"{entry['name']}-"):
            return entry
    return None


def _alive(data: dict[str, Any]) -> bool:
    runner = data.get("runner") or {}
    if runner.get("host") != _host() or not isinstance(runner.get("pid"), int):
        return False
    return process_matches(runner["pid"], runner.get("start_ticks"))


def _stored_report(run_dir: Path) -> dict[str, Any] | None:
    try:
        data: object = json.loads((run_dir / REPORT_JSON).read_bytes())
    except (OSError, ValueError):
        return None
    return cast(dict[str, Any], data) if isinstance(data, dict) and "verdict" in data else None
