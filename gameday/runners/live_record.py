"""The drill's record written as it goes (``record.jsonl``): what a crash or SIGKILL leaves.

One JSON object per line: a header (how the run was asked for, the clock), then every probe,
sample, event and traffic window the timeline receives, in arrival order. Events are written
at once, samples and traffic in batches (at most ``FLUSH_S`` old). `gameday recover` and
`gameday report rebuild` turn a record that never got its report into one.

Before anything runs, the report directory is checked: gameday's own (or empty), writable, and
with room for the record a drill this long can make.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..analysis.timeline import Event, ProbeInfo, Sample, Timeline
from ..analysis.timeline_json import window_json
from ..scenarios.model import Scenario
from ..traffic.stats import TrafficWindow
from .record import DrillRecord, InvalidRun, RunOptions

RECORD_FILE = "record.jsonl"
RECORD_VERSION = 1
SCENARIO_COPY = "scenario.yaml"
FLUSH_S = 0.5
# marks a report directory as gameday's: only then may a run write into a non-empty one
REPORTS_MARKER = ".gameday-reports"
# what a run directory of an earlier version holds: such a directory is adopted, not refused
_RUN_FILES = ("report.json", "journal.jsonl", RECORD_FILE)
_ROOT_FILES = frozenset({REPORTS_MARKER, "junit.xml", "history.html", "history.json"})
# room asked for besides the estimate: renderings, the signature, the journal
_SLACK_BYTES = 8 << 20
# bytes per probe sample and per second of traffic, in the record and again in report.json
_SAMPLE_BYTES = 160
_SAMPLE_OPTIONAL = ("latency", "value", "detail", "late", "hops", "served_by", "hop_desc", "ended")
_TRAFFIC_BYTES_PER_S = 600


class DrillSpec(Protocol):
    """What the record needs of the drill that writes it."""

    run_dir: Path
    run_id: str
    scenario: Scenario
    scenario_path: Path
    timeline: Timeline
    options: RunOptions


class RecordUnwritable(InvalidRun):
    """The report directory cannot hold this drill's record; nothing has run yet (exit 2)."""


def expected_record_bytes(scenario: Scenario) -> int:
    """A generous estimate of the record and report a drill of this scenario can make."""
    limit = scenario.guardrails.max_duration
    probes = [*scenario.steady_state.probes, *scenario.evidence]
    samples = sum(limit / p.every for p in probes)
    traffic = limit * _TRAFFIC_BYTES_PER_S if scenario.traffic is not None else 0
    # written twice: record.jsonl as the drill goes, then report.json
    return int(2 * (samples * _SAMPLE_BYTES + traffic)) + _SLACK_BYTES


def claim_report_root(root: Path) -> None:
    """Make ``root`` gameday's report directory, or refuse it: gameday never writes among user files."""
    try:
        if root.is_dir() and not (root / REPORTS_MARKER).is_file():
            strangers = [p.name for p in root.iterdir() if not _ours(p)]
            if strangers:
                shown = ", ".join(sorted(strangers)[:3]) + (", …" if len(strangers) > 3 else "")
                raise RecordUnwritable(
                    f"the report directory {root} holds files gameday did not write ({shown}); "
                    "give an empty or new directory with --report-dir"
                )
        root.mkdir(parents=True, exist_ok=True)
        (root / REPORTS_MARKER).write_text("written by gameday: reports of drill runs\n")
    except OSError as exc:
        raise RecordUnwritable(
            f"the report directory {root} cannot be written: {_why(exc)}"
        ) from None


def _ours(path: Path) -> bool:
    if path.name in _ROOT_FILES:
        return True
    return path.is_dir() and any((path / name).exists() for name in _RUN_FILES)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_room(run_dir: Path, needed: int) -> None:
    """Refuse a drill whose record the disk has no room for."""
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise RecordUnwritable(
            f"{run_dir} has {free / 2**20:.1f} MiB free; a drill this long needs up to "
            f"{needed / 2**20:.1f} MiB for its record (free some space or shorten "
            "guardrails.max_duration)"
        )


@dataclass
class LiveRecord:
    """Appends the timeline to ``record.jsonl`` as it grows; a write failure is kept, not raised."""

    path: Path
    redact: Callable[[str], str]
    failed: str | None = None
    _fd: int = -1
    _pending: list[str] | None = None
    _last_flush: float = 0.0

    @classmethod
    def start(cls, drill: DrillSpec, redact: Callable[[str], str]) -> LiveRecord:
        """Check the report directory, open the record with its header and observe the timeline.

        Raises RecordUnwritable (exit 2) when the directory is not gameday's, not writable or
        too full: nothing has run yet.
        """
        run_dir, scenario, scenario_path = drill.run_dir, drill.scenario, drill.scenario_path
        clock, options = drill.timeline.clock, drill.options
        claim_report_root(run_dir.parent)
        try:
            run_dir.mkdir(parents=True)
        except OSError as exc:
            raise RecordUnwritable(f"{run_dir} cannot be made: {_why(exc)}") from None
        try:
            check_room(run_dir, expected_record_bytes(scenario))
            raw = scenario_path.read_bytes() if scenario_path.is_file() else b""
            if raw:
                # the exact scenario that ran: a record rebuilt later is judged against it
                (run_dir / SCENARIO_COPY).write_bytes(raw)
            fd = os.open(run_dir / RECORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except (OSError, RecordUnwritable) as exc:
            shutil.rmtree(run_dir, ignore_errors=True)  # made just now: a refused run leaves none
            if isinstance(exc, RecordUnwritable):
                raise
            raise RecordUnwritable(f"{run_dir} cannot be written: {_why(exc)}") from None
        record = cls(run_dir / RECORD_FILE, redact=redact, _fd=fd, _pending=[])
        record._write_now(
            {
                "kind": "header",
                "version": RECORD_VERSION,
                "run_id": drill.run_id,
                "pid": os.getpid(),
                "scenario_path": str(scenario_path.absolute()),
                "scenario_sha256": hashlib.sha256(raw).hexdigest(),
                "clock_start": clock.start,
                "start_wall": clock.start_wall.isoformat(),
                "options": _options_json(options),
            }
        )
        if record.failed:
            record.close()
            raise RecordUnwritable(record.failed)
        drill.timeline.observer = record
        return record

    # ------------------------------------------------------------------ the timeline's observer

    def __call__(self, kind: str, item: Any) -> None:
        """Timeline observer: queue one probe, sample, event or traffic window."""
        if self.failed:
            return
        line = _line(kind, item)
        assert self._pending is not None
        self._pending.append(line)
        now = time.monotonic()
        # events are few and decide the verdict: written at once; samples in batches
        if kind == "event" or now - self._last_flush >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Write what is queued; on failure keep why and write nothing more."""
        if not self._pending or self.failed or self._fd < 0:
            return
        data = self.redact("".join(self._pending)).encode()
        self._pending.clear()
        self._last_flush = time.monotonic()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            what = "the disk is full" if exc.errno == errno.ENOSPC else _why(exc)
            self.failed = f"the drill's record could not be written to {self.path}: {what}"

    def finish(self, record: DrillRecord) -> None:
        """Write how the drill ended (its end line) and close: a rebuild then matches the report."""
        if self._fd < 0:
            return
        self._write_now(
            {
                "kind": "end",
                "t": record.ended,
                "aborted": record.aborted,
                "error": record.error,
                "budget_warnings": record.budget_warnings,
                "unreverted": record.unreverted,
            }
        )
        self.close()

    def close(self) -> None:
        """Write what is queued and close."""
        if self._fd < 0:
            return
        self.flush()
        os.close(self._fd)
        self._fd = -1

    def _write_now(self, obj: Mapping[str, Any]) -> None:
        assert self._pending is not None
        self._pending.append(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
        self.flush()


def _line(kind: str, item: Any) -> str:
    body: dict[str, Any]
    if isinstance(item, Sample):
        # exact floats, not report.json's microseconds: a rebuilt report is the same report
        body = {"kind": "sample", "probe": item.probe, "t": item.t, "ok": item.ok}
        body |= {k: v for k in _SAMPLE_OPTIONAL if (v := getattr(item, k)) is not None}
        if not item.detail:
            del body["detail"]
        if not item.late:
            del body["late"]
    elif isinstance(item, Event):
        body = {"kind": "event", "t": item.t, "type": item.kind, "name": item.name}
        body["detail"] = dict(item.detail)
    elif isinstance(item, TrafficWindow):
        body = {"kind": "traffic", **window_json(item)}
    elif isinstance(item, ProbeInfo):
        body = {"kind": "probe", "name": item.name, "type": item.type}
        body |= {"every": item.every, "role": item.role}
    else:  # pragma: no cover - the timeline has no other streams
        raise TypeError(f"cannot record {kind}: {type(item).__name__}")
    return json.dumps(body, separators=(",", ":"), default=str) + "\n"


def _options_json(o: RunOptions) -> dict[str, Any]:
    return {
        "ci": o.ci,
        "operator": o.operator,
        "sign_key": str(o.sign_key.absolute()) if o.sign_key else None,
        "approver": o.approver,
        "participants": list(o.participants),
        "findings": str(o.findings.absolute()) if o.findings else None,
    }
