"""What a finished drill hands to the reports layer: the record, and how the run was asked for.

The engine measures and reverts; it never renders. ``reports.publish`` turns a DrillRecord
into report.json, its renderings and its signature.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.timeline import Timeline
from ..scenarios.model import Scenario


class InvalidRun(Exception):
    """A user mistake found after loading (unset secret, manual steps in --ci): exit 2."""


@dataclass(frozen=True)
class RunOptions:
    """How to run: CI mode, where reports go, who is running it."""

    ci: bool = False
    report_root: Path = Path("reports")
    operator: str = field(default_factory=lambda: f"{getpass.getuser()}@{socket.gethostname()}")
    install_signal_handlers: bool = True
    sign_key: Path | None = None  # Ed25519 private key: sign the report (in-toto/DSSE)
    approver: str | None = None
    participants: tuple[str, ...] = ()  # "NAME:ROLE"
    findings: Path | None = None
    suite_position: tuple[int, int] | None = None  # (i, n): the i-th scenario of a suite of n


@dataclass(frozen=True)
class DrillRecord:
    """Everything one run observed and did, before any rendering."""

    scenario: Scenario
    scenario_path: Path
    scenario_sha256: str
    run_id: str
    run_dir: Path
    timeline: Timeline
    target_type: str
    target_spec: Mapping[str, Any]
    operator: str
    ended: float  # on the drill's monotonic clock
    plans: Mapping[str, Mapping[str, Any]]  # fault label -> its journaled plan
    aborted: str | None
    error: str | None
    budget_warnings: list[str]
    redact: Callable[[str], str]  # removes every secret the drill resolved from a text
    options: RunOptions
    # faults teardown could not undo (fault, action, error, attempts, recover command)
    unreverted: list[Mapping[str, Any]] = field(default_factory=list)
