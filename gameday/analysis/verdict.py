"""How a drill, or a command, ended: the one word a report records and the process exit code.

A drill ends passed, failed, aborted or error (`DRILL_VERDICTS`, the words report.json may
hold); `invalid` is the command's own verdict on input it refused before anything ran.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    """A verdict; the value is its word in report.json, `exit_code` the process exit code."""

    PASSED = "passed"
    FAILED = "failed"
    INVALID = "invalid"  # invalid input: refused before anything ran; never a drill's verdict
    ABORTED = "aborted"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        """passed 0, failed 1, invalid input 2, aborted 3, error 4."""
        return _EXIT_CODES[self]

    @classmethod
    def of_exit_code(cls, code: int) -> Verdict:
        """The verdict a process exit code stands for; ValueError for any other code."""
        for verdict, value in _EXIT_CODES.items():
            if value == code:
                return verdict
        raise ValueError(f"{code} is not a gameday exit code")


_EXIT_CODES = {
    Verdict.PASSED: 0,
    Verdict.FAILED: 1,
    Verdict.INVALID: 2,
    Verdict.ABORTED: 3,
    Verdict.ERROR: 4,
}
# the verdicts a drill can end with, in the order the report's JSON Schema lists them
DRILL_VERDICTS = (Verdict.PASSED, Verdict.FAILED, Verdict.ABORTED, Verdict.ERROR)
# for a suite: the worst verdict of its drills is the suite's (input refused outranks all)
_SEVERITY = (Verdict.PASSED, Verdict.FAILED, Verdict.ABORTED, Verdict.ERROR, Verdict.INVALID)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """invalid > error > aborted > failed > passed, whatever the exit codes; passed if none."""
    return max(verdicts, key=_SEVERITY.index, default=Verdict.PASSED)
