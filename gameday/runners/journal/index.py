"""The index of active drills (``<gameday home>/runs/active/<run_id>.json``): how recover finds journals."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .durable import write_durable_json
from .paths import default_index_dir, search_index_dirs
from .reader import read_journal
from .records import JournalError

log = logging.getLogger("gameday.journal")


def _entry(run_id: str, index_dir: Path | None) -> Path:
    return (index_dir or default_index_dir()) / f"{run_id}.json"


def register(run_id: str, journal: Path, index_dir: Path | None = None) -> None:
    """Add a drill to the active index, durably: its journal and this process's pid."""
    path = _entry(run_id, index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durable_json(path, {"run_id": run_id, "journal": str(journal), "pid": os.getpid()})


@dataclass(frozen=True)
class IndexEntry:
    """One drill listed in an index: its journal, and the index that lists it."""

    journal: Path
    index_dir: Path


def index_entries(index_dir: Path | None = None) -> list[IndexEntry]:
    """Drills listed in ``index_dir``, or by default in every index this user's drills use."""
    out: list[IndexEntry] = []
    seen: set[Path] = set()
    for directory in [index_dir] if index_dir is not None else search_index_dirs():
        if not directory.is_dir():
            continue
        for entry in sorted(directory.glob("*.json")):
            try:
                if entry.stat().st_uid != os.getuid():
                    raise PermissionError("not ours")  # never act on another user's entry
                journal = Path(json.loads(entry.read_text())["journal"])
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("ignoring unreadable index entry %s", entry)
                continue
            if journal not in seen:
                seen.add(journal)
                out.append(IndexEntry(journal, directory))
    return out


def active_journals(index_dir: Path | None = None) -> list[Path]:
    """Journals of every drill in the active index (running, or died without finishing)."""
    return [entry.journal for entry in index_entries(index_dir)]


def unregister(run_id: str, index_dir: Path | None = None) -> None:
    """Drop a drill from the active index."""
    _entry(run_id, index_dir).unlink(missing_ok=True)


@dataclass(frozen=True)
class ActiveRun:
    """A drill in the active index."""

    run_id: str
    run_dir: Path
    journal: Path
    pid: int | None
    alive: bool


def active_runs(index_dir: Path | None = None, *, alive_only: bool = True) -> list[ActiveRun]:
    """Drills in the active index; by default only those whose runner is alive (`gameday ack`)."""
    out: list[ActiveRun] = []
    for path in active_journals(index_dir):
        try:
            state = read_journal(path)
        except JournalError:
            continue
        alive = state.runner_alive()
        if alive or not alive_only:
            out.append(ActiveRun(state.run_id, path.parent, path, state.pid, alive))
    return out
