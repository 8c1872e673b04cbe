"""Where a drill's bookkeeping lives: the gameday home, the active index, run directories."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path


def gameday_home() -> Path:
    """Where run bookkeeping lives: ``$GAMEDAY_HOME`` or ``./.gameday``."""
    return Path(os.environ.get("GAMEDAY_HOME") or ".gameday").expanduser().absolute()


def default_index_dir() -> Path:
    """Directory of the active-drill index."""
    return gameday_home() / "runs" / "active"


def utc_stamp(now: datetime | None = None) -> str:
    """Compact UTC timestamp used in run directory names, e.g. 20240501T120000Z."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def run_dir_for(
    scenario: str, reports_dir: Path = Path("reports"), now: datetime | None = None
) -> Path:
    """``reports/<scenario>-<utc>``: the run directory of a new drill (not created)."""
    return reports_dir / f"{scenario}-{utc_stamp(now)}"
