"""The sandbox's topology: its components, sites, groups and links, and its database.

Both variants build from this one description: the embedded staging (processes on
127.0.0.1, started by ``up``) and the containerised one (``container``: one component per
container, every component on its own fixed port).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["proxy", "postgres", "api", "gateway", "failover", "release", "alerting"]


@dataclass(frozen=True)
class Component:
    """One component: what runs it, which site it belongs to, its port in a container."""

    kind: Kind
    site: str | None  # "a", "b", or None: shared by both sites
    # its port where every component has a host of its own (the containerised staging);
    # None: not containerised (Docker's networks take the fault proxy's place)
    container_port: int | None

    @property
    def module(self) -> str | None:
        """The module that runs it (``python -m``); None for PostgreSQL."""
        return None if self.kind == "postgres" else f"gameday.sandbox.{self.kind}"


# in the order `gameday sandbox status` lists them; the proxy first (it takes the first port)
COMPONENTS: dict[str, Component] = {
    "proxy": Component("proxy", None, None),
    "db-primary": Component("postgres", "a", 5432),
    "db-standby": Component("postgres", "b", 5433),
    "api-a": Component("api", "a", 8081),
    "api-b": Component("api", "b", 8082),
    "api-canary": Component("api", "a", 8083),
    "gateway": Component("gateway", None, 8080),
    "failover": Component("failover", None, 8090),
    "release": Component("release", None, 8091),
    "alerting": Component("alerting", None, 8092),
}
DATABASES = tuple(n for n, c in COMPONENTS.items() if c.kind == "postgres")
APIS = tuple(n for n, c in COMPONENTS.items() if c.kind == "api")
SITES = ("a", "b")
# service names a drill may use besides the components'
GROUPS: dict[str, list[str]] = {
    **{f"site-{s}": sorted(n for n, c in COMPONENTS.items() if c.site == s) for s in SITES},
    "apis": list(APIS),
    "databases": list(DATABASES),
}

# the database every API writes payments to, and the table that holds them
DB_NAME = "payments"
DB_USER = "gameday"
LEDGER_TABLE = "payments"
INITIAL_WRITER = DATABASES[0]  # takes writes until a failover promotes the other


def link_pairs() -> list[tuple[str, str]]:
    """Every (src, dst) pair that talks over a link (through the fault proxy, when embedded)."""
    pairs = [("gateway", api) for api in APIS]
    pairs += [(api, db) for api in APIS for db in DATABASES]
    pairs += [("db-standby", "db-primary"), ("db-primary", "db-standby")]  # replication
    pairs += [("failover", db) for db in DATABASES]
    return pairs
