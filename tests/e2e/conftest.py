"""End-to-end drills: the real CLI, a real sandbox, real Locust. Slow; they run in CI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import LIBRARY


def library(name: str) -> dict[str, Any]:
    """A library scenario as data, to be varied by a test."""
    data: dict[str, Any] = yaml.safe_load((LIBRARY / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def variant(name: str, stable_for: str = "3s") -> dict[str, Any]:
    """A library scenario to vary, with a shorter steady-state window (the test's time is its cost)."""
    data = library(name)
    data["steady_state"]["stable_for"] = stable_for
    return data


class DrillRunner:
    """Runs `gameday` as a user would, with its own sandbox state and report directories."""

    def __init__(self, tmp: Path, state_dir: Path | None = None) -> None:
        self.tmp = tmp
        self.state_dir = state_dir or tmp / "sandbox"
        self.reports = tmp / "reports"

    def write(self, data: dict[str, Any], name: str | None = None) -> Path:
        data = json.loads(json.dumps(data))
        data["target"]["state_dir"] = str(self.state_dir)
        path = self.tmp / f"{name or data['name']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gameday.cli", *args]

    def run(
        self, scenario: Path, *extra: str, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command("run", str(scenario), "--ci", "--report-dir", str(self.reports), *extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
        )

    def start(self, scenario: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command("run", str(scenario), "--ci", "--report-dir", str(self.reports)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.tmp,
        )

    def report(self) -> dict[str, Any]:
        reports = sorted(self.reports.glob("*/report.json"), key=lambda p: p.stat().st_mtime)
        assert reports, f"no report under {self.reports}"
        data: dict[str, Any] = json.loads(reports[-1].read_text(encoding="utf-8"))
        return data

    def journal(self) -> Path:
        journals = sorted(self.reports.glob("*/journal.jsonl"), key=lambda p: p.stat().st_mtime)
        assert journals
        return journals[-1]

    def wait_for_journal(self, kind: str, timeout: float = 120) -> None:
        """Block until the running drill's journal has a record of `kind`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for journal in self.reports.glob("*/journal.jsonl"):
                if f'"{kind}"' in journal.read_text(encoding="utf-8"):
                    return
            time.sleep(0.2)
        raise AssertionError(f"no {kind} in the journal after {timeout}s")

    def sandbox(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command("sandbox", *args, "--state-dir", str(self.state_dir)),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.tmp,
        )

    def sandbox_status(self) -> dict[str, Any]:
        result = self.sandbox("status", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data


@pytest.fixture
def drills(tmp_path: Path) -> Iterator[DrillRunner]:
    runner = DrillRunner(tmp_path)
    yield runner
    # whatever a test did, leave no sandbox behind
    if (runner.state_dir / "state.json").exists():
        runner.sandbox("down")


def interrupt_when(
    runner: DrillRunner, process: subprocess.Popen[str], kind: str, sig: signal.Signals
) -> str:
    """Send `sig` to a running drill once its journal shows `kind`; return its output."""
    try:
        runner.wait_for_journal(kind)
        os.kill(process.pid, sig)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return output


Interrupt = Callable[[DrillRunner, subprocess.Popen[str], str, signal.Signals], str]
