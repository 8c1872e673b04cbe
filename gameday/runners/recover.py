"""`gameday recover`: undo what a dead runner left applied, from its journal alone.

For each journal whose runner is gone: stop its journaled helper processes (only if the
pid is still the very process journaled), revert every still-pending plan in reverse
order with a driver rebuilt from the plan's spec, journal each revert, and stop the
target if the runner had started it or was starting it. Running it again finds nothing
to recover. Without a path it reads every index this user's drills register in (the
gameday home, whatever the working directory, and the legacy ``./.gameday``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..analysis.verdict import Verdict
from ..targets.base import Target, TargetError
from ..targets.registry import target_from_spec
from .journal import (
    Journal,
    JournalError,
    JournalState,
    ProcessEntry,
    exclusive,
    index_entries,
    process_matches,
    read_journal,
    search_index_dirs,
    unregister,
)

Outcome = Literal["recovered", "nothing", "refused", "failed"]
EXIT_OK, EXIT_ERROR = Verdict.PASSED.exit_code, Verdict.ERROR.exit_code


@dataclass
class JournalOutcome:
    """What recover did with one journal."""

    journal: Path
    run_id: str
    scenario: str
    outcome: Outcome
    message: str = ""
    reverted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (plan id, error)
    killed: list[int] = field(default_factory=list)
    target_stopped: bool = False
    half_started: bool = False  # the runner died while bringing its target up
    warnings: list[str] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        """The run directory the journal belongs to."""
        return self.journal.parent if self.journal.is_file() else self.journal


@dataclass
class RecoverReport:
    """Every journal looked at."""

    items: list[JournalOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing was refused."""
        return all(i.outcome in ("recovered", "nothing") for i in self.items)

    @property
    def nothing_to_recover(self) -> bool:
        """No journal needed anything."""
        return all(i.outcome == "nothing" for i in self.items)


def recover(
    journal_paths: Sequence[Path] | None = None,
    *,
    force: bool = False,
    index_dir: Path | None = None,
    keep_target: bool = False,
) -> RecoverReport:
    """Recover the given journals, or every journal in the active-drill index.

    A journal whose runner is alive is refused unless ``force``. With no paths, live
    drills in the index are reported and left alone. ``keep_target``: leave a target
    the dead runner started running.
    """
    explicit = journal_paths is not None
    if journal_paths is not None:
        found = [(Path(path), index_dir) for path in journal_paths]
    else:
        # each drill is unregistered from the index that listed it (maybe a legacy one)
        found = [(e.journal, e.index_dir) for e in index_entries(index_dir)]
    report = RecoverReport()
    for path, listed_in in found:
        report.items.append(_recover_one(path, force, listed_in, keep_target, explicit))
    return report


def _recover_one(
    path: Path, force: bool, index_dir: Path | None, keep_target: bool, explicit: bool
) -> JournalOutcome:
    try:
        state = read_journal(path)
    except JournalError as exc:
        return JournalOutcome(path, "", "", "failed", str(exc))
    path = state.path  # `--journal` may name the run directory
    out = JournalOutcome(
        path, state.run_id, state.scenario, "nothing", warnings=list(state.warnings)
    )
    if state.runner_alive() and not force:
        out.outcome = "refused" if explicit else "nothing"
        out.message = (
            f"the runner of {state.run_id or path} (pid {state.pid}) is still alive; it reverts "
            "its own faults (stop it, or pass --force to recover anyway)"
        )
        return out
    with exclusive(path) as got:
        if not got and not force:
            out.outcome = "refused"
            out.message = f"{path} is held by another process (a live runner or another recover)"
            return out
        state = read_journal(path)  # re-read under the lock: a racing recover may have finished
        if not state.needs_recovery():
            if state.run_id and not (state.finished or state.recovered):
                # a runner that died with nothing in force: its journal still gets an end
                with contextlib.suppress(JournalError):
                    closing = Journal.open(
                        path.parent, run_id=state.run_id, index_dir=index_dir, hold=False
                    )
                    closing.drill_recovered(os.getpid(), [])
                    closing.close()
            if state.run_id:
                unregister(state.run_id, index_dir)
            out.message = "nothing to recover"
            return out
        journal = Journal.open(path.parent, run_id=state.run_id, index_dir=index_dir, hold=False)
        try:
            _do_recover(state, journal, out, keep_target)
        finally:
            journal.close()
    return out


def _do_recover(
    state: JournalState, journal: Journal, out: JournalOutcome, keep_target: bool
) -> None:
    by = f"recover:{os.getpid()}"
    # load first: stop the traffic before touching the target
    for proc in state.live_processes():
        if _stop_process(proc):
            out.killed.append(proc.pid)
        journal.process_stopped(proc.pid)
    drivers: dict[str, Target] = {}
    try:
        pending = list(reversed(state.pending()))
        failed: list[tuple[Any, str]] = []
        # a revert may need another fault gone first (a rejoin over a slowed link): what
        # failed gets a second try once every other one is reverted
        for _ in range(2):
            failed = []
            for entry in pending:
                plan = entry.plan
                key = f"{plan.driver}:{sorted(plan.spec.items())}"
                try:
                    if key not in drivers:
                        drivers[key] = target_from_spec(plan.driver, plan.spec)
                    result = drivers[key].revert(plan)
                except (TargetError, OSError) as exc:
                    journal.fault_revert_failed(entry.plan_id, str(exc), by=by)
                    failed.append((entry, str(exc)))
                    continue
                journal.fault_reverted(entry.plan_id, dict(result), by=by)
                out.reverted.append(f"{plan.fault} ({plan.action}: {', '.join(plan.touches)})")
            pending = [entry for entry, _ in failed]
            if not pending:
                break
        out.failed.extend((f"{e.plan.fault} ({e.plan.action})", error) for e, error in failed)
        stop = state.target_started or state.target_starting
        if stop and not keep_target and not out.failed:
            out.target_stopped = _stop_target(state, journal)
            out.half_started = out.target_stopped and state.target_starting
    finally:
        for driver in drivers.values():
            driver.close()
    if out.failed:
        out.outcome = "failed"
        # the drill stays in the active index: the next recover retries what failed
        out.message = (
            f"{len(out.failed)} revert(s) failed; the journal keeps them pending: fix the cause, "
            f"then run `gameday recover --journal {journal.path}` again"
        )
        return
    journal.drill_recovered(os.getpid(), out.reverted)
    out.outcome = "recovered"
    out.message = "recovered"


def _stop_target(state: JournalState, journal: Journal) -> bool:
    """Stop a target the dead runner had started itself (the sandbox); False if none."""
    try:
        stopped = target_from_spec(state.driver, state.spec).stop_started()
    except TargetError:
        return False
    if stopped:
        journal.target_stopped(state.driver, state.spec)
    return stopped


def _stop_process(proc: ProcessEntry, grace_s: float = 3.0) -> bool:
    """SIGTERM then SIGKILL one journaled process (its group when it led one); False if not ours."""
    if not process_matches(proc.pid, proc.start_ticks, proc.cmdline):
        return False

    def send(sig: signal.Signals) -> None:
        try:
            if proc.group and os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, sig)
            else:
                os.kill(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    send(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not process_matches(proc.pid, proc.start_ticks, proc.cmdline):
            return True
        time.sleep(0.05)
    # still the same process (checked right before): it ignored SIGTERM
    if process_matches(proc.pid, proc.start_ticks, proc.cmdline):
        send(signal.SIGKILL)
    return True


# --- CLI ---------------------------------------------------------------------------------


def cmd_recover(
    journal: Path | None,
    force: bool,
    *,
    index_dir: Path | None = None,
    complete: Callable[[Path], str | None] | None = None,
) -> int:
    """`gameday recover [--journal PATH] [--force]`: print what was reverted; 0 clean, 4 failed.

    ``complete(run_dir)``, called for each run recovered, writes the report its runner never
    did and returns a line to print (the reports layer's job, handed in).
    """
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    report = recover([journal] if journal else None, force=force, index_dir=index_dir)
    if complete is not None:
        # a dead runner with nothing left in force (killed before its first fault) still
        # owes its record a report
        for item in report.items:
            if item.outcome == "nothing" and item.message == "nothing to recover":
                line = complete(item.run_dir)
                if line:
                    console.print(f"{escape(item.run_id or str(item.journal))}: {escape(line)}")
    if not report.items or report.nothing_to_recover:
        for item in report.items:
            if item.message and item.message != "nothing to recover":
                console.print(f"[yellow]note[/yellow]: {escape(item.message)}")
        looked = ""
        if journal is None:  # say where: a drill listed elsewhere is not this user's
            indexes = [index_dir] if index_dir is not None else search_index_dirs()
            dirs = ", ".join(str(d) for d in indexes) or "no index of drills yet"
            looked = f" (looked in {dirs})"
        console.print(f"nothing to recover{escape(looked)}")
        return EXIT_OK
    for item in report.items:
        name = escape(f"{item.scenario or '?'} {item.run_id}".strip())
        for warning in item.warnings:
            console.print(f"[yellow]warning[/yellow]: {escape(warning)}")
        if item.outcome == "nothing":
            if item.message and item.message != "nothing to recover":
                console.print(f"[dim]{name}[/dim]: {escape(item.message)}")
            continue
        colour = {"recovered": "green", "refused": "yellow", "failed": "red"}[item.outcome]
        console.print(
            f"[{colour}]{item.outcome}[/{colour}] {name}  [dim]{escape(str(item.journal))}[/dim]"
        )
        for pid in item.killed:
            console.print(f"  stopped leftover process {pid}")
        for what in item.reverted:
            console.print(f"  [green]reverted[/green] {escape(what)}")
        for plan_id, error in item.failed:
            console.print(f"  [red]revert failed[/red] {escape(plan_id)}: {escape(error)}")
        if item.half_started:
            console.print("  stopped the target the drill was starting when it died")
        elif item.target_stopped:
            console.print("  stopped the target the drill had started")
        if complete is not None and item.outcome == "recovered":
            line = complete(item.run_dir)
            if line:
                console.print(f"  {escape(line)}")
        if item.outcome != "recovered" and item.message:
            console.print(f"  {escape(item.message)}")
    return EXIT_OK if report.ok else EXIT_ERROR


def summary(report: RecoverReport) -> dict[str, Any]:
    """JSON-friendly form of a report (for --json output and tests)."""
    return {
        "ok": report.ok,
        "items": [
            {
                "journal": str(i.journal),
                "run_id": i.run_id,
                "outcome": i.outcome,
                "reverted": i.reverted,
                "failed": [list(f) for f in i.failed],
                "killed": i.killed,
                "message": i.message,
            }
            for i in report.items
        ],
    }
