"""The containerised sandbox, created through the Docker SDK with Compose labels.

The same topology as ``examples/docker/compose.yaml``: networks site-a, site-b and core, a
shared state volume, PostgreSQL primary (site A) and streaming standby (site B), the APIs,
gateway and controllers; every public port published on 127.0.0.1. Everything created
carries ``gameday.dev/run`` so :func:`remove_stack` (and a test's cleanup) finds it.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from gameday.ports import free_port
from gameday.sandbox.container.node import PORTS
from gameday.sandbox.topology import COMPONENTS, DB_NAME, DB_USER, GROUPS

RUN_LABEL = "gameday.dev/run"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
GROUPS_LABEL = "gameday.dev/groups"
# which networks each service joins: its site's, if any, and core (where the gateway is)
NETWORKS = {
    name: [f"site-{c.site}", "core"] if c.site else ["core"]
    for name, c in COMPONENTS.items()
    if c.container_port
}
PUBLISHED = ("gateway", "db-primary", "db-standby", "failover", "release", "alerting")
START_ORDER = (
    ("db-primary",),
    ("db-standby", "api-a", "api-b", "api-canary", "release"),
    ("gateway", "failover", "alerting"),
)


@dataclass
class Stack:
    """A running staging: its project, run label, and the host ports of its public services."""

    project: str
    run_id: str
    password: str
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The gateway, published on 127.0.0.1."""
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def dsn(self, db: str = "db-primary") -> str:
        """A direct connection string to one database's published port."""
        return (
            f"host=127.0.0.1 port={self.ports[db]} dbname={DB_NAME} user={DB_USER} "
            f"password={self.password} connect_timeout=2"
        )


def _labels(project: str, run_id: str, **extra: str) -> dict[str, str]:
    return {PROJECT_LABEL: project, RUN_LABEL: run_id, **extra}


def _free_subnets(client: Any, count: int) -> list[str]:
    used = set()
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            used.add(str(cfg.get("Subnet", "")))
    out = []
    for third in range(secrets.randbelow(200), 256 + 200):
        cand = f"10.213.{third % 256}.0/24"
        if cand not in used and cand not in out:
            out.append(cand)
        if len(out) == count:
            return out
    raise RuntimeError("no free 10.213.x.0/24 subnet for the staging networks")


def create_stack(
    client: Any,
    image: str,
    project: str,
    run_id: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 90.0,
) -> Stack:
    """Create and start the staging; returns once the gateway serves payments."""
    password = secrets.token_urlsafe(12)
    stack = Stack(project, run_id, password)
    import docker.types

    subnets = _free_subnets(client, 3)
    nets = {}
    for name, subnet in zip(("site-a", "site-b", "core"), subnets, strict=True):
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        nets[name] = client.networks.create(
            f"{project}_{name}",
            driver="bridge",
            ipam=ipam,
            labels=_labels(project, run_id, **{"com.docker.compose.network": name}),
        )
    volume = client.volumes.create(
        f"{project}_state",
        labels=_labels(project, run_id, **{"com.docker.compose.volume": "state"}),
    )
    common = {
        "POSTGRES_USER": DB_USER,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_DB": DB_NAME,
        **(env or {}),
    }
    containers = {}
    for service, networks in NETWORKS.items():
        first = networks[0]
        # fixed host ports: an ephemeral one would change when a network cut is reverted
        ports = {PORTS[service]: ("127.0.0.1", free_port())} if service in PUBLISHED else {}
        endpoint = client.api.create_endpoint_config(aliases=[service])
        containers[service] = client.api.create_container(
            image,
            name=f"{project}-{service}-1",
            hostname=service,
            environment={**common, "GAMEDAY_COMPONENT": service},
            labels=_labels(
                project,
                run_id,
                **{
                    SERVICE_LABEL: service,
                    "com.docker.compose.container-number": "1",
                    "com.docker.compose.oneoff": "False",
                    GROUPS_LABEL: ",".join(g for g, m in GROUPS.items() if service in m),
                },
            ),
            ports=list(ports),
            host_config=client.api.create_host_config(
                port_bindings=ports,
                binds={volume.name: {"bind": "/state", "mode": "rw"}},
                # no upstream resolvers: a cut-off peer's lookup never leaves the host (it fails after
                # Docker's DNS timeout; the relays' own 1 s timeout keeps them responsive)
                dns=["127.0.0.1"],
                # an init as PID 1 passes `docker stop`'s SIGTERM on to the component, which
                # is then not PID 1: a SIGTERM before its handler is set terminates it too
                init=True,
            ),
            networking_config=client.api.create_networking_config({nets[first].name: endpoint}),
        )["Id"]
        for other in networks[1:]:
            nets[other].connect(containers[service], aliases=[service])
    deadline = time.monotonic() + timeout_s
    for group in START_ORDER:
        for service in group:
            client.api.start(containers[service])
        for service in group:
            if service in PUBLISHED:
                stack.ports[service] = _host_port(client, containers[service], PORTS[service])
        if group == START_ORDER[0]:
            _wait(lambda: _sql_ok(stack.dsn("db-primary")), deadline, "db-primary", client, stack)
        if group == START_ORDER[1]:
            _wait(lambda: _streaming(stack), deadline, "db-standby streaming", client, stack)
    _wait(lambda: _pay_ok(stack.url), deadline, "payments through the gateway", client, stack)
    return stack


def _host_port(client: Any, container: str, port: int) -> int:
    for _ in range(50):
        info = client.api.inspect_container(container)
        bindings = (info["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
        if bindings:
            return int(bindings[0]["HostPort"])
        time.sleep(0.1)
    raise RuntimeError(f"{info['Name']}: port {port} was not published")


def _sql_ok(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _streaming(stack: Stack) -> bool:
    try:
        with psycopg.connect(stack.dsn("db-primary"), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            ).fetchone()
        return bool(row and row[0])
    except psycopg.Error:
        return False


def _pay_ok(url: str) -> bool:
    try:
        r = httpx.post(f"{url}/pay", json={"account": "probe", "amount": 1}, timeout=2.0)
        return r.status_code == 200
    except httpx.HTTPError:
        return False


def _wait(check: Any, deadline: float, what: str, client: Any, stack: Stack) -> None:
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    logs = []
    for c in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={stack.run_id}"}):
        tail = c.logs(tail=5).decode(errors="replace").strip().replace("\n", " | ")
        logs.append(f"{c.name} [{c.status}]: {tail}")
    raise RuntimeError(f"staging not ready: {what}\n" + "\n".join(logs))


def remove_stack(client: Any, run_id: str) -> dict[str, int]:
    """Remove every container, network and volume labelled with ``run_id``; returns counts."""
    flt = {"label": f"{RUN_LABEL}={run_id}"}
    counts = {"containers": 0, "networks": 0, "volumes": 0}
    for c in client.containers.list(all=True, filters=flt):
        with contextlib.suppress(Exception):
            c.remove(force=True, v=True)
            counts["containers"] += 1
    for n in client.networks.list(filters=flt):
        with contextlib.suppress(Exception):
            n.remove()
            counts["networks"] += 1
    for v in client.volumes.list(filters=flt):
        with contextlib.suppress(Exception):
            v.remove(force=True)
            counts["volumes"] += 1
    return counts
