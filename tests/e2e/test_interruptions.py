"""A drill never leaves damage behind: Ctrl-C, SIGTERM, an exception, SIGKILL + recover."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DrillRunner, interrupt_when, variant

pytestmark = pytest.mark.slow


def long_cut() -> dict[str, Any]:
    """site-outage with a cut long enough to interrupt it in the middle (short baseline)."""
    data = variant("site-outage", stable_for="2s")
    data["faults"][0].update({"at": "1s", "duration": "5m"})
    data["faults"].append({"action": "pause", "service": "api-b", "at": "2s", "duration": "5m"})
    return data


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One sandbox for the module: each test must leave it healthy for the next."""
    keeper = DrillRunner(tmp_path_factory.mktemp("staging"))
    assert keeper.sandbox("up").returncode == 0
    yield keeper.state_dir
    keeper.sandbox("down")


@pytest.fixture
def drills(tmp_path: Path, staging: Path) -> DrillRunner:
    """A runner with its own reports, on the module's sandbox (which it must not stop)."""
    return DrillRunner(tmp_path, state_dir=staging)


def assert_healthy(drills: DrillRunner) -> None:
    """No fault in force: every component healthy and running, every proxy link open."""
    from gameday.sandbox.client import SandboxClient

    status = drills.sandbox_status()
    for name, component in status["components"].items():
        assert component["healthy"], (name, component)
        pid = component.get("pid")
        if pid:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            assert state != "T", f"{name} is still stopped (SIGSTOP)"
    with SandboxClient.open(drills.state_dir) as client:
        links = client.links()
    assert links
    for link in links:
        assert link["state"] == "open" and not link.get("latency_ms"), link


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["sigint", "sigterm", "sighup"]
)
def test_signal_reverts_everything(drills: DrillRunner, sig: signal.Signals) -> None:
    process = drills.start(drills.write(long_cut()))
    output = interrupt_when(drills, process, "fault.applied", sig)
    assert process.returncode == 3, output
    assert "Traceback" not in output
    report = drills.report()
    assert report["verdict"] == "aborted"
    assert_healthy(drills)


def test_failing_fault_reverts_the_others(drills: DrillRunner) -> None:
    data = long_cut()
    data["faults"].append(
        {"action": "command", "run": "false", "undo": "true", "at": "3s", "name": "broken"}
    )
    result = drills.run(drills.write(data))
    assert result.returncode == 4, result.stdout
    assert drills.report()["verdict"] == "error"
    assert_healthy(drills)


def test_sigkill_then_recover(drills: DrillRunner) -> None:
    process = drills.start(drills.write(long_cut()))
    interrupt_when(drills, process, "fault.applied", signal.SIGKILL)
    drills.wait_for_journal("fault.applied")
    recover = subprocess.run(
        drills.command("recover", "--journal", str(drills.journal())),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert recover.returncode == 0, recover.stdout + recover.stderr
    assert_healthy(drills)
    # the dead runner's record became its report: aborted, and the revert recover did is in it
    assert "wrote its report" in recover.stdout, recover.stdout
    report = drills.report()
    assert report["verdict"] == "aborted" and "rebuilt" in report["reason"]
    reverts = [e for e in report["events"] if e["kind"] == "fault.reverted"]
    assert reverts and all(e["detail"].get("by") == "recover" for e in reverts)
    again = subprocess.run(
        drills.command("recover", "--journal", str(drills.journal())),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "nothing to recover" in again.stdout.lower()
