"""Write-ahead journal of a drill: every fault is on disk (fsync'd) before it is touched.

One JSON object per line in ``<run dir>/journal.jsonl``. A runner that dies, even by
SIGKILL or power loss, leaves enough behind for ``gameday recover`` to undo what it did:
``fault.planned`` is written before ``apply``, so a plan journaled but maybe never applied
is still reverted (reverting is idempotent). An index of active drills
(``.gameday/runs/active/<run_id>.json``) lets ``recover`` find journals without a path.

While a runner lives it holds a shared ``flock`` on its journal: that, not the pid
alone, is how ``recover`` knows a runner is alive (pids are reused, flocks die with
their holder).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..targets.base import FaultPlan

JOURNAL_FILE = "journal.jsonl"
JOURNAL_VERSION = 1

log = logging.getLogger("gameday.journal")

PlanStatus = Literal["planned", "applied", "reverted", "revert_failed"]
# record kinds that move a plan on; "fault.failed" (apply raised) leaves it possibly half applied
_STATUS: dict[str, PlanStatus] = {
    "fault.applied": "applied",
    "fault.failed": "applied",
    "fault.reverted": "reverted",
    "fault.revert_failed": "revert_failed",
}


class JournalError(Exception):
    """The journal cannot be written or read; the message is for the operator."""


def gameday_home() -> Path:
    """Where run bookkeeping lives: ``$GAMEDAY_HOME`` or ``./.gameday``."""
    return Path(os.environ.get("GAMEDAY_HOME") or ".gameday").expanduser().absolute()


def default_index_dir() -> Path:
    """Directory of the active-drill index."""
    return gameday_home() / "runs" / "active"


def utc_stamp(now: datetime | None = None) -> str:
    """Compact UTC timestamp used in run directory names, e.g. 20240501T120000Z."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def run_dir_for(
    scenario: str, reports_dir: Path = Path("reports"), now: datetime | None = None
) -> Path:
    """``reports/<scenario>-<utc>``: the run directory of a new drill (not created)."""
    return reports_dir / f"{scenario}-{utc_stamp(now)}"


def proc_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (/proc/<pid>/stat field 22); None if gone.

    Together with the pid it names one process for good: a reused pid has a later start.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def proc_cmdline(pid: int) -> str:
    """Command line of ``pid``, arguments joined by spaces ('' when gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def process_matches(pid: int, start_ticks: int | None, cmdline: str = "") -> bool:
    """Whether ``pid`` is still the very process journaled: same start time, else same cmdline.

    With neither known the answer is False: never signal a pid that may have been reused.
    """
    now = proc_start_ticks(pid)
    if now is None:
        return False
    if start_ticks is not None:
        return now == start_ticks
    return bool(cmdline) and proc_cmdline(pid) == cmdline


def _fsync_dir(path: Path) -> None:
    # a new file's directory entry must be durable too, or the whole file can vanish
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durable_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, json.dumps(data, indent=2).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Journal:
    """An open journal, appended to by one runner (thread-safe)."""

    def __init__(self, path: Path, fd: int, run_id: str, index_dir: Path | None) -> None:
        self.path = path
        self.run_id = run_id
        self.index_dir = index_dir
        self._fd = fd
        self._lock = threading.Lock()
        self._seq = 0
        self._plans: dict[str, PlanStatus] = {}
        self._labels: dict[str, str] = {}  # fault label -> latest plan id

    # --- opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        run_dir: Path,
        *,
        run_id: str | None = None,
        index_dir: Path | None = None,
        hold: bool = True,
    ) -> Journal:
        """Open (create) ``run_dir/journal.jsonl`` for appending.

        ``hold``: take the shared flock that marks a live runner (``recover`` passes False).
        ``index_dir``: active-drill index (default ``.gameday/runs/active``).
        """
        run_dir = Path(run_dir).absolute()
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / JOURNAL_FILE
        existed = path.exists()
        # O_CLOEXEC: a Locust child must not inherit the flock and fake a live runner
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if hold:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise JournalError(f"{path} is being recovered by another process") from None
        if not existed:
            _fsync_dir(run_dir)
        journal = cls(path, fd, run_id or "", index_dir or default_index_dir())
        if existed:
            state = read_journal(path)
            journal._seq = state.last_seq
            journal.run_id = journal.run_id or state.run_id
            journal._plans = {pid: p.status for pid, p in state.plans.items()}
            journal._labels = {p.plan.fault: pid for pid, p in state.plans.items()}
            journal._repair_tail()
        if not journal.run_id:
            journal.run_id = f"{run_dir.name}-{secrets.token_hex(3)}"
        return journal

    def _repair_tail(self) -> None:
        # after a torn write the file may not end in a newline: start the next record cleanly
        with self.path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
        if last != b"\n":
            os.write(self._fd, b"\n")
            os.fsync(self._fd)

    def close(self, clean: bool | None = None) -> None:
        """Close the file (releases the live-runner flock).

        ``clean=True``: nothing is left applied, drop the drill from the active index;
        ``False``: keep it there for ``gameday recover``; None: decided by ``drill.finished``.
        """
        if clean:
            self._unregister()
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one record and fsync it before returning; returns the record.

        Generic records are completed here, so a caller using only ``record`` gets the
        same guarantees as the typed helpers: ``drill.started`` registers the drill and
        notes the runner's start time; ``process.started`` notes the process's start time
        and cmdline (recover never kills a reused pid); ``drill.finished`` unregisters
        the drill when nothing is pending.
        """
        if kind == "drill.started":
            fields.setdefault("version", JOURNAL_VERSION)
            fields.setdefault("pid", os.getpid())
            fields.setdefault("pid_start", proc_start_ticks(int(fields["pid"])))
            fields.setdefault("started_wall", datetime.now(UTC).isoformat(timespec="seconds"))
        elif kind == "process.started":
            pid = int(fields["pid"])
            fields.setdefault("start_ticks", proc_start_ticks(pid))
            fields.setdefault("cmdline", proc_cmdline(pid))
        elif kind == "fault.planned":
            plan = fields["plan"]
            fields["plan"] = plan = plan.to_json() if isinstance(plan, FaultPlan) else dict(plan)
            fields.setdefault("plan_id", f"p{self._seq + 1}-{plan.get('fault', 'fault')}")
        with self._lock:
            if self._fd < 0:
                raise JournalError(f"{self.path} is closed")
            self._seq += 1
            entry: dict[str, Any] = {
                "seq": self._seq,
                "kind": kind,
                "run_id": self.run_id,
                "t_wall": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "t_mono": round(time.monotonic(), 6),
                **fields,
            }
            line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode()
            # one write(2) with O_APPEND: concurrent appenders cannot interleave inside a line
            written = os.write(self._fd, line)
            if written != len(line):
                raise JournalError(f"short write to {self.path}")
            os.fsync(self._fd)
            self._track(entry)
        if kind == "drill.started":
            self._register()
        elif kind == "drill.finished" and not self.pending():
            self._unregister()
        return entry

    def _track(self, entry: Mapping[str, Any]) -> None:
        kind = entry["kind"]
        if kind == "fault.planned":
            self._plans[str(entry["plan_id"])] = "planned"
            self._labels[str(entry["plan"].get("fault"))] = str(entry["plan_id"])
            return
        status = _STATUS.get(kind)
        if status is None:
            return
        plan_id = entry.get("plan_id") or self._labels.get(str(entry.get("fault")))
        if plan_id in self._plans and status is not None:
            self._plans[str(plan_id)] = status

    def drill_started(self, scenario: str, driver: str, spec: Mapping[str, Any]) -> None:
        """First record: who runs the drill and how to rebuild its target; registers it as active."""
        self.record("drill.started", scenario=scenario, driver=driver, spec=dict(spec))

    def target_started(self, driver: str, spec: Mapping[str, Any]) -> None:
        """The drill brought its target up itself (recover stops it again)."""
        self.record("target.started", driver=driver, spec=dict(spec))

    def target_stopped(self, driver: str, spec: Mapping[str, Any]) -> None:
        """The target the drill started was stopped."""
        self.record("target.stopped", driver=driver, spec=dict(spec))

    def fault_planned(self, plan: FaultPlan) -> str:
        """Journal a plan before it is applied; returns its plan id."""
        return str(self.record("fault.planned", plan=plan.to_json())["plan_id"])

    def fault_applied(self, plan_id: str, result: Mapping[str, Any] | None = None) -> None:
        """The plan was applied (with the driver's confirmation)."""
        self.record("fault.applied", plan_id=plan_id, result=dict(result or {}))

    def fault_reverted(
        self, plan_id: str, result: Mapping[str, Any] | None = None, by: str = "runner"
    ) -> None:
        """The plan was reverted."""
        self.record("fault.reverted", plan_id=plan_id, result=dict(result or {}), by=by)

    def fault_revert_failed(self, plan_id: str, error: str, by: str = "runner") -> None:
        """Reverting failed; the plan stays pending for ``gameday recover``."""
        self.record("fault.revert_failed", plan_id=plan_id, error=error, by=by)

    def process_started(self, pid: int, role: str, *, group: bool = False) -> None:
        """A helper process (e.g. Locust) that must not outlive the drill.

        ``group``: the process leads its own process group; recover stops the whole group.
        """
        self.record("process.started", pid=pid, role=role, group=group)

    def process_stopped(self, pid: int) -> None:
        """The helper process ended."""
        self.record("process.stopped", pid=pid)

    def pending(self) -> list[str]:
        """Plan ids still possibly applied (planned, applied, apply or revert failed)."""
        return [p for p, status in self._plans.items() if status != "reverted"]

    def drill_finished(self, verdict: str, **fields: Any) -> None:
        """Last record; unregisters the drill unless a fault is still pending."""
        self.record("drill.finished", verdict=verdict, pending=self.pending(), **fields)

    def drill_recovered(self, by_pid: int, reverted: list[str]) -> None:
        """``gameday recover`` cleaned up after a dead runner; unregisters the drill."""
        self.record("drill.recovered", by_pid=by_pid, reverted=reverted)
        self._unregister()

    # --- active index -------------------------------------------------------------------

    def _index_path(self) -> Path | None:
        return self.index_dir / f"{self.run_id}.json" if self.index_dir else None

    def _register(self) -> None:
        path = self._index_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_durable_json(
            path, {"run_id": self.run_id, "journal": str(self.path), "pid": os.getpid()}
        )

    def _unregister(self) -> None:
        path = self._index_path()
        if path is not None:
            path.unlink(missing_ok=True)


# --- reading ------------------------------------------------------------------------------


@dataclass
class PlanEntry:
    """One journaled plan and how far it got."""

    plan_id: str
    plan: FaultPlan
    seq: int
    status: PlanStatus = "planned"
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

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
        """Anything left to undo: a pending plan, a live helper process, a target it started."""
        return bool(self.pending() or self.live_processes() or self.target_started)


def journal_held(path: Path) -> bool:
    """Whether some process holds the journal's flock (a live runner, or a recover in progress)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe lock too
    return False


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[bool]:
    """Hold the journal's flock exclusively (recover); yields False when someone else holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def read_journal(path: Path) -> JournalState:
    """Replay a journal. A torn last line is ignored with a warning; so is any corrupt line."""
    path = Path(path)
    state = JournalState(path=path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise JournalError(f"no journal at {path}") from None
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
        _apply_record(state, rec)
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
    elif kind == "target.started":
        state.target_started = True
    elif kind == "target.stopped":
        state.target_started = False
    elif kind == "fault.planned":
        plan = FaultPlan.from_json(rec["plan"])
        plan_id = str(rec.get("plan_id") or f"p{rec.get('seq', len(state.plans))}-{plan.fault}")
        state.plans[plan_id] = PlanEntry(plan_id, plan, int(rec.get("seq", 0)))
        state.labels[plan.fault] = plan_id
    elif kind in _STATUS:
        key = rec.get("plan_id") or state.labels.get(str(rec.get("fault")))
        entry = state.plans.get(str(key))
        if entry is None:
            ref = rec.get("plan_id") or rec.get("fault")
            state.warnings.append(f"{state.path}: {kind} for unknown plan {ref!r}")
            return
        entry.status = _STATUS[kind]
        entry.result = dict(rec.get("result") or rec.get("confirmation") or {})
        entry.error = rec.get("error")
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
    elif kind == "drill.recovered":
        state.recovered = True
        state.target_started = False


def active_journals(index_dir: Path | None = None) -> list[Path]:
    """Journals of every drill in the active index (running, or died without finishing)."""
    directory = index_dir or default_index_dir()
    out: list[Path] = []
    if not directory.is_dir():
        return out
    for entry in sorted(directory.glob("*.json")):
        try:
            data = json.loads(entry.read_text())
            out.append(Path(data["journal"]))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable index entry %s", entry)
    return out


def unregister(run_id: str, index_dir: Path | None = None) -> None:
    """Drop a drill from the active index."""
    ((index_dir or default_index_dir()) / f"{run_id}.json").unlink(missing_ok=True)


@dataclass(frozen=True)
class ActiveRun:
    """A drill in the active index."""

    run_id: str
    run_dir: Path
    journal: Path
    pid: int | None
    alive: bool


def active_runs(index_dir: Path | None = None, *, alive_only: bool = True) -> list[ActiveRun]:
    """Drills in the active index; by default only those whose runner is alive (`gameday ack`)."""
    out: list[ActiveRun] = []
    for path in active_journals(index_dir):
        try:
            state = read_journal(path)
        except JournalError:
            continue
        alive = state.runner_alive()
        if alive or not alive_only:
            out.append(ActiveRun(state.run_id, path.parent, path, state.pid, alive))
    return out
