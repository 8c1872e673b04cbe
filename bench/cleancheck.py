"""Is a staging back to its healthy shape after a killed drill? The checks of `bench kills`.

Clean means, all at once: every fault the journal planned is reverted and the journal is
closed (the drill finished, or `recover` recovered it) with no runner or helper alive on it;
the target's own health check passes and nothing of a fault is left that health does not
see (a SIGSTOPped process, a slowed link, a partition chain, a changed release); no process
the killed drill started is still alive; the target's drill lock is free. Each check
returns its problems as sentences; no problem is clean.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gameday.runners.journal import JournalError, active_journals, read_journal
from gameday.runners.lock import lock_path_for, read_holder
from gameday.targets import Target

if TYPE_CHECKING:
    from gameday.targets.sandbox import SandboxDriver

# every process of a campaign's drills carries this variable (children inherit it): one
# still alive after the drill ended and its target is cleaned up was left behind
ENV_TOKEN = "GAMEDAY_BENCH_KILLS"


@dataclass
class Staging:
    """A target a campaign drills on: its scenario `target:` section and how to check it."""

    kind: str  # "sandbox" | "docker"
    target: dict[str, Any]
    driver: Target
    # the target's own checks beyond health(); problems, [] when in shape
    shape: Callable[[], list[str]] = list
    # pids that belong to the target itself (sandbox components a drill may have restarted)
    owned_pids: Callable[[], set[int]] = set
    # what is worth noting about the target but is no fault in force
    observe: Callable[[], list[str]] = list

    @property
    def lock(self) -> Path:
        """The drill lock of this target (where `gameday run` takes it)."""
        return lock_path_for(self.driver.name, self.driver.spec())


# ------------------------------------------------------------------------------ journal


def journal_problems(journal: Path | None) -> list[str]:
    """What the journal says is left: pending faults, live helpers, a runner, not closed."""
    if journal is None:
        return []  # killed before the drill began: it journaled (so applied) nothing
    try:
        state = read_journal(journal)
    except JournalError as exc:
        return [f"journal unreadable: {exc}"]
    out = [
        f"fault {p.plan.fault} ({p.plan.action} {', '.join(p.plan.touches)}) {p.status}, "
        "not reverted"
        for p in state.pending()
    ]
    out += [f"helper {p.role} (pid {p.pid}) still alive" for p in state.live_processes()]
    if state.runner_alive():
        out.append(f"runner (pid {state.pid}) still holds the journal")
    if any(Path(p).resolve() == journal.resolve() for p in active_journals()):
        out.append("the drill is still in the active-run index")
    return out


def journal_notes(journal: Path | None) -> list[str]:
    """What is worth knowing but leaves nothing in force: a journal with no closing record."""
    if journal is None or not journal.exists():
        return []
    state = read_journal(journal)
    if state.finished or state.recovered:
        return []
    # recover found nothing to undo (killed before any fault; Locust ended with its parent)
    return ["the journal has no closing record (drill.finished or drill.recovered)"]


# ------------------------------------------------------------------------------ lock


def lock_problems(lock: Path) -> list[str]:
    """The target's drill lock is free (a flock nobody holds, or no lock file at all)."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = read_holder(lock)
        return [f"drill lock {lock} held (by pid {holder.get('pid', '?')})"]
    finally:
        os.close(fd)  # drops our probe lock too
    return []


# ------------------------------------------------------------------------------ processes


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a live process, None when gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else (fields[0], int(fields[1]), int(fields[2]))


def _processes() -> dict[int, tuple[str, int, int]]:
    pids = (int(e) for e in os.listdir("/proc") if e.isdigit())
    return {pid: st for pid in pids if (st := _stat(pid)) is not None}


def process_tree(roots: Iterable[int], pgids: Iterable[int] = ()) -> set[int]:
    """The roots, every process in the groups `pgids`, and all their descendants."""
    table = _processes()
    groups = set(pgids)
    out = {pid for pid in roots if pid in table}
    out |= {pid for pid, (_, _, pgrp) in table.items() if pgrp in groups}
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(out)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def leftover_processes(token: str, exclude: set[int]) -> list[str]:
    """Processes whose environment carries `ENV_TOKEN=token`, other than `exclude`."""
    needle = f"{ENV_TOKEN}={token}".encode()
    out = []
    for pid in _processes():
        if pid in exclude or pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue  # gone, or another user's: not one of ours
        if needle in environ.split(b"\0"):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append(f"process {pid} left: {cmd.strip()[:120]}")
    return out


# ------------------------------------------------------------------------------ all of it


def problems(staging: Staging, journal: Path | None, token: str | None) -> list[str]:
    """Everything not clean after a killed drill; [] when the staging is back in shape."""
    checks: list[tuple[str, Callable[[], list[str]]]] = [
        ("journal", lambda: journal_problems(journal)),
        ("health", lambda: _health(staging.driver)),
        ("shape", staging.shape),
        ("lock", lambda: lock_problems(staging.lock)),
    ]
    if token is not None:
        checks.append(("processes", lambda: leftover_processes(token, staging.owned_pids())))
    out: list[str] = []
    for name, check in checks:
        try:
            out += check()
        except Exception as exc:  # a check that cannot run says so: it never passes silently
            out.append(f"{name} check failed: {exc!r}")
    return out


def _health(driver: Target) -> list[str]:
    health = driver.health()
    return [] if health.ok else [f"target not healthy: {health.summary}"]


def wait_clean(
    staging: Staging, journal: Path | None, token: str | None, timeout: float
) -> tuple[float | None, list[str]]:
    """Check until clean: (seconds it took, []) or (None, the problems still seen at `timeout`)."""
    start = time.monotonic()
    while True:
        found = problems(staging, journal, token)
        if not found:
            return time.monotonic() - start, []
        if time.monotonic() - start >= timeout:
            return None, found
        time.sleep(0.5)


def stopped(pids: Iterable[int]) -> list[int]:
    """The pids in state T (SIGSTOPped): a pause nobody resumed."""
    return [pid for pid in pids if (st := _stat(pid)) is not None and st[0] == "T"]


# ------------------------------------------------------------------------------ targets


def sandbox_staging(state_dir: Path) -> Staging:
    """The kept sandbox in `state_dir` (running), with its shape as it is now as the healthy one."""
    from gameday.targets.sandbox import SandboxDriver

    driver = SandboxDriver(state_dir)
    healthy = _sandbox_release(driver)

    def shape() -> list[str]:
        return _sandbox_shape(driver, healthy)

    def owned() -> set[int]:
        from gameday.sandbox import manage
        from gameday.sandbox.state import load_state

        state = load_state(state_dir)
        pids = [manage.component_pid(state_dir, name) for name in state.components]
        pgids = [g for comp in state.components.values() for g in comp.pgids]
        return process_tree([p for p in pids if p], pgids)

    def observe() -> list[str]:
        # a SIGKILLed drill's receiver stays attached (the next drill replaces it)
        receiver = driver.client.alert_status().get("receiver")
        # one wording for every run (the receiver's port differs): runs are counted per note
        return ["the sandbox's alerts still go to the killed drill's receiver"] if receiver else []

    target = {"type": "sandbox", "state_dir": str(state_dir)}
    return Staging("sandbox", target, driver, shape, owned, observe)


def _sandbox_release(driver: SandboxDriver) -> dict[str, Any]:
    """What a gray release changes: the gateway's stable version and each API's version."""
    from gameday.sandbox import manage

    status = manage.status(driver.state_dir)
    versions = {c.name: c.version for c in status.components if c.kind == "api"}
    return {"stable": driver.client.gateway_status().get("stable_version"), "apis": versions}


def _sandbox_shape(driver: SandboxDriver, healthy: dict[str, Any]) -> list[str]:
    """What health() does not see: paused processes, slowed links, failover off, a release left."""
    from gameday.sandbox import manage

    out = []
    status = manage.status(driver.state_dir)
    for comp in status.components:
        paused = stopped(process_tree([comp.pid])) if comp.pid else []
        if paused:
            out.append(f"{comp.name} paused (SIGSTOPped pids {paused})")
    for link in driver.client.links():
        if link.get("latency_ms"):
            out.append(f"link {link['name']} slowed by {link['latency_ms']} ms")
    if not driver.client.failover_status().get("enabled"):
        out.append("failover controller disabled")
    now = _sandbox_release(driver)
    if now != healthy:
        out.append(f"release changed: {now} (was {healthy})")
    return out


def docker_staging(stack: Any) -> Staging:
    """A Docker staging (a `gameday.sandbox.container.stack.Stack`), running."""
    from gameday.targets.docker import DockerDriver

    driver = DockerDriver(stack.project, url=stack.url, staging=True)

    def shape() -> list[str]:
        out = [] if _streaming(stack) else ["no database streams to a standby"]
        # services and the groups they belong to (site-a, ...) name the same containers
        containers = {r["id"]: r["name"] for refs in driver.known_services().values() for r in refs}
        for cid, name in sorted(containers.items(), key=lambda item: item[1]):
            if driver.chains(cid):
                out.append(f"partition chains left in {name}")
        return out

    target = {"type": "docker", "project": stack.project, "url": stack.url, "staging": True}
    return Staging("docker", target, driver, shape)


def _streaming(stack: Any) -> bool:
    import psycopg

    for db in ("db-primary", "db-standby"):
        with contextlib.suppress(psycopg.Error):
            with psycopg.connect(stack.dsn(db), autocommit=True, connect_timeout=2) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
            if row and row[0]:
                return True
    return False
