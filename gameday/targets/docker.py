"""Driver for containers on a Docker engine (``target: {type: docker, project: NAME}``).

Services are Compose services (``com.docker.compose.service``) of the selected containers;
``gameday.dev/groups`` (comma-separated) adds group names such as ``site-a``. Faults go
through the Docker SDK (kill, stop, pause, network disconnect) and, for partitions and
latency, through iptables / tc in the containers' network namespaces (``nsenter``, so the
engine must be local and we must be root). Every plan's ``undo`` holds container ids,
networks with their aliases and addresses, and iptables chain names: enough for
``gameday recover`` to revert in a new process from ``{project, labels, docker_host}``.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ..runners.budget import TargetTimings
from ..scenarios.model import (
    AnyFault,
    CommandFault,
    CrashFault,
    DockerTarget,
    LatencyFault,
    LoadSurgeFault,
    NetworkCutFault,
    PartitionFault,
    PauseFault,
    StopFault,
)
from .base import FaultPlan, Health, TargetError, UnsupportedFault
from .docker_relay import TcpRelay

DRIVER = "docker"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
GROUPS_LABEL = "gameday.dev/groups"
RUN_LABEL = "gameday.dev/run"
API_ALIASES = ("api", "apis")
DATABASES = ("db-primary", "db-standby")
CHAIN_PREFIX = "GAMEDAY-"
STOP_TIMEOUT_S = 10
WAIT_S = 15.0
# networks whose endpoints take no aliases or fixed addresses
PREDEFINED_NETWORKS = ("bridge", "host", "none")


class DockerDriver:
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

    def _inspect(self, cid: str) -> dict[str, Any] | None:
        import docker.errors

        try:
            data: dict[str, Any] = self.client.api.inspect_container(cid)
            return data
        except docker.errors.NotFound:
            return None

    def known_services(self) -> dict[str, list[dict[str, str]]]:
        """Every service name (Compose services, groups, api aliases) with its containers."""
        out: dict[str, list[dict[str, str]]] = {}
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

    def resolve(self, service: str) -> list[dict[str, str]]:
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
                problems.append(self._unknown(service, list(known)))
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
        return self._inspect(refs[0]["id"]) if refs else None

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

    # --- planning ---------------------------------------------------------------------------

    def plan(self, fault: AnyFault) -> FaultPlan:
        """Resolve what ``fault`` touches and how to undo it; changes nothing."""
        if isinstance(fault, CommandFault | LoadSurgeFault):
            from . import plan_local_fault

            return plan_local_fault(fault)
        label, spec = fault.label(), self.spec()
        if isinstance(fault, CrashFault | StopFault | PauseFault):
            refs = self.resolve(fault.service)
            undo: dict[str, Any] = {
                "kind": "unpause" if fault.action == "pause" else "start",
                "containers": refs,
            }
            if isinstance(fault, CrashFault):
                undo["restart"] = fault.restart
            return FaultPlan(label, fault.action, DRIVER, spec, undo, _names(refs))
        if isinstance(fault, NetworkCutFault):
            refs = self.resolve(fault.service)
            saved = {r["id"]: self._endpoints(r["id"]) for r in refs}
            undo = {"kind": "reconnect", "containers": refs, "networks": saved}
            detail = {"service": fault.service, "mode": fault.mode}
            return FaultPlan(label, fault.action, DRIVER, spec, undo, _names(refs), detail)
        if isinstance(fault, PartitionFault):
            a = [r for s in fault.between[0] for r in self.resolve(s)]
            b = [r for s in fault.between[1] for r in self.resolve(s)]
            ids_a, ids_b = {r["id"] for r in a}, {r["id"] for r in b}
            if ids_a & ids_b:
                raise TargetError(f"{label}: a container cannot be on both sides of a partition")
            tool = self._netns_tool("iptables")
            undo = {
                "kind": "iptables",
                "chain": CHAIN_PREFIX + secrets.token_hex(6).upper(),
                "iptables": tool,
                "sides": [a, b],
                "containers": a + b,
            }
            between: dict[str, Any] = {"between": fault.between}
            return FaultPlan(label, fault.action, DRIVER, spec, undo, _names(a + b), between)
        if isinstance(fault, LatencyFault):
            return self._latency_plan(fault)
        raise UnsupportedFault(
            f"the docker target cannot apply {fault.action!r}"
            + (
                " (gray releases need the sandbox's release controller API)"
                if fault.action == "gray-release"
                else ""
            )
        )

    def _latency_plan(self, fault: LatencyFault) -> FaultPlan:
        if fault.link:
            raise UnsupportedFault(
                "the docker target delays all of a service's traffic; give 'service', not 'link'"
            )
        if not netem_available():
            raise UnsupportedFault(
                "latency needs tc netem (kernel module sch_netem), which this host's kernel "
                "lacks: not supported on this host"
            )
        refs = self.resolve(str(fault.service))
        tool = self._netns_tool("tc")
        undo = {"kind": "netem", "tc": tool, "containers": refs}
        detail = {"delay_ms": fault.delay * 1000.0, "jitter_ms": fault.jitter * 1000.0}
        return FaultPlan(
            fault.label(), fault.action, DRIVER, self.spec(), undo, _names(refs), detail
        )

    def _endpoints(self, cid: str) -> dict[str, dict[str, Any]]:
        """Each network of a container with what reconnecting needs (aliases, addresses)."""
        info = self._inspect(cid)
        if info is None:
            raise TargetError(f"container {cid[:12]} disappeared")
        out = {}
        for net, ep in (info["NetworkSettings"].get("Networks") or {}).items():
            ipam = ep.get("IPAMConfig") or {}
            out[net] = {
                "id": ep.get("NetworkID"),
                "aliases": [a for a in ep.get("Aliases") or [] if a != cid[:12]],
                "ipv4": ipam.get("IPv4Address") or ep.get("IPAddress") or None,
                "ipv6": ipam.get("IPv6Address") or ep.get("GlobalIPv6Address") or None,
                "links": ep.get("Links") or [],
            }
        return out

    def _local_engine(self) -> bool:
        host = self.docker_host or ""
        return host == "" or host.startswith("unix://")

    def _netns_tool(self, tool: str) -> str:
        """The host binary run in containers' network namespaces (via nsenter)."""
        if not self._local_engine():
            raise UnsupportedFault(
                f"{tool} rules need a local Docker engine (DOCKER_HOST is {self.docker_host})"
            )
        if os.geteuid() != 0:
            raise UnsupportedFault(f"{tool} in containers' network namespaces needs root")
        for name in (tool, f"{tool}-legacy") if tool == "iptables" else (tool,):
            path = shutil.which(name) or next(
                (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
            )
            if path and shutil.which("nsenter"):
                return path
        raise UnsupportedFault(f"{tool} and nsenter must be installed on the Docker host")

    # --- apply / revert ---------------------------------------------------------------------

    def apply(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Apply a planned fault and confirm it took effect."""
        if plan.driver != DRIVER:
            from . import target_from_spec

            return target_from_spec(plan.driver, plan.spec).apply(plan)
        undo = plan.undo
        refs = list(undo.get("containers", []))
        if plan.action == "crash":
            return self._each(refs, self._kill)
        if plan.action == "stop":
            return self._each(refs, self._stop)
        if plan.action == "pause":
            return self._each(refs, self._pause)
        kind = undo.get("kind")
        if kind == "reconnect":
            return self._each(refs, self._disconnect)
        if kind == "iptables":
            return self._partition(undo)
        if kind == "netem":
            return self._netem_add(undo, plan.detail)
        raise UnsupportedFault(f"cannot apply plan kind {kind!r}")

    def revert(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Undo a plan; idempotent, harmless for a plan never applied or a container gone."""
        if plan.driver != DRIVER:
            from . import target_from_spec

            return target_from_spec(plan.driver, plan.spec).revert(plan)
        undo = plan.undo
        refs = list(undo.get("containers", []))
        kind = undo.get("kind")
        if kind == "start":
            if not undo.get("restart", True):
                return {"left_down": _names(refs)}
            return self._each(refs, self._start)
        if kind == "unpause":
            return self._each(refs, self._unpause)
        if kind == "reconnect":
            saved = dict(undo.get("networks", {}))
            return self._each(refs, lambda cid: self._reconnect(cid, saved.get(cid, {})))
        if kind == "iptables":
            tool, chain = str(undo["iptables"]), str(undo["chain"])
            return self._each(refs, lambda cid: self._iptables_remove(cid, tool, chain))
        if kind == "netem":
            return self._each(refs, lambda cid: self._netem_del(cid, str(undo["tc"])))
        raise UnsupportedFault(f"cannot revert plan kind {kind!r}")

    def _each(self, refs: list[dict[str, str]], fn: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        errors = []
        for ref in refs:
            try:
                out[ref["name"]] = fn(ref["id"])
            except TargetError as exc:
                errors.append(f"{ref['name']}: {exc}")
            except Exception as exc:  # docker.errors.APIError and friends
                errors.append(f"{ref['name']}: {_api_message(exc)}")
        if errors:
            raise TargetError("; ".join(errors))
        return out

    def _wait_state(self, cid: str, check: Any, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            info = self._inspect(cid)
            if info is None or check(info["State"]):
                return
            time.sleep(0.05)
        raise TargetError(f"container {cid[:12]} did not become {what}")

    # crash, stop, pause

    def _kill(self, cid: str) -> str:
        info = self._inspect(cid)
        if info is None or not info["State"].get("Running"):
            return "not running"
        self.client.api.kill(cid, signal="SIGKILL")
        self._wait_state(cid, lambda s: not s.get("Running"), "stopped after SIGKILL")
        return "killed"

    def _stop(self, cid: str) -> str:
        self.client.api.stop(cid, timeout=STOP_TIMEOUT_S)
        return "stopped"

    def _pause(self, cid: str) -> str:
        info = self._inspect(cid)
        if info is None or info["State"].get("Paused"):
            return "already paused"
        self.client.api.pause(cid)
        self._wait_state(cid, lambda s: s.get("Paused"), "paused")
        return "paused"

    def _start(self, cid: str) -> str:
        info = self._inspect(cid)
        if info is None:
            return "gone"
        if info["State"].get("Paused"):
            self.client.api.unpause(cid)
        if info["State"].get("Running"):
            return "running"
        self.client.api.start(cid)
        self._wait_state(cid, lambda s: s.get("Running"), "running")
        return "started"

    def _unpause(self, cid: str) -> str:
        info = self._inspect(cid)
        if info is None or not info["State"].get("Paused"):
            return "not paused"
        self.client.api.unpause(cid)
        self._wait_state(cid, lambda s: not s.get("Paused"), "unpaused")
        return "unpaused"

    # network cut

    def _disconnect(self, cid: str) -> list[str]:
        info = self._inspect(cid)
        nets = list((info or {}).get("NetworkSettings", {}).get("Networks") or {})
        for net in nets:
            with contextlib.suppress(_not_found()):
                self.client.api.disconnect_container_from_network(cid, net, force=True)
        left = list((self._inspect(cid) or {}).get("NetworkSettings", {}).get("Networks") or {})
        if left:
            raise TargetError(f"still connected to {', '.join(left)}")
        return nets

    def _reconnect(self, cid: str, saved: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
        info = self._inspect(cid)
        if info is None:
            return {"container": "gone"}
        current = info["NetworkSettings"].get("Networks") or {}
        done: dict[str, str] = {}
        for net, ep in saved.items():
            if net in current:
                done[net] = "connected"
                continue
            ref = str(ep.get("id") or net)
            predefined = net in PREDEFINED_NETWORKS
            kwargs: dict[str, Any] = {}
            if not predefined:
                kwargs = {
                    "aliases": list(ep.get("aliases") or []) or None,
                    "ipv4_address": ep.get("ipv4") or None,
                    "ipv6_address": ep.get("ipv6") or None,
                    "links": list(ep.get("links") or []) or None,
                }
            try:
                self._connect(ref, net, cid, kwargs)
                done[net] = "reconnected"
            except _not_found():
                done[net] = "network gone"
            except Exception as exc:
                msg = _api_message(exc)
                if "already exists" in msg or "already attached" in msg:
                    done[net] = "connected"
                elif kwargs.get("ipv4_address") or kwargs.get("ipv6_address"):
                    # the address can only be pinned on user-configured subnets, or it was
                    # taken meanwhile: reconnect anyway, on a new address
                    kwargs.update(ipv4_address=None, ipv6_address=None)
                    self._connect(ref, net, cid, kwargs)
                    done[net] = f"reconnected on a new address ({msg})"
                else:
                    raise
        return done

    def _connect(self, ref: str, name: str, cid: str, kwargs: Mapping[str, Any]) -> None:
        try:
            self.client.api.connect_container_to_network(cid, ref, **kwargs)
        except _not_found():
            if ref == name:
                raise
            # the network was re-created with the same name: reconnect to that one
            self.client.api.connect_container_to_network(cid, name, **kwargs)

    # partition (iptables in the containers' network namespaces)

    def _pid(self, cid: str) -> int | None:
        info = self._inspect(cid)
        if info is None or not info["State"].get("Running"):
            return None
        return int(info["State"]["Pid"]) or None

    def _ips(self, cid: str) -> list[str]:
        info = self._inspect(cid)
        nets = (info or {}).get("NetworkSettings", {}).get("Networks") or {}
        return sorted({str(ep["IPAddress"]) for ep in nets.values() if ep.get("IPAddress")})

    def _nsenter(
        self, pid: int, argv: list[str], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["nsenter", "-t", str(pid), "-n", *argv],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if check and proc.returncode != 0:
            raise TargetError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _partition(self, undo: Mapping[str, Any]) -> dict[str, Any]:
        tool, chain = str(undo["iptables"]), str(undo["chain"])
        side_a, side_b = (list(s) for s in undo["sides"])
        ips = {r["id"]: self._ips(r["id"]) for r in side_a + side_b}
        out: dict[str, Any] = {}
        for mine, other in ((side_a, side_b), (side_b, side_a)):
            peers = sorted({ip for r in other for ip in ips[r["id"]]})
            for ref in mine:
                pid = self._pid(ref["id"])
                if pid is None:
                    out[ref["name"]] = "not running"
                    continue
                self._iptables_install(pid, tool, chain, peers)
                out[ref["name"]] = {"dropped": peers}
        return {"chain": chain, "containers": out}

    def _iptables_install(self, pid: int, tool: str, chain: str, peers: list[str]) -> None:
        if self._nsenter(pid, [tool, "-w", "-n", "-L", chain], check=False).returncode != 0:
            self._nsenter(pid, [tool, "-w", "-N", chain])
        self._nsenter(pid, [tool, "-w", "-F", chain])
        for ip in peers:
            ipaddress.ip_address(ip)  # never pass anything but an address to iptables
            self._nsenter(pid, [tool, "-w", "-A", chain, "-s", ip, "-j", "DROP"])
            self._nsenter(pid, [tool, "-w", "-A", chain, "-d", ip, "-j", "DROP"])
        for hook in ("INPUT", "OUTPUT"):
            if self._nsenter(pid, [tool, "-w", "-C", hook, "-j", chain], check=False).returncode:
                self._nsenter(pid, [tool, "-w", "-I", hook, "1", "-j", chain])

    def _iptables_remove(self, cid: str, tool: str, chain: str) -> str:
        pid = self._pid(cid)
        if pid is None:
            # a stopped container's network namespace, and its rules, are gone
            return "not running"
        for hook in ("INPUT", "OUTPUT"):
            for _ in range(100):
                if self._nsenter(
                    pid, [tool, "-w", "-D", hook, "-j", chain], check=False
                ).returncode:
                    break
        if self._nsenter(pid, [tool, "-w", "-n", "-L", chain], check=False).returncode == 0:
            self._nsenter(pid, [tool, "-w", "-F", chain])
            self._nsenter(pid, [tool, "-w", "-X", chain])
            return "removed"
        return "absent"

    def chains(self, cid: str, tool: str = "iptables") -> list[str]:
        """gameday chains in a container's network namespace (for checks and tests)."""
        pid = self._pid(cid)
        if pid is None:
            return []
        out = self._nsenter(pid, [tool, "-w", "-S"], check=False).stdout
        return sorted({w for w in out.split() if w.startswith(CHAIN_PREFIX)})

    # latency (tc netem, where the kernel has it)

    def _interfaces(self, pid: int) -> list[str]:
        out = self._nsenter(pid, ["ip", "-o", "link", "show"], check=False).stdout
        names = [
            line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line
        ]
        return [n for n in names if n and n != "lo"]

    def _netem_add(self, undo: Mapping[str, Any], detail: Mapping[str, Any]) -> dict[str, Any]:
        tc = str(undo["tc"])
        delay, jitter = float(detail["delay_ms"]), float(detail.get("jitter_ms") or 0.0)
        out: dict[str, Any] = {}
        for ref in undo["containers"]:
            pid = self._pid(ref["id"])
            if pid is None:
                out[ref["name"]] = "not running"
                continue
            ifaces = self._interfaces(pid)
            for iface in ifaces:
                argv = [
                    tc,
                    "qdisc",
                    "replace",
                    "dev",
                    iface,
                    "root",
                    "netem",
                    "delay",
                    f"{delay:g}ms",
                ]
                if jitter:
                    argv.append(f"{jitter:g}ms")
                proc = self._nsenter(pid, argv, check=False)
                if proc.returncode != 0:
                    if "unknown" in proc.stderr.lower():
                        raise UnsupportedFault(
                            "tc netem is not available in this host's kernel: latency is not "
                            "supported on this host"
                        )
                    raise TargetError(f"tc netem on {ref['name']}/{iface}: {proc.stderr.strip()}")
            out[ref["name"]] = ifaces
        return out

    def _netem_del(self, cid: str, tc: str) -> str:
        pid = self._pid(cid)
        if pid is None:
            return "not running"
        for iface in self._interfaces(pid):
            self._nsenter(pid, [tc, "qdisc", "del", "dev", iface, "root"], check=False)
        return "removed"


def netem_available() -> bool:
    """Whether this kernel can run the netem qdisc (loaded, built in, or loadable)."""
    if os.path.exists("/sys/module/sch_netem"):
        return True
    modprobe = shutil.which("modprobe") or (
        "/sbin/modprobe" if os.path.exists("/sbin/modprobe") else None
    )
    if modprobe is None:
        return False
    proc = subprocess.run([modprobe, "-n", "-q", "sch_netem"], capture_output=True, check=False)
    return proc.returncode == 0


def _names(refs: list[dict[str, str]]) -> tuple[str, ...]:
    return tuple(r["name"] for r in refs)


def _not_found() -> type[Exception]:
    import docker.errors

    err: type[Exception] = docker.errors.NotFound
    return err


def _api_message(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)
