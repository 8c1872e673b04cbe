"""The journal a runner appends to: each record fsync'd before the fault it announces is touched."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...targets.base import FaultPlan
from .durable import fsync_dir
from .index import register, unregister
from .liveness import proc_cmdline, proc_start_ticks
from .paths import default_index_dir
from .reader import read_journal
from .records import JOURNAL_FILE, JOURNAL_VERSION, STATUS, JournalError, PlanStatus


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
        ``index_dir``: active-drill index (default: the gameday home's ``runs/active``).
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
            fsync_dir(run_dir)
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
            try:
                # one write(2) with O_APPEND: concurrent appenders cannot interleave in a line
                written = os.write(self._fd, line)
                os.fsync(self._fd)
            except OSError as exc:
                self._seq -= 1
                raise JournalError(
                    f"the journal {self.path} cannot be written: {exc.strerror or exc}"
                ) from None
            if written != len(line):
                raise JournalError(f"short write to {self.path}")
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
        status = STATUS.get(kind)
        if status is None:
            return
        plan_id = entry.get("plan_id") or self._labels.get(str(entry.get("fault")))
        if plan_id in self._plans and status is not None:
            self._plans[str(plan_id)] = status

    def drill_started(self, scenario: str, driver: str, spec: Mapping[str, Any]) -> None:
        """First record: who runs the drill and how to rebuild its target; registers it as active."""
        self.record("drill.started", scenario=scenario, driver=driver, spec=dict(spec))

    def target_starting(self, driver: str, spec: Mapping[str, Any]) -> None:
        """The drill is about to bring its target up, if it is not running: a runner killed
        meanwhile leaves a half-started target that recover stops (``spec`` says where)."""
        self.record("target.starting", driver=driver, spec=dict(spec))

    def target_ready(self, driver: str, spec: Mapping[str, Any], *, started: bool) -> None:
        """The target runs: brought up by this drill (``started``; recover stops it again),
        or found running (someone else's: never stopped)."""
        self.record("target.started" if started else "target.found", driver=driver, spec=dict(spec))

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

    def _register(self) -> None:
        if self.index_dir is not None:
            register(self.run_id, self.path, self.index_dir)

    def _unregister(self) -> None:
        if self.index_dir is not None:
            unregister(self.run_id, self.index_dir)
