"""Manual response steps: pending list, acknowledgements from the terminal or `gameday ack`.

`gameday ack STEP` appends a line to `acks.jsonl` in the running drill's directory; the engine
polls that file, so an operator in another terminal (or a chat-ops bot) can mark a step done.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..scenarios.deadlines import choose_deadline
from ..scenarios.model import ManualStep, NightWindow

ACKS_FILE = "acks.jsonl"


@dataclass(frozen=True)
class Ack:
    step: str
    by: str


def append_ack(run_dir: Path, step: str, by: str | None = None) -> None:
    """Record that `step` is done (used by `gameday ack` and by the live view's key handler)."""
    line = json.dumps({"step": step, "by": by or getpass.getuser()}) + "\n"
    fd = os.open(run_dir / ACKS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


class AckInbox:
    """Reads new acknowledgements from a run directory's acks file."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ACKS_FILE
        self._offset = 0

    def read_new(self) -> list[Ack]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        acks: list[Ack] = []
        for raw in complete.splitlines():
            try:
                item = json.loads(raw)
                acks.append(Ack(str(item["step"]), str(item.get("by", "unknown"))))
            except (ValueError, KeyError, TypeError):
                continue  # a malformed line from a hand edit is ignored, not fatal
        return acks


@dataclass
class StepState:
    step: ManualStep
    deadline_s: float  # the day or night value in force for this drill
    done_at: float | None = None
    by: str | None = None


class ManualSteps:
    """Tracks which steps are pending and which were acknowledged, when and by whom."""

    def __init__(
        self,
        steps: Sequence[ManualStep],
        started: datetime | None = None,
        night: NightWindow | None = None,
    ) -> None:
        at = started or datetime.now(UTC)
        self.states = {
            s.name: StepState(s, choose_deadline(s.deadline, at, night).seconds) for s in steps
        }

    def acknowledge(self, name: str, by: str, t: float) -> StepState | None:
        """Mark a step done once; unknown or repeated acks return None."""
        state = self.states.get(name)
        if state is None or state.done_at is not None:
            return None
        state.done_at, state.by = t, by
        return state

    def by_number(self, number: int) -> str | None:
        """The name of the n-th pending step (1-based), as listed in the live view."""
        pending = self.pending()
        return pending[number - 1].step.name if 0 < number <= len(pending) else None

    def pending(self) -> list[StepState]:
        return [s for s in self.states.values() if s.done_at is None]

    def waiting_for(self, now: float, t_inj: float | None, include_optional: bool) -> bool:
        """Whether the drill should keep running for a step still inside its deadline."""
        if t_inj is None:
            return False
        return any(
            now < t_inj + s.deadline_s
            for s in self.pending()
            if include_optional or not s.step.optional
        )


def read_operator_lines(on_line: Callable[[str], None], stop: Callable[[], bool]) -> None:
    """Hand each line the operator types on the terminal to ``on_line`` on the running loop.

    A daemon thread: a blocked readline must never hold the process open at exit.
    """
    loop = asyncio.get_running_loop()

    def read() -> None:
        for line in sys.stdin:
            if stop():
                return
            loop.call_soon_threadsafe(on_line, line.strip())

    threading.Thread(target=read, name="manual-steps", daemon=True).start()


def acknowledge_from_terminal(
    steps: ManualSteps, ack: Callable[[str, str], None], stop: Callable[[], bool]
) -> None:
    """Let the operator type a step's number (or name) + Enter to mark it done (a terminal only)."""
    if not sys.stdin.isatty():
        return

    def on_line(text: str) -> None:
        name = steps.by_number(int(text)) if text.isdigit() else text
        if name:
            ack(name, getpass.getuser())

    read_operator_lines(on_line, stop)
