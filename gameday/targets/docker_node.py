"""Container-side launcher of the Docker staging: one sandbox component per container.

``python -m gameday.targets.docker_node`` reads ``GAMEDAY_COMPONENT`` (api-a, db-primary, …),
writes the shared state.json the sandbox components expect (fixed ports, shared volume
``/state``), forwards each peer's port from 127.0.0.1 to that peer's container over the real
Docker networks, and runs the component: the sandbox module for HTTP parts, a supervisor of
PostgreSQL for the databases (first start, rejoin as standby, and fencing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import runpy
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gameday.sandbox import httpd
from gameday.sandbox import postgres as pg
from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.state import (
    DATABASES,
    WRITER_FILE,
    ComponentInfo,
    LinkInfo,
    SandboxError,
    SandboxState,
    atomic_write_json,
    link_name,
    pid_alive,
    read_writer,
    save_state,
)

STATE_DIR = Path(os.environ.get("GAMEDAY_STATE_DIR", "/state"))
DATA_ROOT = Path("/var/lib/gameday/pg")
PG_USER = "gdpg"
# every component's port, the same in every container: peers are reached on them
PORTS = {
    "gateway": 8080,
    "api-a": 8081,
    "api-b": 8082,
    "api-canary": 8083,
    "failover": 8090,
    "release": 8091,
    "alerting": 8092,
    "db-primary": 5432,
    "db-standby": 5433,
}
SITES = {"api-a": "a", "api-canary": "a", "db-primary": "a", "api-b": "b", "db-standby": "b"}
KINDS = {
    "api-a": "api",
    "api-b": "api",
    "api-canary": "api",
    "gateway": "gateway",
    "failover": "failover",
    "release": "release",
    "alerting": "alerting",
    "db-primary": "postgres",
    "db-standby": "postgres",
}
GROUPS = {
    "site-a": ["api-a", "api-canary", "db-primary"],
    "site-b": ["api-b", "db-standby"],
    "apis": ["api-a", "api-b", "api-canary"],
    "databases": list(DATABASES),
}
LINK_BASE_PORT = 21000
RESOLVE_TIMEOUT_S = 1.0
CONNECT_TIMEOUT_S = 2.0
log = logging.getLogger("gameday.docker_node")


def link_pairs() -> list[tuple[str, str]]:
    """The sandbox's links (same list as ``gameday.sandbox.manage``)."""
    apis = GROUPS["apis"]
    pairs = [("gateway", api) for api in apis]
    pairs += [(api, db) for api in apis for db in DATABASES]
    pairs += [("db-standby", "db-primary"), ("db-primary", "db-standby")]
    pairs += [("failover", db) for db in DATABASES]
    return pairs


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
    components = {
        name: ComponentInfo(
            name=name,
            kind=KINDS[name],
            port=port,
            site=SITES.get(name),
            data_dir=str(DATA_ROOT / name) if KINDS[name] == "postgres" else None,
            version=env.get("GAMEDAY_API_VERSION", "v1") if KINDS[name] == "api" else None,
        )
        for name, port in PORTS.items()
    }
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
        db_name=env.get("POSTGRES_DB", "payments"),
        db_user=env.get("POSTGRES_USER", "gameday"),
        db_password=env.get("POSTGRES_PASSWORD", "gameday"),
        pg_bin_dir=str(pg.default_bin_dir()),
        pg_run_as=PG_USER if os.geteuid() == 0 else None,
    )


# --- forwarding ---------------------------------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Resolver:
    """Peer names looked up in daemon threads; relays to a peer share a recent lookup.

    Docker's DNS answers for a peer that is stopped or cut off only after the stub
    resolver's timeouts (~10 s). In the event loop's default executor such a lookup held a
    worker thread that the interpreter joins at exit, so a container outlived Docker's stop
    grace period; a few of them also filled the pool and stalled lookups of healthy peers.
    A daemon thread is not joined at exit. A lookup is shared for ``timeout_s`` only: a
    peer back on the network is found by the next lookup, not after a stuck one ends.
    """

    def __init__(self, timeout_s: float = RESOLVE_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pending: dict[str, tuple[float, asyncio.Future[str | OSError]]] = {}

    async def resolve(self, host: str, port: int) -> str:
        """The address of ``host``; OSError if it has none, TimeoutError if it takes too long."""
        loop = asyncio.get_running_loop()
        started, fut = self._pending.get(host, (0.0, None))
        if fut is None or loop.time() - started >= self.timeout_s:
            fut = loop.create_future()
            self._pending[host] = (loop.time(), fut)
            threading.Thread(
                target=self._lookup, args=(loop, host, port, fut), name="resolve", daemon=True
            ).start()
        # shielded: a relay giving up must not cancel the lookup others wait for
        result = await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
        if isinstance(result, OSError):
            raise OSError(f"{host}: {result}")
        return result

    def _lookup(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        fut: asyncio.Future[str | OSError],
    ) -> None:
        result: str | OSError
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result = str(infos[0][4][0]) if infos else OSError("no address")
        except OSError as exc:
            result = exc

        def done() -> None:
            if self._pending.get(host, (0.0, None))[1] is fut:
                del self._pending[host]
            if not fut.done():
                fut.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(done)


async def _relay(
    resolver: Resolver,
    host: str,
    port: int,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    try:
        # a peer cut off the network has no DNS name: fail fast, like a refused connection
        addr = await resolver.resolve(host, port)
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection(addr, port), CONNECT_TIMEOUT_S
        )
    except (OSError, TimeoutError):
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _forward_all(routes: dict[int, tuple[str, int]]) -> None:
    resolver = Resolver()
    servers = []
    for listen, (host, port) in routes.items():

        async def on_conn(
            r: asyncio.StreamReader, w: asyncio.StreamWriter, h: str = host, p: int = port
        ) -> None:
            await _relay(resolver, h, p, r, w)

        servers.append(await asyncio.start_server(on_conn, "127.0.0.1", listen, reuse_address=True))
    await asyncio.Event().wait()


def start_forwarders(state: SandboxState, me: str) -> None:
    """127.0.0.1:<peer port> → peer, and 127.0.0.1:<link port> → link's destination, in a thread."""
    routes = {c.port: (n, c.port) for n, c in state.components.items() if n != me}
    routes.update(
        {lk.listen_port: (lk.dst, lk.upstream_port) for lk in state.links.values() if lk.src == me}
    )
    ready = threading.Event()

    def run() -> None:
        async def main() -> None:
            task = asyncio.ensure_future(_forward_all(routes))
            await asyncio.sleep(0.2)
            ready.set()
            await task

        asyncio.run(main())

    threading.Thread(target=run, name="forwarders", daemon=True).start()
    ready.wait(5.0)


# --- components -------------------------------------------------------------------------


def run_http_component(state: SandboxState, me: str) -> None:
    """Run the sandbox module of ``me``, listening on every interface (peers are remote)."""
    defaults = httpd.serve.__defaults__ or ()
    # serve(handler, port, host="127.0.0.1"): containers must accept peers on their networks
    httpd.serve.__defaults__ = (*defaults[:-1], "0.0.0.0")
    module = f"gameday.sandbox.{state.components[me].kind}"
    sys.argv = [module, "--state-dir", str(STATE_DIR), "--name", me]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


class DatabaseNode:
    """Supervises one PostgreSQL: primary at first start, standby of the writer otherwise.

    It also fences: once writer.json names the other database, a primary here shuts down
    and re-clones itself as the writer's standby (the sandbox's controller does this by pid).
    """

    def __init__(self, state: SandboxState, me: str) -> None:
        self.state, self.me = state, me
        self.comp = state.components[me]
        self.data_dir = Path(self.comp.data_dir or DATA_ROOT / me)
        self.bin_dir = Path(state.pg_bin_dir)
        self.run_as = state.pg_run_as
        self.log_path = DATA_ROOT / f"{me}.log"
        self.pid: int | None = None
        # writer.json epoch last seen naming us (or at boot): only a newer record demotes us
        self.seen_epoch = int(read_writer(STATE_DIR).get("epoch", 0))

    def _writer(self) -> str:
        return str(read_writer(STATE_DIR).get("writer", "db-primary"))

    def _is_standby(self) -> bool:
        return (self.data_dir / "standby.signal").exists()

    def _start(self) -> None:
        pg.make_owned_dir(DATA_ROOT, self.run_as)
        self.pid = pg.start(self.bin_dir, self.data_dir, self.comp.port, self.log_path, self.run_as)
        pg.wait_ready(
            self.state.dsn(self.me, dbname="postgres"),
            self.pid,
            self.log_path,
            self.state.settings.ready_timeout_s,
        )

    def _init_primary(self) -> None:
        pg.initdb(
            self.bin_dir, self.data_dir, self.state.db_user, self.state.db_password, self.run_as
        )
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write("listen_addresses = '*'\n")
        with (self.data_dir / "pg_hba.conf").open("a") as fh:
            # peers come from their containers' addresses, through forwarders
            fh.write("host all all 0.0.0.0/0 scram-sha-256\n")
            fh.write("host replication all 0.0.0.0/0 scram-sha-256\n")
        self._start()
        with pg.connect(self.state.dsn(self.me, dbname="postgres")) as conn:
            conn.execute(f"CREATE DATABASE {self.state.db_name}")
        with pg.connect(self.state.dsn(self.me)) as conn:
            conn.execute(pg.SCHEMA)
        log.info("initialised %s as the primary", self.me)

    def _join(self, writer: str) -> None:
        """Clone the writer into a fresh data dir and start as its streaming standby."""
        while True:
            try:
                pg.base_backup(
                    self.bin_dir,
                    self.data_dir,
                    self.state.link(self.me, writer).listen_port,
                    self.state.db_user,
                    self.state.db_password,
                    self.run_as,
                )
                break
            except SandboxError as exc:
                log.info("waiting for the writer %s: %s", writer, exc)
                time.sleep(1.0)
                if self._writer() != writer:
                    writer = self._writer()
                    if writer == self.me:
                        raise SandboxError("promoted while joining") from exc
        self._start()
        writer_dsn = self.state.dsn(writer, via=self.me)
        streaming = pg.wait_streaming(writer_dsn, self.state.settings.ready_timeout_s)
        if streaming and self.state.settings.replication_mode == "sync":
            with contextlib.suppress(SandboxError, Exception):
                pg.set_sync_standby(writer_dsn, True)
        log.info("%s streams from %s (streaming=%s)", self.me, writer, streaming)

    def boot(self) -> None:
        """First start or restart after a crash, following writer.json."""
        writer = self._writer()
        has_data = (self.data_dir / "PG_VERSION").exists()
        if writer == self.me and not has_data:
            self._init_primary()
        elif writer == self.me or (has_data and self._is_standby()):
            self._start()
        else:
            # a former primary may hold writes the writer never saw: re-clone it
            self._join(writer)

    def on_term(self, *_: Any) -> None:
        """`docker stop`: a fast shutdown of PostgreSQL, then exit (PID 1 ignores SIGTERM)."""
        if self.pid:
            pg.stop(self.pid)
        sys.exit(0)

    def supervise(self) -> None:
        """Exit with PostgreSQL (the container dies with it); fence when demoted."""
        while True:
            time.sleep(0.2)
            if not pid_alive(self.pid):
                log.error("postgres exited")
                sys.exit(1)
            record = read_writer(STATE_DIR)
            writer, epoch = str(record.get("writer", "db-primary")), int(record.get("epoch", 0))
            if writer == self.me:
                self.seen_epoch = epoch
            # a promotion in progress has no standby.signal yet an old writer record: wait for
            # the record rather than fence the database being promoted
            elif not self._is_standby() and epoch > self.seen_epoch:
                log.warning("writer is now %s: fencing %s and rejoining", writer, self.me)
                pg.stop(self.pid or 0)
                self._join(writer)
                self.seen_epoch = epoch


def _exit_on_term(signum: int, _frame: Any) -> None:
    """SIGTERM before the component handles it itself: give up starting and exit."""
    log.info("%s during start-up: exiting", signal.Signals(signum).name)
    raise SystemExit(0)


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
        atomic_write_json(
            STATE_DIR / WRITER_FILE, {"writer": "db-primary", "epoch": 0, "reason": "initial"}
        )
    start_forwarders(state, me)
    if state.components[me].kind == "postgres":
        node = DatabaseNode(state, me)
        signal.signal(signal.SIGTERM, node.on_term)
        node.boot()
        node.supervise()
    else:
        run_http_component(state, me)


if __name__ == "__main__":
    main()
