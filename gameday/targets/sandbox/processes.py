"""Process faults on the sandbox: crash (SIGKILL), stop, pause (SIGSTOP), and their reverts.

A component is a process group (PostgreSQL's postmaster and every backend); databases are
restarted writer first, never racing a promotion in progress, so an old primary rejoins
as the new writer's standby.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...sandbox import manage
from ...sandbox.state import (
    DATABASES,
    SandboxError,
    group_members,
    pid_alive,
    proc_pgrp,
    read_writer,
)
from ...scenarios.model import CrashFault, PauseFault, StopFault
from ..base import FaultAction, FaultPlan, TargetError, acting
from .driver import DRIVER, SandboxDriver


class _ProcessAction(FaultAction[SandboxDriver]):
    undo_kind = "start"

    def plan(self, driver: SandboxDriver, fault: CrashFault | StopFault | PauseFault) -> FaultPlan:
        """The components the service stands for; revert starts (or resumes) them."""
        comps = driver.resolve(fault.service)
        undo: dict[str, Any] = {"kind": self.undo_kind, "components": comps}
        if isinstance(fault, CrashFault):
            undo["restart"] = fault.restart
        return FaultPlan(fault.label(), fault.action, DRIVER, driver.spec(), undo, tuple(comps))

    def revert(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Start what is down again (a crash with ``restart: false`` stays down)."""
        if driver.state_or_none() is None:
            return {"skipped": f"no sandbox in {driver.state_dir}"}
        if not plan.undo.get("restart", True):
            return {"left_down": list(plan.undo["components"])}
        return start_components(driver, list(plan.undo["components"]))


class CrashAction(_ProcessAction):
    """SIGKILL every process of the components, and wait until they are gone."""

    def apply(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Kill and confirm."""
        return signal_components(driver, list(plan.undo["components"]), signal.SIGKILL)


class StopAction(_ProcessAction):
    """A clean stop through the sandbox's manager."""

    def apply(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Stop each component."""
        for comp in plan.undo["components"]:
            with acting():
                driver.call(lambda c=comp: manage.stop_component(driver.state_dir, c))
        return {"stopped": list(plan.undo["components"])}


class PauseAction(_ProcessAction):
    """SIGSTOP the components' processes; revert sends SIGCONT."""

    undo_kind = "resume"

    def apply(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Freeze and confirm every process is stopped."""
        return pause(driver, list(plan.undo["components"]), signal.SIGSTOP)

    def revert(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Thaw and confirm every process runs again."""
        if driver.state_or_none() is None:
            return {"skipped": f"no sandbox in {driver.state_dir}"}
        return pause(driver, list(plan.undo["components"]), signal.SIGCONT)


def signal_components(
    driver: SandboxDriver, comps: list[str], sig: signal.Signals
) -> dict[str, Any]:
    killed: dict[str, int | None] = {}
    for comp in comps:
        with acting():
            killed[comp] = driver.call(
                lambda c=comp: manage.kill_component(driver.state_dir, c, sig)
            )
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(pid_alive(p) for p in killed.values() if p):
        time.sleep(0.02)
    alive = [c for c, p in killed.items() if p and pid_alive(p)]
    if alive:
        raise TargetError(f"still running after SIGKILL: {', '.join(alive)}")
    return {"killed": killed}


def processes(driver: SandboxDriver, comp: str) -> list[int]:
    # the component's whole process group: PostgreSQL's postmaster and every backend
    pid = driver.call(lambda: manage.component_pid(driver.state_dir, comp))
    if pid is None:
        return []
    pgid = proc_pgrp(pid)
    members = group_members({pgid}) if pgid is not None else []
    # PostgreSQL's children setsid() into groups of their own: follow parentage too
    return sorted({pid, *members, *descendants(pid)})


def pause(driver: SandboxDriver, comps: list[str], sig: signal.Signals) -> dict[str, Any]:
    done: dict[str, list[int]] = {}
    for comp in comps:
        pids = processes(driver, comp)
        main = pids[0] if pids else None
        pgid = proc_pgrp(main) if main else None
        if pgid is not None:
            with acting(), contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        for pid in pids:  # members outside the group (none expected) get it too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        done[comp] = pids
    if sig == signal.SIGSTOP:
        await_state(done, "T", present=True)
        return {"paused": done}
    await_state(done, "T", present=False)
    return {"resumed": done}


def await_state(pids: dict[str, list[int]], code: str, present: bool) -> None:
    deadline = time.monotonic() + 2.0
    wrong: list[int] = []
    while time.monotonic() < deadline:
        wrong = [
            p
            for ps in pids.values()
            for p in ps
            if (proc_state(p) == code) != present and proc_state(p) not in (None, "Z", "X")
        ]
        if not wrong:
            return
        time.sleep(0.01)
    raise TargetError(f"processes {wrong} did not {'stop' if present else 'continue'} as signalled")


def start_components(driver: SandboxDriver, comps: list[str]) -> dict[str, Any]:
    writer = str(read_writer(driver.state_dir).get("writer", "db-primary"))
    # the writer first: a standby can only rejoin a running primary
    order = sorted(comps, key=lambda c: (c not in DATABASES, c != writer))
    started: dict[str, int] = {}
    for comp in order:
        started[comp] = start_one(driver, comp)
    return {"started": started, "writer": read_writer(driver.state_dir).get("writer")}


def start_one(driver: SandboxDriver, comp: str) -> int:
    is_db = comp in DATABASES
    for _attempt in range(3):
        if is_db:
            # never race a promotion in progress: start once the controller has decided,
            # so the old primary comes back as the new primary's standby
            await_failover_settled(driver)
        pid = int(driver.call(lambda: manage.start_component(driver.state_dir, comp)))
        if not is_db:
            return pid
        # a promotion that was already under way fences what we just started: start again
        time.sleep(0.2)
        await_failover_settled(driver)
        current = driver.call(lambda: manage.component_pid(driver.state_dir, comp))
        if current is not None:
            return int(current)
    raise TargetError(f"{comp} did not stay up after restart (see the sandbox's events.jsonl)")


def await_failover_settled(driver: SandboxDriver) -> None:
    s = driver.state().settings
    deadline = time.monotonic() + s.health_period_s * s.failure_threshold * 3 + 5.0
    while time.monotonic() < deadline:
        try:
            st = driver.client.failover_status()
        except SandboxError:
            return  # no controller: nothing can race us
        if not st.get("enabled") or not st.get("consecutive_failures"):
            return
        time.sleep(s.health_period_s / 2)


def await_fenced_exit(driver: SandboxDriver, databases: list[str]) -> None:
    """Let an old primary that the controller is fencing finish its shutdown.

    It is still running for a moment after the promotion; seen as "up" it would never be
    restarted as the new writer's standby, and then its fast shutdown leaves it down.
    """
    state = driver.state()
    writer = str(read_writer(driver.state_dir).get("writer", "db-primary"))
    for db in databases:
        data_dir = state.components[db].data_dir
        if db == writer or data_dir is None or (Path(data_dir) / "standby.signal").exists():
            continue
        deadline = time.monotonic() + state.settings.ready_timeout_s
        while time.monotonic() < deadline and driver.call(
            lambda d=db: manage.component_pid(driver.state_dir, d)
        ):
            time.sleep(0.05)
        if driver.call(lambda d=db: manage.component_pid(driver.state_dir, d)):
            # no fence came (fencing off): two primaries must not both run
            driver.call(lambda d=db: manage.stop_component(driver.state_dir, d))


def descendants(pid: int) -> list[int]:
    """Every live process descending from ``pid`` (by parent pid, from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        if fields[0] not in ("Z", "X"):
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        out.extend(children)
        todo.extend(children)
    return out


def proc_state(pid: int) -> str | None:
    """One-letter state of ``pid`` from /proc ('T' stopped, 'S' sleeping, ...); None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()[0]
