"""PostgreSQL in a container: first start, rejoin as the writer's standby, and fencing."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from gameday.sandbox import postgres as pg
from gameday.sandbox.state import SandboxError, SandboxState, current_writer, pid_alive, read_writer
from gameday.sandbox.topology import INITIAL_WRITER

DATA_ROOT = Path("/var/lib/gameday/pg")
PG_USER = "gdpg"  # the system user PostgreSQL runs as (the image's /etc/passwd has it)
log = logging.getLogger("gameday.sandbox.container")


class DatabaseNode:
    """Supervises one PostgreSQL: primary at first start, standby of the writer otherwise.

    It also fences: once writer.json names the other database, a primary here shuts down
    and re-clones itself as the writer's standby (the sandbox's controller does this by pid).
    """

    def __init__(self, state: SandboxState, me: str) -> None:
        self.state, self.me = state, me
        self.comp = state.components[me]
        self.state_dir = Path(state.state_dir)
        self.data_dir = Path(self.comp.data_dir or DATA_ROOT / me)
        self.bin_dir = Path(state.pg_bin_dir)
        self.run_as = state.pg_run_as
        self.log_path = DATA_ROOT / f"{me}.log"
        self.pid: int | None = None
        # writer.json epoch last seen naming us (or at boot): only a newer record demotes us
        self.seen_epoch = int(read_writer(self.state_dir).get("epoch", 0))

    def _writer(self) -> str:
        return current_writer(self.state_dir)

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
        pg.create_ledger(self.state, self.me)
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
            record = read_writer(self.state_dir)
            writer, epoch = str(record.get("writer", INITIAL_WRITER)), int(record.get("epoch", 0))
            if writer == self.me:
                self.seen_epoch = epoch
            # a promotion in progress has no standby.signal yet an old writer record: wait for
            # the record rather than fence the database being promoted
            elif not self._is_standby() and epoch > self.seen_epoch:
                log.warning("writer is now %s: fencing %s and rejoining", writer, self.me)
                pg.stop(self.pid or 0)
                self._join(writer)
                self.seen_epoch = epoch
