"""Replay a journal into what it says: the drill, its plans and how far each got, its helpers."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...targets.base import FaultPlan
from .liveness import journal_held, process_matches
from .records import STATUS, JournalError, PlanStatus

log = logging.getLogger("gameday.journal")


@dataclass
class PlanEntry:
    """One journaled plan and how far it got."""

    plan_id: str
    plan: FaultPlan
    seq: int
    status: PlanStatus = "planned"
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    changed_mono: float | None = None  # monotonic time of the record that set `status`

    @property
    def pending(self) -> bool:
        """Possibly still in force: planned (maybe applied before a crash), applied, or revert failed."""
        return self.status != "reverted"


@dataclass
class ProcessEntry:
    """A helper process the runner started."""

    pid: int
    start_ticks: int | None
    role: str
    group: bool
    cmdline: str
    stopped: bool = False


@dataclass
class JournalState:
    """What a journal says, replayed."""

    path: Path
    run_id: str = ""
    pid: int | None = None
    pid_start: int | None = None
    scenario: str = ""
    driver: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    started_wall: str = ""
    finished: bool = False
    verdict: str | None = None
    recovered: bool = False
    target_started: bool = False
    target_starting: bool = False  # being brought up when the runner last wrote
    plans: dict[str, PlanEntry] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # fault label -> latest plan id
    processes: list[ProcessEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    last_seq: int = 0

    def pending(self) -> list[PlanEntry]:
        """Plans still possibly applied, in the order they were planned."""
        return sorted((p for p in self.plans.values() if p.pending), key=lambda p: p.seq)

    def live_processes(self) -> list[ProcessEntry]:
        """Helper processes not journaled as stopped and still the same process."""
        return [
            p
            for p in self.processes
            if not p.stopped and process_matches(p.pid, p.start_ticks, p.cmdline)
        ]

    def runner_alive(self) -> bool:
        """Whether the runner still holds its journal (flock), or at least its pid is the same process."""
        return journal_held(self.path) or (
            self.pid is not None
            and self.pid_start is not None
            and process_matches(self.pid, self.pid_start)
        )

    def needs_recovery(self) -> bool:
        """Anything left to undo: a pending plan, a live helper process, a target it started
        (or was starting: a half-started sandbox must be stopped too)."""
        return bool(
            self.pending() or self.live_processes() or self.target_started or self.target_starting
        )


def read_journal(path: Path) -> JournalState:
    """Replay a journal. A torn last line is ignored with a warning; so is any corrupt line."""
    path = Path(path)
    state = JournalState(path=path)
    if path.is_dir():
        # `--journal reports/<run>`: the run directory holds the journal
        path = path / "journal.jsonl"
        state.path = path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise JournalError(f"no journal at {path}") from None
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    lines = raw.split(b"\n")
    last_index = len(lines) - 1
    while last_index >= 0 and not lines[last_index].strip():
        last_index -= 1
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or "kind" not in rec:
                raise ValueError("not a journal record")
        except ValueError:
            torn = number - 1 == last_index and not raw.endswith(b"\n")
            what = "torn last line (interrupted write)" if torn else "corrupt line"
            msg = f"{path}:{number}: {what} ignored"
            state.warnings.append(msg)
            log.warning(msg)
            continue
        try:
            _apply_record(state, rec)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # well-formed JSON with the wrong shape: skip it, say so, replay the rest
            msg = f"{path}:{number}: malformed {rec.get('kind')!r} record ignored ({exc!r})"
            state.warnings.append(msg)
            log.warning(msg)
    return state


def _apply_record(state: JournalState, rec: dict[str, Any]) -> None:
    kind = rec["kind"]
    state.last_seq = max(state.last_seq, int(rec.get("seq", 0)))
    if kind == "drill.started":
        state.run_id = str(rec.get("run_id", ""))
        state.pid = rec.get("pid")
        state.pid_start = rec.get("pid_start")
        state.scenario = str(rec.get("scenario", ""))
        state.driver = str(rec.get("driver", ""))
        state.spec = dict(rec.get("spec", {}))
        state.started_wall = str(rec.get("started_wall", ""))
    elif kind == "target.starting":
        state.target_starting = True
    elif kind in ("target.started", "target.found"):
        state.target_started = kind == "target.started"
        state.target_starting = False
    elif kind == "target.stopped":
        state.target_started = state.target_starting = False
    elif kind == "fault.planned":
        plan = FaultPlan.from_json(rec["plan"])
        plan_id = str(rec.get("plan_id") or f"p{rec.get('seq', len(state.plans))}-{plan.fault}")
        state.plans[plan_id] = PlanEntry(plan_id, plan, int(rec.get("seq", 0)))
        state.labels[plan.fault] = plan_id
    elif kind in STATUS:
        key = rec.get("plan_id") or state.labels.get(str(rec.get("fault")))
        entry = state.plans.get(str(key))
        if entry is None:
            ref = rec.get("plan_id") or rec.get("fault")
            state.warnings.append(f"{state.path}: {kind} for unknown plan {ref!r}")
            return
        entry.status = STATUS[kind]
        entry.result = dict(rec.get("result") or rec.get("confirmation") or {})
        entry.error = rec.get("error")
        t_mono = rec.get("t_mono")
        entry.changed_mono = float(t_mono) if isinstance(t_mono, (int, float)) else None
    elif kind == "process.started":
        state.processes.append(
            ProcessEntry(
                pid=int(rec["pid"]),
                start_ticks=rec.get("start_ticks"),
                role=str(rec.get("role", "")),
                group=bool(rec.get("group", False)),
                cmdline=str(rec.get("cmdline", "")),
            )
        )
    elif kind == "process.stopped":
        for proc in state.processes:
            if proc.pid == rec.get("pid"):
                proc.stopped = True
    elif kind == "drill.finished":
        state.finished = True
        state.verdict = rec.get("verdict")
        state.target_starting = False  # the runner's own teardown dealt with it
    elif kind == "drill.recovered":
        state.recovered = True
        state.target_started = state.target_starting = False
