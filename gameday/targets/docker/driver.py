"""The Docker driver's core: find a Compose project's containers and report on them.

Services are Compose services (``com.docker.compose.service``) of the selected containers;
``gameday.dev/groups`` (comma-separated) adds group names such as ``site-a``. The fault
actions live beside it: ``containers`` (crash, stop, pause through the SDK) and ``network``
(network-cut; partition and latency with iptables / tc netem, see ``netns``). Every plan's
``undo`` holds container ids, networks with their aliases and addresses, and iptables chain
names: enough for ``gameday recover`` to revert in a new process from
``{project, labels, docker_host}``.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ...analysis.budget import TargetTimings
from ...scenarios.model import DockerTarget
from ..base import FaultAction, Health, Target, TargetError, UnknownService, UnsupportedFault
from . import netns
from .relay import TcpRelay
from .sdk import Ref, not_found

DRIVER = "docker"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
GROUPS_LABEL = "gameday.dev/groups"
API_ALIASES = ("api", "apis")
DATABASES = ("db-primary", "db-standby")


class DockerDriver(Target):
    """The ``Target`` for the containers of one Compose project (or label selection)."""

    name = DRIVER

    def __init__(
        self,
        project: str | None = None,
        labels: Mapping[str, str] | None = None,
        url: str = "",
        staging: bool = False,
        docker_host: str | None = None,
    ) -> None:
        if not project and not labels:
            raise TargetError("a docker target needs 'project' or 'labels' to find its containers")
        self.project = project
        self.labels = dict(labels or {})
        self.url = url
        self.staging = staging
        self.docker_host = docker_host or os.environ.get("DOCKER_HOST") or None
        self._client: Any = None
        self._relay: TcpRelay | None = None

    @classmethod
    def from_model(cls, model: DockerTarget) -> DockerDriver:
        """The driver for a scenario's ``target: {type: docker, ...}``."""
        return cls(model.project, model.labels, model.url, model.staging)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> DockerDriver:
        """Rebuild from a journaled ``spec`` (for ``gameday recover``); starts nothing."""
        return cls(
            spec.get("project"),
            spec.get("labels") or {},
            str(spec.get("url") or ""),
            bool(spec.get("staging", False)),
            spec.get("docker_host"),
        )

    def spec(self) -> dict[str, Any]:
        """JSON that rebuilds an equivalent driver."""
        return {
            "project": self.project,
            "labels": dict(self.labels),
            "url": self.url,
            "staging": self.staging,
            "docker_host": self.docker_host,
        }

    def close(self) -> None:
        """Stop the alert relay and close the Docker client (containers are not ours to stop)."""
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def action(self, name: str) -> FaultAction[Any]:
        """As ``Target.action``; a gray release says what it would need."""
        if name == "gray-release" and name not in self.actions:
            raise UnsupportedFault(
                f"the docker target cannot apply {name!r}"
                " (gray releases need the sandbox's release controller API)"
            )
        return super().action(name)

    # --- engine and containers ------------------------------------------------------------

    @property
    def client(self) -> Any:
        """A Docker SDK client for ``docker_host`` (DOCKER_HOST, else the local socket)."""
        if self._client is None:
            try:
                import docker

                self._client = (
                    docker.DockerClient(base_url=self.docker_host)
                    if self.docker_host
                    else docker.from_env()
                )
                self._client.ping()
            except Exception as exc:
                self._client = None
                where = self.docker_host or "the local Docker socket"
                raise TargetError(f"cannot reach the Docker engine at {where}: {exc}") from exc
        return self._client

    def _filters(self) -> list[str]:
        sel = [f"{PROJECT_LABEL}={self.project}"] if self.project else []
        return sel + [f"{k}={v}" for k, v in sorted(self.labels.items())]

    def _containers(self) -> list[dict[str, Any]]:
        """Inspect data of every selected container (running or not)."""
        api = self.client.api
        found = api.containers(all=True, filters={"label": self._filters()})
        return [api.inspect_container(c["Id"]) for c in found]

    def inspect(self, cid: str) -> dict[str, Any] | None:
        """Inspect data of one container; None once it is gone."""
        try:
            data: dict[str, Any] = self.client.api.inspect_container(cid)
            return data
        except not_found():
            return None

    def networks(self, cid: str) -> dict[str, Any]:
        """The container's networks with their endpoints (none when it is gone)."""
        nets: dict[str, Any] = (self.inspect(cid) or {}).get("NetworkSettings", {}).get(
            "Networks"
        ) or {}
        return nets

    def pid(self, cid: str) -> int | None:
        """The pid of a running container's main process (None: not running)."""
        info = self.inspect(cid)
        if info is None or not info["State"].get("Running"):
            return None
        return int(info["State"]["Pid"]) or None

    def known_services(self) -> dict[str, list[Ref]]:
        """Every service name (Compose services, groups, api aliases) with its containers."""
        out: dict[str, list[Ref]] = {}
        for info in self._containers():
            labels = info["Config"].get("Labels") or {}
            ref = {"id": info["Id"], "name": info["Name"].lstrip("/")}
            service = labels.get(SERVICE_LABEL)
            names = [service] if service else []
            names += [g.strip() for g in labels.get(GROUPS_LABEL, "").split(",") if g.strip()]
            for name in names:
                out.setdefault(name, []).append(ref)
        apis = out.get("apis") or [r for n, rs in out.items() if n.startswith("api-") for r in rs]
        for alias in API_ALIASES:
            if apis:
                out.setdefault(alias, apis)
        return out

    def resolve(self, service: str) -> list[Ref]:
        """Containers a service name stands for; TargetError (with a suggestion) if none."""
        known = self.known_services()
        if known.get(service):
            return known[service]
        raise TargetError(self._unknown(service, list(known)))

    def _unknown(self, name: str, known: list[str]) -> str:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        where = " and ".join(self._filters())
        have = ", ".join(sorted(known)) or "no containers at all"
        return f"service {name!r} matches no container with {where}{hint}; found: {have}"

    def chains(self, cid: str, tool: str = "iptables") -> list[str]:
        """gameday chains in a container's network namespace (for checks and tests)."""
        pid = self.pid(cid)
        return [] if pid is None else netns.chains(pid, tool)

    # --- information ------------------------------------------------------------------------

    def preflight(self, services: set[str]) -> list[str]:
        """Engine reachable, every service resolves to containers, staging confirmed, healthy."""
        try:
            known = self.known_services()
        except TargetError as exc:
            return [str(exc)]
        problems = []
        if not self.staging:
            problems.append(
                "the docker target is not marked as staging: add 'staging: true' to confirm"
            )
        if not known:
            problems.append(f"no container matches {' and '.join(self._filters())}")
        for service in sorted(services):
            if not known.get(service):
                problems.append(UnknownService(service, self._unknown(service, list(known))))
        health = self.health()
        if not health.ok:
            problems.append(f"the docker target is not healthy: {health.summary}")
        return problems

    def _published(self, info: Mapping[str, Any]) -> list[tuple[int, str, int]]:
        """(container port, host ip, host port) of each published TCP port."""
        out = []
        for key, binds in (info["NetworkSettings"].get("Ports") or {}).items():
            port, _, proto = key.partition("/")
            for b in binds or []:
                if proto == "tcp" and b.get("HostPort"):
                    host = b.get("HostIp") or "127.0.0.1"
                    out.append(
                        (
                            int(port),
                            "127.0.0.1" if host in ("0.0.0.0", "::") else host,
                            int(b["HostPort"]),
                        )
                    )
        return sorted(out)

    def _service_info(self, service: str) -> dict[str, Any] | None:
        refs = self.known_services().get(service) or []
        return self.inspect(refs[0]["id"]) if refs else None

    def variables(self) -> dict[str, str]:
        """url; db_dsn (both databases, follows a failover), db_primary_dsn, db_standby_dsn, ..."""
        out = {"url": self.url, "project": self.project or ""}
        hosts: list[str] = []
        env: dict[str, str] = {}
        for db in DATABASES:
            info = self._service_info(db)
            ports = self._published(info) if info else []
            if info is None or not ports:
                continue
            env = dict(e.split("=", 1) for e in info["Config"].get("Env") or [] if "=" in e)
            _, host, port = ports[0]
            hosts.append(f"{host}:{port}")
            out[f"{db.replace('-', '_')}_hostport"] = f"{host}:{port}"
        if hosts:
            user = quote(env.get("POSTGRES_USER", "postgres"), safe="")
            pw = quote(env.get("POSTGRES_PASSWORD", ""), safe="")
            name = env.get("POSTGRES_DB", env.get("POSTGRES_USER", "postgres"))
            base = f"postgresql://{user}:{pw}@"
            # libpq keeps the host that accepts writes: writers follow a failover
            out["db_dsn"] = (
                f"{base}{','.join(hosts)}/{name}?target_session_attrs=read-write&connect_timeout=2"
            )
            for db in DATABASES:
                hp = out.get(f"{db.replace('-', '_')}_hostport")
                if hp:
                    out[f"{db.replace('-', '_')}_dsn"] = f"{base}{hp}/{name}?connect_timeout=2"
            out.update(
                db_name=name,
                db_user=env.get("POSTGRES_USER", "postgres"),
                db_password=env.get("POSTGRES_PASSWORD", ""),
            )
        for service in ("alerting", "release", "failover"):
            info = self._service_info(service)
            ports = self._published(info) if info else []
            if ports:
                out[f"{service}_url"] = f"http://{ports[0][1]}:{ports[0][2]}"
        if self.url:
            out["metrics_url"] = f"{self.url.rstrip('/')}/metrics"
        return out

    def secrets(self) -> list[str]:
        """Database passwords from the containers' environment."""
        found = set()
        with contextlib.suppress(TargetError):
            for info in self._containers():
                for e in info["Config"].get("Env") or []:
                    key, _, value = e.partition("=")
                    if value and ("PASSWORD" in key or "SECRET" in key or "TOKEN" in key):
                        found.add(value)
        return sorted(found)

    def timings(self) -> TargetTimings:
        """No floors known: the containers' own settings are not visible from here."""
        return TargetTimings()

    def health(self) -> Health:
        """Every selected container running, not paused, on a network; no partition chain left."""
        try:
            infos = self._containers()
        except TargetError as exc:
            return Health(False, str(exc))
        issues: list[str] = []
        components: dict[str, Any] = {}
        for info in infos:
            name = info["Name"].lstrip("/")
            state = info["State"]
            nets = sorted((info["NetworkSettings"].get("Networks") or {}).keys())
            components[name] = {"status": state.get("Status"), "networks": nets}
            if state.get("Paused"):
                issues.append(f"{name} paused")
            elif not state.get("Running"):
                issues.append(f"{name} {state.get('Status')}")
            elif not nets and info["HostConfig"].get("NetworkMode") != "none":
                issues.append(f"{name} disconnected")
        if not infos:
            issues.append("no containers")
        summary = "all healthy" if not issues else "; ".join(issues)
        return Health(not issues, summary, components)

    def set_alert_receiver(self, url: str | None) -> None:
        """Point the ``alerting`` service at the drill's receiver, relayed into its network."""
        info = self._service_info("alerting")
        ports = self._published(info) if info else []
        if info is None or not ports:
            return  # no alerting service we can configure: alert probes simply see nothing
        target = url
        if url is not None:
            target = self._reachable_from(info, url)
        import httpx

        admin = f"http://{ports[0][1]}:{ports[0][2]}/admin/receiver"
        try:
            httpx.post(admin, json={"url": target}, timeout=5.0).raise_for_status()
        except httpx.HTTPError as exc:
            raise TargetError(f"cannot set the alert receiver on {admin}: {exc}") from exc
        if url is None and self._relay is not None:
            self._relay.close()
            self._relay = None

    def _reachable_from(self, info: Mapping[str, Any], url: str) -> str:
        """The receiver listens on 127.0.0.1: relay it on the host side of the container's network."""
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            return url
        nets = info["NetworkSettings"].get("Networks") or {}
        gateway = next((n.get("Gateway") for n in nets.values() if n.get("Gateway")), None)
        if not gateway:
            raise TargetError("the alerting container has no network gateway to relay alerts on")
        if self._relay is not None:
            self._relay.close()
        self._relay = TcpRelay(gateway, "127.0.0.1", parts.port or 80)
        return urlunsplit(parts._replace(netloc=f"{gateway}:{self._relay.port}"))
