"""Manual response steps: pending list, acknowledgements from the terminal or `gameday ack`.

Each step keeps its number (its place in the scenario) for the whole drill, so the number an
operator reads is the one they type. The running drill publishes its steps to `steps.json`
in its run directory as they change; `gameday ack STEP` resolves STEP (a name or a number)
there, refuses one the drill does not have, and appends a line to `acks.jsonl`, which the
engine polls, so an operator in another terminal (or a chat-ops bot) can mark a step done.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..scenarios.deadlines import choose_deadline
from ..scenarios.model import ManualStep, NightWindow
from ..scenarios.problems import did_you_mean
from .journal import write_durable_json

ACKS_FILE = "acks.jsonl"
STEPS_FILE = "steps.json"


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


@dataclass(frozen=True)
class PublishedStep:
    """A step as the running drill publishes it: its stable number, and who did it if done."""

    number: int
    name: str
    owner: str | None = None
    done: bool = False
    by: str | None = None


class UnknownStep(ValueError):
    """An acknowledgement names no step of the drill; the message lists the pending ones."""


def resolve_step(text: str, steps: Sequence[PublishedStep]) -> PublishedStep:
    """The step ``text`` names (its name, or its number); UnknownStep saying what is pending."""
    text = text.strip()
    for step in steps:
        if step.name == text:
            return step
    if text.isdigit():
        for step in steps:
            if step.number == int(text):
                return step
    if not steps:
        raise UnknownStep(f"no manual step {text!r}: this drill has no manual steps")
    pending = [s for s in steps if not s.done]
    hint = did_you_mean(text, [s.name for s in steps])
    waiting = ", ".join(f"{s.number} {s.name}" for s in pending)
    listing = f"pending: {waiting}" if pending else "every step is already acknowledged"
    raise UnknownStep(f"no manual step {text!r}{hint} ({listing})")


def read_published_steps(run_dir: Path) -> list[PublishedStep] | None:
    """The steps a running drill published (None: none yet, or unreadable)."""
    try:
        data = json.loads((run_dir / STEPS_FILE).read_text(encoding="utf-8"))
        return [PublishedStep(**item) for item in data["steps"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def acknowledge_in(run_dir: Path, text: str, by: str | None = None) -> str:
    """Acknowledge the step ``text`` names in the drill running in ``run_dir``; says what it did.

    UnknownStep, with nothing written, when the drill has no such step (or has not yet
    published its steps); a step already done is left as it was.
    """
    steps = read_published_steps(run_dir)
    if steps is None:
        raise UnknownStep(
            "the drill has not published its manual steps yet (it is still preparing); "
            "try again once its baseline has started"
        )
    step = resolve_step(text, steps)
    if step.done:
        return f"manual step {step.number} {step.name} was already done by {step.by}"
    append_ack(run_dir, step.name, by)
    return f"acknowledged manual step {step.number} {step.name}"


class AckInbox:
    """Reads new acknowledgements from a run directory's acks file; publishes its steps there."""

    def __init__(self, run_dir: Path, steps: ManualSteps | None = None) -> None:
        self.path = run_dir / ACKS_FILE
        self._offset = 0
        self._steps = steps
        self._published = -1  # the steps' version last written to steps.json

    def read_new(self) -> list[Ack]:
        """Acknowledgements appended since the last call (publishing the steps first if changed)."""
        self.publish()
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

    def publish(self) -> None:
        """Write the steps to steps.json when they changed, for `gameday ack` to check against."""
        steps = self._steps
        if steps is None or steps.version == self._published:
            return
        data = {"steps": [asdict(s) for s in steps.published()]}
        try:
            write_durable_json(self.path.with_name(STEPS_FILE), data)
        except OSError:
            return  # the run directory is unwritable: the record says so; try again next poll
        self._published = steps.version


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
        self.version = 0  # bumped on every acknowledgement, so the published list follows

    def acknowledge(self, name: str, by: str, t: float) -> StepState | None:
        """Mark a step done once; unknown or repeated acks return None."""
        state = self.states.get(name)
        if state is None or state.done_at is not None:
            return None
        state.done_at, state.by = t, by
        self.version += 1
        return state

    def by_number(self, number: int) -> str | None:
        """The name of step ``number`` (done or not), as numbered in the live view."""
        names = list(self.states)
        return names[number - 1] if 0 < number <= len(names) else None

    def pending(self) -> list[StepState]:
        return [s for s in self.states.values() if s.done_at is None]

    def published(self) -> list[PublishedStep]:
        """Every step with its number, and who did it if done: what `gameday ack` checks."""
        return [
            PublishedStep(i, name, s.step.owner, s.done_at is not None, s.by)
            for i, (name, s) in enumerate(self.states.items(), 1)
        ]

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


def typed_ack(
    steps: ManualSteps, ack: Callable[[str, str], None], say: Callable[[str, str], None]
) -> Callable[[str], None]:
    """What a line the operator typed does: acknowledge the step it names, or say why not."""

    def on_line(text: str) -> None:
        if not text:
            return
        try:
            step = resolve_step(text, steps.published())
        except UnknownStep as exc:
            say(f"{exc}; nothing acknowledged", "yellow")
            return
        if step.done:
            say(f"manual step {step.number} {step.name} was already done by {step.by}", "yellow")
            return
        ack(step.name, getpass.getuser())

    return on_line


def acknowledge_from_terminal(
    steps: ManualSteps,
    ack: Callable[[str, str], None],
    stop: Callable[[], bool],
    say: Callable[[str, str], None],
) -> None:
    """Let the operator type a step's number (or name) + Enter to mark it done (a terminal only)."""
    if not sys.stdin.isatty():
        return
    read_operator_lines(typed_ack(steps, ack, say), stop)
