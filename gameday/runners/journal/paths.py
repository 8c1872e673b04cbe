"""Where a drill's bookkeeping lives: the gameday home, the active index, run directories.

The home is per user and independent of the working directory, so ``gameday recover`` run
from anywhere finds every drill of this user: ``$GAMEDAY_HOME``, else the user's state
directory (``$XDG_STATE_HOME/gameday`` or ``~/.local/state/gameday``), else, when there is
no usable home (a container with a read-only root and a UID without a home),
``<temp dir>/gameday-<uid>``, created 0700 and used only when it is ours.
"""

from __future__ import annotations

import os
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from .records import JournalError

# where versions before the per-user home kept the index: the working directory
LEGACY_HOME = Path(".gameday")


def _state_home() -> Path | None:
    """The per-user state directory for gameday, or None when the user has no home."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative path is ignored
        return Path(xdg) / "gameday"
    home = os.path.expanduser("~")
    if home == "~" or not Path(home).is_absolute():  # no $HOME and no passwd entry
        return None
    return Path(home) / ".local" / "state" / "gameday"


def fallback_home() -> Path:
    """The home used when the user's own is missing or read-only: ``<temp>/gameday-<uid>``."""
    return Path(tempfile.gettempdir()) / f"gameday-{os.getuid()}"


def _usable(path: Path) -> bool:
    """Create ``path`` if needed; whether we can write there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def owned_private(path: Path) -> bool:
    """Whether ``path`` is a real directory of ours that nobody else can write to.

    A shared temp dir is anyone's: another user may have made ``gameday-<uid>`` first to
    plant journals whose undo commands ``recover`` would run.
    """
    try:
        st = path.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.getuid()
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _private_fallback() -> Path:
    path = fallback_home()
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise JournalError(
            f"no writable place for gameday's run index: the home directory is missing or "
            f"read-only and {path} cannot be created ({exc.strerror or exc}); set GAMEDAY_HOME"
        ) from None
    if not owned_private(path):
        raise JournalError(
            f"{path} is not a private directory of uid {os.getuid()} (someone else made it or "
            "can write to it); set GAMEDAY_HOME to a directory of your own"
        )
    return path


def gameday_home() -> Path:
    """Where run bookkeeping lives (created if needed); JournalError when nowhere is writable."""
    explicit = os.environ.get("GAMEDAY_HOME")
    if explicit:
        return Path(explicit).expanduser().absolute()
    home = _state_home()
    if home is not None and _usable(home):
        return home
    return _private_fallback()


def default_index_dir() -> Path:
    """Directory of the active-drill index, where a new drill registers."""
    return gameday_home() / "runs" / "active"


def search_index_dirs() -> list[Path]:
    """Every index a drill of this user may be listed in, without creating any.

    The current home, the temp fallback (a run whose home was read-only), and the working
    directory's ``.gameday`` of earlier versions.
    """
    explicit = os.environ.get("GAMEDAY_HOME")
    homes: list[Path] = []
    if explicit:
        homes.append(Path(explicit).expanduser().absolute())
    else:
        state = _state_home()
        if state is not None:
            homes.append(state)
        if owned_private(fallback_home()):
            homes.append(fallback_home())
    homes.append(LEGACY_HOME.absolute())
    out: list[Path] = []
    for home in homes:
        index = home / "runs" / "active"
        if index.is_dir() and all(index.resolve() != seen.resolve() for seen in out):
            out.append(index)
    return out


def utc_stamp(now: datetime | None = None) -> str:
    """Compact UTC timestamp used in run directory names, e.g. 20240501T120000Z."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def run_dir_for(
    scenario: str, reports_dir: Path = Path("reports"), now: datetime | None = None
) -> Path:
    """``reports/<scenario>-<utc>``: the run directory of a new drill (not created)."""
    return reports_dir / f"{scenario}-{utc_stamp(now)}"
