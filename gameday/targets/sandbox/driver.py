"""The sandbox driver: the embedded staging in one state dir, over its management API.

Every plan's ``undo`` carries what a new process needs to revert it; the driver is rebuilt
from ``{"state_dir": ...}``. The fault actions live beside it: processes (crash, stop,
pause), links (network-cut, partition, latency) and release (gray-release).
"""

from __future__ import annotations

import contextlib
import difflib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ...analysis.budget import TargetTimings
from ...sandbox import manage
from ...sandbox.client import SandboxClient
from ...sandbox.settings import SandboxSettings as RuntimeSettings
from ...sandbox.state import (
    DATABASES,
    SandboxError,
    SandboxState,
    load_state,
    resolve_state_dir,
)
from ...scenarios.model import SandboxSettings as Overrides
from ..base import Health, Target, TargetError, UnknownService

DRIVER = "sandbox"
# what promoting a standby takes on this machine after the threshold is reached
# (pg_promote + repointing writers); measured well under this on the sandbox
PROMOTE_ESTIMATE_S = 1.0
API_ALIASES = ("api", "apis")


def runtime_settings(state_dir: Path, overrides: Overrides | None) -> RuntimeSettings:
    """The sandbox settings a drill's overrides ask for."""
    base = RuntimeSettings(state_dir=state_dir)
    if overrides is None:
        return base
    update: dict[str, Any] = {
        "failover_enabled": overrides.failover,
        "replication_mode": overrides.replication,
        "alert_escalation_enabled": overrides.escalation,
    }
    if overrides.health_period is not None:
        update["health_period_s"] = overrides.health_period
    if overrides.failure_threshold is not None:
        update["failure_threshold"] = overrides.failure_threshold
    if overrides.rollout_interval is not None:
        update["rollout_interval_s"] = overrides.rollout_interval
    optional = {
        "alert_repeat_s": overrides.alert_repeat,
        "alert_escalate_after": overrides.escalate_after,
        "alert_escalate_window_s": overrides.escalate_within,
    }
    update.update({k: v for k, v in optional.items() if v is not None})
    return base.model_copy(update=update)


class SandboxDriver(Target):
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
            self.admin(lambda c: c.set_api_version("api-canary", canary))
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
            "alert_repeat_s": "alert_repeat",
            "alert_escalation_enabled": "escalation",
            "alert_escalate_after": "escalate_after",
            "alert_escalate_window_s": "escalate_within",
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

    def stop_started(self) -> bool:
        """Take down a sandbox a dead runner started (for `recover`)."""
        try:
            manage.down(self.state_dir)
        except SandboxError:
            return False
        return True

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

    def state(self) -> SandboxState:
        """The running sandbox's state; TargetError when there is none."""
        try:
            return load_state(self.state_dir)
        except SandboxError as exc:
            raise TargetError(str(exc)) from exc

    def state_or_none(self) -> SandboxState | None:
        """The sandbox's state, or None when none runs in the state dir."""
        try:
            return load_state(self.state_dir)
        except SandboxError:
            return None

    @property
    def client(self) -> SandboxClient:
        """Admin client of the running sandbox (admin ports never change while it runs)."""
        if self._client is None:
            self._client = SandboxClient(self.state(), self.timeout_s)
        return self._client

    def admin(self, call: Any) -> Any:
        """Call the admin client; a SandboxError becomes a TargetError."""
        try:
            return call(self.client)
        except SandboxError as exc:
            raise TargetError(str(exc)) from exc

    # --- information --------------------------------------------------------------------

    def known_services(self) -> dict[str, list[str]]:
        """Every service name this target resolves, with the components it stands for."""
        state = self.state()
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
        raise TargetError(unknown_name(service, list(known)))

    def variables(self) -> dict[str, str]:
        """url, db_dsn (multi-host, follows a failover), db_primary_dsn, db_standby_dsn, ..."""
        s = self.state()
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
        state = self.state_or_none()
        return [state.db_password] if state and state.db_password else []

    def preflight(self, services: set[str]) -> list[str]:
        """Unknown services (with a suggestion), a sandbox not running or unhealthy, settings mismatch."""
        state = self.state_or_none()
        if state is None or not self.running():
            return [f"no sandbox is running in {self.state_dir} (run `gameday sandbox up`)"]
        problems = list(self._mismatch)
        known = self.known_services()
        for service in sorted(services):
            if service not in known:
                problems.append(UnknownService(service, unknown_name(service, list(known))))
        health = self.health()
        if not health.ok:
            problems.append(f"the sandbox is not healthy: {health.summary}")
        return problems

    def timings(self) -> TargetTimings:
        """Floors from the sandbox's settings (running sandbox, else the settings it would get)."""
        state = self.state_or_none()
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
        if self.state_or_none() is None:
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
        self.admin(lambda c: c.set_alert_receiver(url))

    def call(self, fn: Any) -> Any:
        """Run a management call; a SandboxError becomes the TargetError drivers raise."""
        try:
            return fn()
        except SandboxError as exc:
            raise TargetError(str(exc)) from exc


def unknown_name(name: str, known: list[str], what: str = "service") -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {name!r}{hint}; the sandbox has: {', '.join(sorted(known))}"
