"""A console that cannot be written to (a closed pipe, a dropped terminal) never costs the drill.

The drill goes on, reverts and writes its report; the console is silenced (stdout goes to
/dev/null, so neither later prints nor the interpreter's final flush fail) and the run ends
with exit 4, saying why on stderr if stderr is still there.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..analysis.timeline import Sample
from .console import DrillView
from .status import DrillStatus


def silence_stdout() -> None:
    """Point stdout at /dev/null: whatever is still buffered or printed later goes nowhere."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@dataclass
class GuardedView:
    """Passes every call to the real view until one fails with an OSError; then none."""

    inner: DrillView
    lost: str | None = None  # why the console was given up, once it was

    def lose(self, exc: OSError) -> None:
        """Give the console up (once) because writing to it raised ``exc``."""
        if self.lost is None:
            self.lost = exc.strerror or type(exc).__name__
            silence_stdout()

    def _call(self, method: str, *args: Any) -> None:
        if self.lost is not None:
            return
        try:
            getattr(self.inner, method)(*args)
        except OSError as exc:
            self.lose(exc)

    def start(self, title: str) -> None:
        self._call("start", title)

    def phase(self, name: str, elapsed: float) -> None:
        self._call("phase", name, elapsed)

    def sample(self, sample: Sample) -> None:
        self._call("sample", sample)

    def line(self, text: str, elapsed: float, style: str = "") -> None:
        self._call("line", text, elapsed, style)

    def faults_in_force(self, labels: Sequence[str]) -> None:
        self._call("faults_in_force", labels)

    def pending_steps(self, steps: Sequence[tuple[str, str, float]]) -> None:
        self._call("pending_steps", steps)

    def status(self, status: DrillStatus) -> None:
        self._call("status", status)

    def stop(self) -> None:
        self._call("stop")
