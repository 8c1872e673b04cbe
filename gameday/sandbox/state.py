"""The sandbox's state files (state.json, writer.json) and process bookkeeping helpers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.topology import DATABASES as DATABASES  # re-exported: import from topology
from gameday.sandbox.topology import DB_NAME, DB_USER, INITIAL_WRITER, Kind

STATE_FILE = "state.json"
WRITER_FILE = "writer.json"
LOCK_FILE = "state.lock"
OWNER_MARKER = ".gameday-sandbox"  # written by `up`: this directory is gameday's to clear


class SandboxError(Exception):
    """A user-facing problem (no sandbox, already running, …): print it, no traceback."""


class LinkInfo(BaseModel):
    """One proxied link: connections to ``listen_port`` are forwarded to ``upstream_port``."""

    name: str
    src: str
    dst: str
    listen_port: int
    upstream_port: int


class ComponentInfo(BaseModel):
    """One component process of the sandbox."""

    name: str
    kind: Kind
    port: int
    site: str | None = None
    pid: int | None = None
    # every process group this component ever ran in, so down() can sweep them all
    pgids: list[int] = Field(default_factory=list)
    data_dir: str | None = None
    version: str | None = None

    @property
    def url(self) -> str:
        """Direct HTTP base URL (HTTP components)."""
        return f"http://127.0.0.1:{self.port}"


class SandboxState(BaseModel):
    """Everything a client needs to reach and control a running sandbox."""

    state_dir: str
    created_wall: str
    settings: SandboxSettings
    gateway_url: str
    proxy_admin_url: str
    admin_urls: dict[str, str]
    components: dict[str, ComponentInfo]
    links: dict[str, LinkInfo]
    groups: dict[str, list[str]]
    db_name: str = DB_NAME
    db_user: str = DB_USER
    db_password: str = ""
    pg_bin_dir: str = ""
    pg_run_as: str | None = None
    # SysV shared-memory ids PostgreSQL created, removed by down() if left behind
    shm_ids: list[int] = Field(default_factory=list)

    def link(self, src: str, dst: str) -> LinkInfo:
        """The link from service ``src`` to service ``dst``."""
        return self.links[link_name(src, dst)]

    def dsn(
        self, db: str, via: str | None = None, app: str = "gameday", dbname: str | None = None
    ) -> str:
        """Connection string to database component ``db``, direct or through ``via``'s link."""
        port = self.components[db].port if via is None else self.link(via, db).listen_port
        return (
            f"host=127.0.0.1 port={port} dbname={dbname or self.db_name} user={self.db_user} "
            f"password={self.db_password} application_name={app}"
        )

    def dsn_url(self, db: str, via: str | None = None) -> str:
        """The same as :meth:`dsn` as a ``postgresql://`` URL."""
        port = self.components[db].port if via is None else self.link(via, db).listen_port
        return (
            f"postgresql://{quote(self.db_user)}:{quote(self.db_password)}"
            f"@127.0.0.1:{port}/{self.db_name}"
        )

    def public_dict(self) -> dict[str, Any]:
        """The state without secrets (for printing)."""
        data = self.model_dump(mode="json")
        data["db_password"] = "***"
        return data


def link_name(src: str, dst: str) -> str:
    """Name of the link from ``src`` to ``dst``."""
    return f"{src}-to-{dst}"


def resolve_state_dir(state_dir: Path | str | None) -> Path:
    """The state dir to use (default ``.gameday/sandbox`` under the current directory)."""
    return Path(state_dir or SandboxSettings().state_dir).expanduser().absolute()


def atomic_write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    """Write JSON to ``path`` atomically (write a temp file, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, default=str)
    os.replace(tmp, path)


def load_state(state_dir: Path) -> SandboxState:
    """Read ``state.json``; SandboxError when there is no sandbox in ``state_dir``."""
    path = state_dir / STATE_FILE
    try:
        raw = path.read_text()
    except FileNotFoundError:
        raise SandboxError(f"no sandbox in {state_dir} (run `gameday sandbox up`)") from None
    except PermissionError:
        raise SandboxError(f"cannot read {path}: permission denied") from None
    try:
        return SandboxState.model_validate_json(raw)
    except ValueError:
        raise SandboxError(f"{path} is not a sandbox state file") from None


def save_state(state: SandboxState) -> None:
    """Write ``state.json`` (owner-only: it holds the database password)."""
    atomic_write_json(Path(state.state_dir) / STATE_FILE, state.model_dump(mode="json"), 0o600)


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Serialise read-modify-write of the state files between processes."""
    fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_writer(state_dir: Path) -> dict[str, Any]:
    """Which database takes writes now: ``{"writer": name, "epoch": n, ...}``."""
    try:
        data: dict[str, Any] = json.loads((state_dir / WRITER_FILE).read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return {"writer": INITIAL_WRITER, "epoch": 0}


def current_writer(state_dir: Path) -> str:
    """The database that takes writes now."""
    return str(read_writer(state_dir).get("writer", INITIAL_WRITER))


def write_initial_writer(state_dir: Path) -> None:
    """Point writes at the initial writer, before any failover (epoch 0)."""
    atomic_write_json(
        state_dir / WRITER_FILE, {"writer": INITIAL_WRITER, "epoch": 0, "reason": "initial"}
    )


def write_writer(state_dir: Path, writer: str, reason: str) -> dict[str, Any]:
    """Point writes at ``writer`` (bumps the epoch); returns the new record."""
    with state_lock(state_dir):
        epoch = int(read_writer(state_dir).get("epoch", 0)) + 1
        data = {"writer": writer, "epoch": epoch, "reason": reason, "t_mono": time.monotonic()}
        atomic_write_json(state_dir / WRITER_FILE, data)
    return data


# --- processes -------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name may contain spaces; fields start after the last ')'
    return raw[raw.rfind(")") + 2 :].split()


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a running process (a zombie counts as dead)."""
    if not pid or pid <= 0:
        return False
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def proc_pgrp(pid: int) -> int | None:
    """Process group of ``pid``."""
    fields = _proc_stat(pid)
    return int(fields[2]) if fields else None


def proc_cmdline(pid: int) -> str:
    """Command line of ``pid`` ('' if gone)."""
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def group_members(pgids: set[int]) -> list[int]:
    """Live pids whose process group is one of ``pgids``."""
    out: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _proc_stat(int(entry))
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) in pgids:
            out.append(int(entry))
    return out


def signal_pid(pid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to ``pid``; False when it is gone."""
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def read_postmaster_pid(data_dir: Path) -> tuple[int | None, int | None]:
    """(pid, SysV shm id) as ``postmaster.pid`` names them, alive or not; Nones when absent."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None, None
    pid = abs(int(lines[0])) if lines and lines[0].strip().lstrip("-").isdigit() else None
    shm: int | None = None
    if len(lines) >= 7:
        parts = lines[6].split()
        if len(parts) == 2 and parts[1].isdigit():
            shm = int(parts[1])
    return pid, shm


def postmaster_info(data_dir: Path) -> tuple[int | None, int | None]:
    """(postmaster pid, SysV shm id) from ``postmaster.pid``; Nones when absent or stale."""
    pid, shm = read_postmaster_pid(data_dir)
    if pid is not None and not pid_alive(pid):
        return None, shm
    return pid, shm
