"""Container-side launcher of the containerised sandbox: one component per container.

``python -m gameday.sandbox.container.node`` reads ``GAMEDAY_COMPONENT`` (api-a,
db-primary, …), writes the shared state.json the sandbox components expect (fixed ports,
shared volume ``/state``), forwards each peer's port from 127.0.0.1 to that peer's
container over the real Docker networks, and runs the component: the sandbox module for
HTTP parts, a supervisor of PostgreSQL for the databases (first start, rejoin as standby,
and fencing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import runpy
import signal
import sys
from pathlib import Path
from typing import Any

from gameday.sandbox import httpd
from gameday.sandbox import postgres as pg
from gameday.sandbox.container.database import DATA_ROOT, PG_USER, DatabaseNode
from gameday.sandbox.container.forward import start_forwarders
from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.state import (
    WRITER_FILE,
    ComponentInfo,
    LinkInfo,
    SandboxState,
    link_name,
    save_state,
    write_initial_writer,
)
from gameday.sandbox.topology import COMPONENTS, DB_NAME, DB_USER, GROUPS, link_pairs

STATE_DIR = Path(os.environ.get("GAMEDAY_STATE_DIR", "/state"))
# every containerised component's port, the same in every container: peers are reached on them
PORTS = {name: c.container_port for name, c in COMPONENTS.items() if c.container_port}
LINK_BASE_PORT = 21000
log = logging.getLogger("gameday.sandbox.container")


def build_state(env: dict[str, str]) -> SandboxState:
    """The state every container derives identically from its environment."""
    overrides: dict[str, Any] = {"state_dir": STATE_DIR}
    for key, field in (
        ("GAMEDAY_HEALTH_PERIOD", "health_period_s"),
        ("GAMEDAY_FAILURE_THRESHOLD", "failure_threshold"),
        ("GAMEDAY_ROLLOUT_INTERVAL", "rollout_interval_s"),
    ):
        if env.get(key):
            overrides[field] = (
                float(env[key]) if "period" in field or "interval" in field else int(env[key])
            )
    if env.get("GAMEDAY_FAILOVER"):
        overrides["failover_enabled"] = env["GAMEDAY_FAILOVER"].lower() in ("1", "true", "yes")
    if env.get("GAMEDAY_REPLICATION"):
        overrides["replication_mode"] = env["GAMEDAY_REPLICATION"]
    settings = SandboxSettings(**overrides)
    components: dict[str, ComponentInfo] = {}
    for name, port in PORTS.items():
        kind, site = COMPONENTS[name].kind, COMPONENTS[name].site
        components[name] = ComponentInfo(
            name=name,
            kind=kind,
            port=port,
            site=site,
            data_dir=str(DATA_ROOT / name) if kind == "postgres" else None,
            version=env.get("GAMEDAY_API_VERSION", "v1") if kind == "api" else None,
        )
    links = {
        link_name(src, dst): LinkInfo(
            name=link_name(src, dst),
            src=src,
            dst=dst,
            listen_port=LINK_BASE_PORT + i,
            upstream_port=PORTS[dst],
        )
        for i, (src, dst) in enumerate(link_pairs())
    }
    return SandboxState(
        state_dir=str(STATE_DIR),
        created_wall=env.get("GAMEDAY_CREATED", "docker"),
        settings=settings,
        gateway_url=components["gateway"].url,
        proxy_admin_url="",
        admin_urls={n: c.url for n, c in components.items() if c.kind not in ("postgres", "api")},
        components=components,
        links=links,
        groups=GROUPS,
        db_name=env.get("POSTGRES_DB", DB_NAME),
        db_user=env.get("POSTGRES_USER", DB_USER),
        db_password=env.get("POSTGRES_PASSWORD", "gameday"),
        pg_bin_dir=str(pg.default_bin_dir()),
        pg_run_as=PG_USER if os.geteuid() == 0 else None,
    )


def run_http_component(state: SandboxState, me: str) -> None:
    """Run the sandbox module of ``me``, listening on every interface (peers are remote)."""
    defaults = httpd.serve.__defaults__ or ()
    # serve(handler, port, host="127.0.0.1"): containers must accept peers on their networks
    httpd.serve.__defaults__ = (*defaults[:-1], "0.0.0.0")
    module = COMPONENTS[me].module
    assert module is not None, f"{me} is no HTTP component"
    sys.argv = [module, "--state-dir", str(STATE_DIR), "--name", me]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _exit_on_term(signum: int, _frame: Any) -> None:
    """SIGTERM before the component handles it itself: give up starting and exit at once.

    `os._exit`, not SystemExit: an interpreter exit joins every executor thread, and one
    stuck in a lookup of a peer Docker's DNS answers slowly held a `docker stop` past its
    grace period (a SIGKILL instead of a stop).
    """
    log.info("%s during start-up: exiting", signal.Signals(signum).name)
    logging.shutdown()
    os._exit(0)


def main() -> None:
    """Entry point of every staging container."""
    # PID 1 of a container (no init) ignores the signals it has no handler for: until the
    # component installs its own, a `docker stop` would wait out the grace period for SIGKILL
    signal.signal(signal.SIGTERM, _exit_on_term)
    me = os.environ.get("GAMEDAY_COMPONENT") or (sys.argv[1] if len(sys.argv) > 1 else "")
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {me} %(levelname)s %(message)s")
    if me not in PORTS:
        raise SystemExit(f"GAMEDAY_COMPONENT must be one of {', '.join(PORTS)} (got {me!r})")
    state = build_state(dict(os.environ))
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        STATE_DIR.chmod(0o777)
    save_state(state)
    with contextlib.suppress(FileExistsError):
        # O_EXCL: the first container to start sets the initial writer, nobody overwrites it
        fd = os.open(STATE_DIR / WRITER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        write_initial_writer(STATE_DIR)
    start_forwarders(state, me)
    if state.components[me].kind == "postgres":
        node = DatabaseNode(state, me)
        signal.signal(signal.SIGTERM, node.on_term)
        node.boot()
        node.supervise()
    else:
        run_http_component(state, me)
        # the component stopped cleanly: nothing left to wait for (see _exit_on_term)
        logging.shutdown()
        os._exit(0)


if __name__ == "__main__":
    main()
