"""Driver for the embedded staging (``target: sandbox``), over the sandbox's management API.

Every plan's ``undo`` carries what a new process needs to revert it (components, the
links and their previous state, the rollout's version); the driver is rebuilt from
``{"state_dir": ...}``. Link faults also keep a small overlay registry in the sandbox's
state dir, so overlapping faults on one link revert correctly in any order.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
import secrets
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from ..runners.budget import TargetTimings
from ..sandbox import manage
from ..sandbox.client import AdminError, SandboxClient
from ..sandbox.settings import SandboxSettings as RuntimeSettings
from ..sandbox.state import (
    DATABASES,
    SandboxError,
    SandboxState,
    atomic_write_json,
    group_members,
    link_name,
    load_state,
    pid_alive,
    proc_pgrp,
    read_writer,
    resolve_state_dir,
)
from ..scenarios.model import (
    AnyFault,
    CommandFault,
    CrashFault,
    GrayReleaseFault,
    LatencyFault,
    LoadSurgeFault,
    NetworkCutFault,
    PartitionFault,
    PauseFault,
    StopFault,
)
from ..scenarios.model import SandboxSettings as Overrides
from .base import FaultPlan, Health, TargetError, UnsupportedFault

DRIVER = "sandbox"
REGISTRY_FILE = "link-faults.json"
REGISTRY_LOCK = "link-faults.lock"
# what promoting a standby takes on this machine after the threshold is reached
# (pg_promote + repointing writers); measured well under this on the sandbox
PROMOTE_ESTIMATE_S = 1.0
API_ALIASES = ("api", "apis")

LinkSetting = dict[str, Any]  # {"state": open|cut|latency, "mode": ..., "latency_ms": ...}
OPEN: LinkSetting = {"state": "open", "mode": "blackhole", "latency_ms": 0.0}


def runtime_settings(state_dir: Path, overrides: Overrides | None) -> RuntimeSettings:
    """The sandbox settings a drill's overrides ask for."""
    base = RuntimeSettings(state_dir=state_dir)
    if overrides is None:
        return base
    update: dict[str, Any] = {
        "failover_enabled": overrides.failover,
        "replication_mode": overrides.replication,
    }
    if overrides.health_period is not None:
        update["health_period_s"] = overrides.health_period
    if overrides.failure_threshold is not None:
        update["failure_threshold"] = overrides.failure_threshold
    if overrides.rollout_interval is not None:
        update["rollout_interval_s"] = overrides.rollout_interval
    return base.model_copy(update=update)


def _norm(link: Mapping[str, Any]) -> LinkSetting:
    state = str(link.get("state", "open"))
    return {
        "state": state,
        "mode": str(link.get("mode") or "blackhole") if state == "cut" else "blackhole",
        "latency_ms": float(link.get("latency_ms") or 0.0) if state == "latency" else 0.0,
    }


class SandboxDriver:
    """The ``Target`` for the embedded staging in one state dir."""

    name = DRIVER

    def __init__(
        self,
        state_dir: Path | str | None = None,
        overrides: Overrides | None = None,
        *,
        timeout_s: float = 5.0,
    ) -> None:
        self.state_dir = resolve_state_dir(state_dir)
        self.overrides = overrides
        self.timeout_s = timeout_s
        self.started = False  # this driver brought the sandbox up: close() takes it down
        self._client: SandboxClient | None = None
        self._mismatch: list[str] = []

    # --- lifecycle ----------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """JSON that rebuilds an equivalent driver (for `gameday recover`)."""
        return {"state_dir": str(self.state_dir)}

    def running(self) -> bool:
        """Whether a sandbox runs in the state dir (at least one component alive)."""
        try:
            state = load_state(self.state_dir)
        except SandboxError:
            return False
        return any(manage.component_pid(self.state_dir, n) for n in state.components)

    def ensure_running(self, overrides: Overrides | None = None) -> bool:
        """Start the sandbox unless one runs in the state dir; True when this call started it.

        A sandbox already running with other settings than the overrides ask for is
        reported by ``preflight`` (it is not restarted behind its owner's back).
        """
        if overrides is not None:
            self.overrides = overrides
        wanted = runtime_settings(self.state_dir, self.overrides)
        if self.running():
            self._mismatch = self._compare(load_state(self.state_dir).settings, wanted)
            return False
        try:
            manage.up(wanted)
        except SandboxError as exc:
            raise TargetError(f"cannot start the sandbox in {self.state_dir}: {exc}") from exc
        self.started = True
        canary = self.overrides.canary if self.overrides else None
        if canary:
            self._admin(lambda c: c.set_api_version("api-canary", canary))
        return True

    def _compare(self, have: RuntimeSettings, want: RuntimeSettings) -> list[str]:
        if self.overrides is None:
            return []
        fields = {
            "failover_enabled": "failover",
            "replication_mode": "replication",
            "health_period_s": "health_period",
            "failure_threshold": "failure_threshold",
            "rollout_interval_s": "rollout_interval",
        }
        out = []
        for field_name, label in fields.items():
            a, b = getattr(have, field_name), getattr(want, field_name)
            if a != b:
                out.append(
                    f"the running sandbox in {self.state_dir} has {label}={a}, the scenario asks "
                    f"{b}; run `gameday sandbox down` so the drill starts one with its settings"
                )
        return out

    def close(self) -> None:
        """Close the admin client; take the sandbox down if this driver started it."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.started:
            self.started = False
            with contextlib.suppress(SandboxError):
                manage.down(self.state_dir)

    # --- state and clients --------------------------------------------------------------

    def _state(self) -> SandboxState:
        try:
            return load_state(self.state_dir)
        except SandboxError as exc:
            raise TargetError(str(exc)) from exc

    def _state_or_none(self) -> SandboxState | None:
        try:
            return load_state(self.state_dir)
        except SandboxError:
            return None

    @property
    def client(self) -> SandboxClient:
        """Admin client of the running sandbox (admin ports never change while it runs)."""
        if self._client is None:
            self._client = SandboxClient(self._state(), self.timeout_s)
        return self._client

    def _admin(self, call: Any) -> Any:
        try:
            return call(self.client)
        except SandboxError as exc:
            raise TargetError(str(exc)) from exc

    # --- information --------------------------------------------------------------------

    def known_services(self) -> dict[str, list[str]]:
        """Every service name this target resolves, with the components it stands for."""
        state = self._state()
        out = {name: [name] for name in state.components}
        for group, members in state.groups.items():
            out[group] = list(members)
        for alias in API_ALIASES:
            out.setdefault(alias, list(state.groups.get("apis", [])))
        return out

    def resolve(self, service: str) -> list[str]:
        """Components a service name stands for; TargetError with a suggestion when unknown."""
        known = self.known_services()
        if service in known:
            return known[service]
        raise TargetError(_unknown(service, list(known)))

    def variables(self) -> dict[str, str]:
        """url, db_dsn (multi-host, follows a failover), db_primary_dsn, db_standby_dsn, ..."""
        s = self._state()
        user, pw = quote(s.db_user, safe=""), quote(s.db_password, safe="")
        ports = [s.components[d].port for d in DATABASES]
        hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
        return {
            "url": s.gateway_url,
            # libpq tries each host and keeps the one accepting writes: writers follow a failover
            "db_dsn": f"postgresql://{user}:{pw}@{hosts}/{s.db_name}"
            "?target_session_attrs=read-write&connect_timeout=2",
            "db_primary_dsn": s.dsn_url("db-primary"),
            "db_standby_dsn": s.dsn_url("db-standby"),
            "db_name": s.db_name,
            "db_user": s.db_user,
            "db_password": s.db_password,
            "metrics_url": f"{s.gateway_url}/metrics",
            "alerting_url": s.components["alerting"].url,
            "proxy_admin_url": s.proxy_admin_url,
            "state_dir": str(self.state_dir),
        }

    def secrets(self) -> list[str]:
        """Values that must be redacted wherever variables are printed or stored."""
        state = self._state_or_none()
        return [state.db_password] if state and state.db_password else []

    def preflight(self, services: set[str]) -> list[str]:
        """Unknown services (with a suggestion), a sandbox not running or unhealthy, settings mismatch."""
        state = self._state_or_none()
        if state is None or not self.running():
            return [f"no sandbox is running in {self.state_dir} (run `gameday sandbox up`)"]
        problems = list(self._mismatch)
        known = self.known_services()
        for service in sorted(services):
            if service not in known:
                problems.append(_unknown(service, list(known)))
        health = self.health()
        if not health.ok:
            problems.append(f"the sandbox is not healthy: {health.summary}")
        return problems

    def timings(self) -> TargetTimings:
        """Floors from the sandbox's settings (running sandbox, else the settings it would get)."""
        state = self._state_or_none()
        s = state.settings if state else runtime_settings(self.state_dir, self.overrides)
        failover = s.health_period_s * s.failure_threshold + PROMOTE_ESTIMATE_S
        return TargetTimings(
            failover_floor_s=failover if s.failover_enabled else None,
            # the release controller analyses every loop; a bad canary can go at the first one
            rollback_floor_s=s.controller_loop_s,
            detection_floor_s=s.alert_eval_period_s,
            explanation={
                "failover_time": f"health period {s.health_period_s:g}s × {s.failure_threshold} "
                f"failed checks + ~{PROMOTE_ESTIMATE_S:g}s promotion",
                "recovery_time": "the failover controller cannot promote sooner",
                "rollback_time": f"release controller analyses every {s.controller_loop_s:g}s",
                "detection_time": f"alert rules evaluate every {s.alert_eval_period_s:g}s",
            },
        )

    def health(self) -> Health:
        """Every component up and healthy, links open, no rollout running, standby streaming."""
        if self._state_or_none() is None:
            return Health(False, f"no sandbox in {self.state_dir}")
        try:
            st = manage.status(self.state_dir)
        except SandboxError as exc:
            return Health(False, str(exc))
        issues: list[str] = []
        components: dict[str, Any] = {}
        for c in st.components:
            components[c.name] = {"pid": c.pid, "role": c.role, "healthy": c.healthy}
            if not c.healthy:
                issues.append(f"{c.name} {c.role if c.pid else 'down'}")
        roles = {c.name: c.role for c in st.components if c.kind == "postgres"}
        if not any(r.startswith("primary") for r in roles.values()):
            issues.append("no primary database")
        if sum(r == "standby" for r in roles.values()) != 1:
            issues.append("no streaming standby" if "standby" not in roles.values() else "")
        writer = st.component(st.writer) if st.writer in roles else None
        if writer is not None and writer.healthy:
            replicas = writer.detail.get("replicas", [])
            if not any(r.get("state") == "streaming" for r in replicas):
                issues.append("standby not streaming")
        try:
            links = [lk for lk in self.client.links() if lk.get("state") != "open"]
            if links:
                issues.append("links faulted: " + ", ".join(str(lk["name"]) for lk in links))
            rollout = self.client.rollout_status().get("rollout", {})
            if rollout.get("status") == "running":
                issues.append(f"rollout of {rollout.get('version')} running")
            weight = float(self.client.gateway_status().get("weights", {}).get("canary", 0.0))
            if weight > 0:
                issues.append(f"canary weight {weight:g}%")
        except SandboxError as exc:
            issues.append(str(exc))
        issues = [i for i in issues if i]
        components["writer"] = st.writer
        summary = "all healthy" if not issues else "; ".join(issues)
        return Health(not issues, summary, components)

    def set_alert_receiver(self, url: str | None) -> None:
        """Point the alerting component at the drill's webhook receiver (None: detach)."""
        self._admin(lambda c: c.set_alert_receiver(url))

    # --- planning -----------------------------------------------------------------------

    def plan(self, fault: AnyFault) -> FaultPlan:
        """Resolve what ``fault`` touches and how to undo it; changes nothing."""
        if isinstance(fault, CommandFault | LoadSurgeFault):
            from . import plan_local_fault

            return plan_local_fault(fault)
        label = fault.label()
        spec = self.spec()
        if isinstance(fault, CrashFault | StopFault | PauseFault):
            comps = self.resolve(fault.service)
            undo: dict[str, Any] = {
                "kind": "resume" if fault.action == "pause" else "start",
                "components": comps,
            }
            if isinstance(fault, CrashFault):
                undo["restart"] = fault.restart
            return FaultPlan(label, fault.action, DRIVER, spec, undo, tuple(comps))
        if isinstance(fault, NetworkCutFault):
            comps = self.resolve(fault.service)
            names = self._crossing(set(comps))
            setting = {"state": "cut", "mode": fault.mode, "latency_ms": 0.0}
            return self._link_plan(
                label, fault.action, names, setting, {"service": fault.service}, comps
            )
        if isinstance(fault, PartitionFault):
            a = {c for s in fault.between[0] for c in self.resolve(s)}
            b = {c for s in fault.between[1] for c in self.resolve(s)}
            names = [
                lk.name
                for lk in self._state().links.values()
                if (lk.src in a and lk.dst in b) or (lk.src in b and lk.dst in a)
            ]
            setting = {"state": "cut", "mode": "blackhole", "latency_ms": 0.0}
            return self._link_plan(
                label, fault.action, names, setting, {"between": fault.between}, [*a, *b]
            )
        if isinstance(fault, LatencyFault):
            if fault.jitter:
                raise UnsupportedFault(
                    "the sandbox's fault proxy adds a constant delay; jitter is not supported"
                )
            if fault.link:
                src, dst = fault.link.split("->")
                name = link_name(src, dst)
                links = self._state().links
                if name not in links:
                    pairs = [f"{lk.src}->{lk.dst}" for lk in links.values()]
                    raise TargetError(_unknown(fault.link, pairs, what="link"))
                names = [name]
            else:
                names = self._crossing(set(self.resolve(str(fault.service))))
            # the proxy delays each direction: half each way adds `delay` to a round trip
            per_direction_ms = fault.delay * 1000.0 / 2
            setting = {"state": "latency", "mode": "blackhole", "latency_ms": per_direction_ms}
            return self._link_plan(
                label, fault.action, names, setting, {"round_trip_delay_ms": fault.delay * 1000.0}
            )
        if isinstance(fault, GrayReleaseFault):
            if fault.service not in (*API_ALIASES, "api-canary"):
                raise TargetError(
                    f"the sandbox rolls out releases of the payment API only (service 'api'), "
                    f"not {fault.service!r}"
                )
            steps = [round(x * 100) for x in fault.steps]
            if any(s < 1 for s in steps) or len(set(steps)) != len(steps):
                raise UnsupportedFault("the release controller takes whole percentages, 1% or more")
            stable = str(self._admin(lambda c: c.rollout_status()).get("stable_version", "v1"))
            undo = {"kind": "rollout", "version": fault.version, "prev_stable": stable}
            detail = {"steps": steps, "interval_s": fault.interval}
            return FaultPlan(
                label, fault.action, DRIVER, spec, undo, (f"api-canary@{fault.version}",), detail
            )
        raise UnsupportedFault(f"the sandbox cannot apply {fault.action!r}")

    def _crossing(self, inside: set[str]) -> list[str]:
        # links with exactly one end inside: isolating a site keeps its own internal links
        return [
            lk.name
            for lk in self._state().links.values()
            if (lk.src in inside) != (lk.dst in inside)
        ]

    def _link_plan(
        self,
        label: str,
        action: str,
        names: list[str],
        setting: LinkSetting,
        detail: dict[str, Any],
        isolated: list[str] | None = None,
    ) -> FaultPlan:
        if not names:
            raise TargetError(f"{label}: no proxy link matches (nothing to cut)")
        current = {lk["name"]: _norm(lk) for lk in self._admin(lambda c: c.links())}
        undo = {
            "kind": "links",
            "token": secrets.token_hex(8),
            "set": setting,
            "links": {n: current.get(n, OPEN) for n in names},
            # an isolated primary gets fenced (stopped) by the failover controller:
            # reverting the cut brings these databases back, as standbys of the writer
            "databases": sorted(c for c in isolated or [] if c in DATABASES),
        }
        return FaultPlan(label, action, DRIVER, self.spec(), undo, tuple(names), detail)

    # --- apply / revert -----------------------------------------------------------------

    def apply(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Apply a planned fault and confirm it took effect."""
        kind = plan.undo.get("kind")
        if plan.driver != DRIVER:
            from . import target_from_spec

            return target_from_spec(plan.driver, plan.spec).apply(plan)
        if plan.action == "crash":
            return self._signal_components(list(plan.undo["components"]), signal.SIGKILL)
        if plan.action == "stop":
            for comp in plan.undo["components"]:
                self._call(lambda c=comp: manage.stop_component(self.state_dir, c))
            return {"stopped": list(plan.undo["components"])}
        if plan.action == "pause":
            return self._pause(list(plan.undo["components"]), signal.SIGSTOP)
        if kind == "links":
            return self._apply_links(plan.undo)
        if kind == "rollout":
            steps = [int(s) for s in plan.detail.get("steps", [])] or None
            interval = plan.detail.get("interval_s")
            version = str(plan.undo["version"])
            result = self._admin(lambda c: c.start_rollout(version, steps, interval))
            return {"rollout": result.get("status"), "version": version, "steps": steps}
        raise UnsupportedFault(f"cannot apply plan kind {kind!r}")

    def revert(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Undo a plan; idempotent, and harmless for a plan that was never applied."""
        if plan.driver != DRIVER:
            from . import target_from_spec

            return target_from_spec(plan.driver, plan.spec).revert(plan)
        if self._state_or_none() is None:
            # the sandbox itself is gone: every fault died with its processes
            return {"skipped": f"no sandbox in {self.state_dir}"}
        kind = plan.undo.get("kind")
        if kind == "start":
            if not plan.undo.get("restart", True):
                return {"left_down": list(plan.undo["components"])}
            return self._start_components(list(plan.undo["components"]))
        if kind == "resume":
            return self._pause(list(plan.undo["components"]), signal.SIGCONT)
        if kind == "links":
            return self._revert_links(plan.undo)
        if kind == "rollout":
            return self._revert_rollout(plan.undo)
        raise UnsupportedFault(f"cannot revert plan kind {kind!r}")

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except SandboxError as exc:
            raise TargetError(str(exc)) from exc

    # crash, stop, pause

    def _signal_components(self, comps: list[str], sig: signal.Signals) -> dict[str, Any]:
        killed: dict[str, int | None] = {}
        for comp in comps:
            killed[comp] = self._call(lambda c=comp: manage.kill_component(self.state_dir, c, sig))
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(pid_alive(p) for p in killed.values() if p):
            time.sleep(0.02)
        alive = [c for c, p in killed.items() if p and pid_alive(p)]
        if alive:
            raise TargetError(f"still running after SIGKILL: {', '.join(alive)}")
        return {"killed": killed}

    def _processes(self, comp: str) -> list[int]:
        # the component's whole process group: PostgreSQL's postmaster and every backend
        pid = self._call(lambda: manage.component_pid(self.state_dir, comp))
        if pid is None:
            return []
        pgid = proc_pgrp(pid)
        members = group_members({pgid}) if pgid is not None else []
        # PostgreSQL's children setsid() into groups of their own: follow parentage too
        return sorted({pid, *members, *descendants(pid)})

    def _pause(self, comps: list[str], sig: signal.Signals) -> dict[str, Any]:
        done: dict[str, list[int]] = {}
        for comp in comps:
            pids = self._processes(comp)
            main = pids[0] if pids else None
            pgid = proc_pgrp(main) if main else None
            if pgid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, sig)
            for pid in pids:  # members outside the group (none expected) get it too
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            done[comp] = pids
        if sig == signal.SIGSTOP:
            self._await_state(done, "T", present=True)
            return {"paused": done}
        self._await_state(done, "T", present=False)
        return {"resumed": done}

    def _await_state(self, pids: dict[str, list[int]], code: str, present: bool) -> None:
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
        raise TargetError(
            f"processes {wrong} did not {'stop' if present else 'continue'} as signalled"
        )

    def _start_components(self, comps: list[str]) -> dict[str, Any]:
        writer = str(read_writer(self.state_dir).get("writer", "db-primary"))
        # the writer first: a standby can only rejoin a running primary
        order = sorted(comps, key=lambda c: (c not in DATABASES, c != writer))
        started: dict[str, int] = {}
        for comp in order:
            started[comp] = self._start_one(comp)
        return {"started": started, "writer": read_writer(self.state_dir).get("writer")}

    def _start_one(self, comp: str) -> int:
        is_db = comp in DATABASES
        for _attempt in range(3):
            if is_db:
                # never race a promotion in progress: start once the controller has decided,
                # so the old primary comes back as the new primary's standby
                self._await_failover_settled()
            pid = int(self._call(lambda: manage.start_component(self.state_dir, comp)))
            if not is_db:
                return pid
            # a promotion that was already under way fences what we just started: start again
            time.sleep(0.2)
            self._await_failover_settled()
            current = self._call(lambda: manage.component_pid(self.state_dir, comp))
            if current is not None:
                return int(current)
        raise TargetError(f"{comp} did not stay up after restart (see the sandbox's events.jsonl)")

    def _await_failover_settled(self) -> None:
        s = self._state().settings
        deadline = time.monotonic() + s.health_period_s * s.failure_threshold * 3 + 5.0
        while time.monotonic() < deadline:
            try:
                st = self.client.failover_status()
            except SandboxError:
                return  # no controller: nothing can race us
            if not st.get("enabled") or not st.get("consecutive_failures"):
                return
            time.sleep(s.health_period_s / 2)

    def _await_fenced_exit(self, databases: list[str]) -> None:
        """Let an old primary that the controller is fencing finish its shutdown.

        It is still running for a moment after the promotion; seen as "up" it would never be
        restarted as the new writer's standby, and then its fast shutdown leaves it down.
        """
        state = self._state()
        writer = str(read_writer(self.state_dir).get("writer", "db-primary"))
        for db in databases:
            data_dir = state.components[db].data_dir
            if db == writer or data_dir is None or (Path(data_dir) / "standby.signal").exists():
                continue
            deadline = time.monotonic() + state.settings.ready_timeout_s
            while time.monotonic() < deadline and self._call(
                lambda d=db: manage.component_pid(self.state_dir, d)
            ):
                time.sleep(0.05)
            if self._call(lambda d=db: manage.component_pid(self.state_dir, d)):
                # no fence came (fencing off): two primaries must not both run
                self._call(lambda d=db: manage.stop_component(self.state_dir, d))

    # links

    @contextlib.contextmanager
    def _registry(self) -> Iterator[dict[str, Any]]:
        state = self._state()
        fd = os.open(self.state_dir / REGISTRY_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            path = self.state_dir / REGISTRY_FILE
            try:
                reg: dict[str, Any] = json.loads(path.read_text())
            except (FileNotFoundError, ValueError):
                reg = {}
            if reg.get("sandbox") != state.created_wall:  # left by an earlier sandbox
                reg = {"sandbox": state.created_wall, "links": {}}
            yield reg
            atomic_write_json(path, reg)
        finally:
            os.close(fd)

    def _apply_links(self, undo: Mapping[str, Any]) -> dict[str, Any]:
        token, setting = str(undo["token"]), dict(undo["set"])
        names = list(undo["links"])
        with self._registry() as reg:
            current = {lk["name"]: _norm(lk) for lk in self._admin(lambda c: c.links())}
            for name in names:
                entry = reg["links"].setdefault(
                    name, {"base": current.get(name, OPEN), "layers": []}
                )
                if not any(t == token for t, _ in entry["layers"]):
                    entry["layers"].append([token, setting])
                self._set_link(name, setting)
        after = {lk["name"]: _norm(lk) for lk in self._admin(lambda c: c.links())}
        wrong = [n for n in names if after.get(n) != _norm(setting)]
        if wrong:
            raise TargetError(f"proxy did not apply {setting['state']} to {', '.join(wrong)}")
        return {"links": names, "set": setting}

    def _revert_links(self, undo: Mapping[str, Any]) -> dict[str, Any]:
        state = self._state()
        proxy_pid = state.components["proxy"].pid
        if not pid_alive(proxy_pid):
            # a restarted proxy opens every link: nothing of this fault can be in force
            return {"skipped": "proxy not running"}
        token, setting = str(undo["token"]), _norm(undo["set"])
        restored: dict[str, LinkSetting] = {}
        left: list[str] = []
        with self._registry() as reg:
            current = {lk["name"]: _norm(lk) for lk in self._admin(lambda c: c.links())}
            for name, prev in dict(undo["links"]).items():
                entry = reg["links"].get(name)
                if entry is not None and any(t == token for t, _ in entry["layers"]):
                    entry["layers"] = [[t, s] for t, s in entry["layers"] if t != token]
                    target = entry["layers"][-1][1] if entry["layers"] else entry["base"]
                    if not entry["layers"]:
                        del reg["links"][name]
                elif entry is None and current.get(name) == setting:
                    # journaled but the registry never saw it (died mid-apply): undo by the plan
                    target = _norm(prev)
                else:
                    left.append(name)  # not ours now: another fault holds this link
                    continue
                if current.get(name) != _norm(target):
                    self._set_link(name, target)
                restored[name] = _norm(target)
        result: dict[str, Any] = {"restored": restored, "untouched": left}
        if undo.get("databases") and not left:
            # a fence may still be on its way: let the controller settle before looking
            self._await_failover_settled()
            self._await_fenced_exit(list(undo["databases"]))
            down = [
                db
                for db in undo["databases"]
                if self._call(lambda d=db: manage.component_pid(self.state_dir, d)) is None
            ]
            if down:
                result["restarted"] = self._start_components(down)["started"]
        return result

    def _set_link(self, name: str, setting: Mapping[str, Any]) -> None:
        state: Literal["open", "cut", "latency"] = setting["state"]
        mode: Literal["blackhole", "reset"] = setting.get("mode") or "blackhole"
        latency = float(setting.get("latency_ms") or 0.0)
        self._admin(lambda c: c.set_link(name, state, mode, latency))

    # releases

    def _revert_rollout(self, undo: Mapping[str, Any]) -> dict[str, Any]:
        version, prev = str(undo["version"]), str(undo.get("prev_stable") or "v1")
        result: dict[str, Any] = {"version": version}
        try:
            self.client.abort_rollout()
            result["aborted"] = True
        except AdminError as exc:
            if "409" not in str(exc):  # 409: no rollout running — already over
                raise TargetError(str(exc)) from exc
            result["aborted"] = False
        self._admin(lambda c: c.set_canary_weight(0.0))
        status = self._admin(lambda c: c.rollout_status())
        rollout = status.get("rollout", {})
        result["status"] = rollout.get("status")
        if rollout.get("status") == "completed" and rollout.get("version") == version != prev:
            # the release went to 100%: put every API instance back on the previous version
            for api in ("api-a", "api-b", "api-canary"):
                self._admin(lambda c, a=api: c.set_api_version(a, prev))
            result["versions_restored"] = prev
        return result


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


def _unknown(name: str, known: list[str], what: str = "service") -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {name!r}{hint}; the sandbox has: {', '.join(sorted(known))}"
