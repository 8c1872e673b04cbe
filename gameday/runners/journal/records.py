"""The journal's format: its file name and version, and how record kinds move a plan on."""

from __future__ import annotations

from typing import Literal

JOURNAL_FILE = "journal.jsonl"
JOURNAL_VERSION = 1

PlanStatus = Literal["planned", "applied", "reverted", "revert_failed"]
# record kinds that move a plan on; "fault.failed" (apply raised) leaves it possibly half applied
STATUS: dict[str, PlanStatus] = {
    "fault.applied": "applied",
    "fault.failed": "applied",
    "fault.reverted": "reverted",
    "fault.revert_failed": "revert_failed",
}


class JournalError(Exception):
    """The journal cannot be written or read; the message is for the operator."""
