"""A drill never leaves damage behind: Ctrl-C, SIGTERM, an exception, SIGKILL + recover."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
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


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own per-user gameday home: its drills and `recover` meet there, and only there."""
    monkeypatch.delenv("GAMEDAY_HOME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "gameday"


def elsewhere(tmp_path: Path) -> Path:
    """A working directory that has nothing to do with the drill's."""
    path = tmp_path / "elsewhere"
    path.mkdir(exist_ok=True)
    return path


def processes_naming(*paths: str) -> list[int]:
    """Live processes whose command line names one of `paths` (a sandbox's parts)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(p in cmdline for p in paths):
            found.append(int(entry.name))
    return found


def test_sigkill_then_recover_from_another_directory(
    drills: DrillRunner, user_home: Path, tmp_path: Path
) -> None:
    process = drills.start(drills.write(long_cut()))
    interrupt_when(drills, process, "fault.applied", signal.SIGKILL)
    recover = subprocess.run(
        drills.command("recover"),  # no --journal, and not where the drill ran
        capture_output=True,
        text=True,
        timeout=120,
        cwd=elsewhere(tmp_path),
    )
    assert recover.returncode == 0, recover.stdout + recover.stderr
    assert "recovered" in recover.stdout and "nothing to recover" not in recover.stdout
    assert_healthy(drills)


def test_sigkill_while_the_sandbox_starts_then_recover(user_home: Path, tmp_path: Path) -> None:
    own = DrillRunner(tmp_path / "a")  # a fresh state dir: the drill starts the sandbox itself
    own.tmp.mkdir()
    scenario = own.write(variant("db-primary-crash"))
    process = own.start(scenario)
    try:
        deadline = time.monotonic() + 120
        data_dir = ""
        while not data_dir or not Path(data_dir, "PG_VERSION").exists():
            assert time.monotonic() < deadline and process.poll() is None, "no database started"
            state = own.state_dir / "state.json"
            with contextlib.suppress(OSError, ValueError):
                data_dir = json.loads(state.read_text())["components"]["db-primary"]["data_dir"]
            time.sleep(0.05)
        process.kill()  # SIGKILL while initdb runs: half a sandbox
        process.communicate(timeout=30)
        journal = own.journal().read_text(encoding="utf-8")
        assert '"target.starting"' in journal and '"target.started"' not in journal
        parts = (f"--state-dir {own.state_dir} ", data_dir)
        assert processes_naming(*parts), "nothing was left running"

        recover = subprocess.run(
            own.command("recover"), capture_output=True, text=True, timeout=120, cwd=elsewhere(tmp_path)
        )  # fmt: skip
        assert recover.returncode == 0, recover.stdout + recover.stderr
        assert "was starting" in recover.stdout, recover.stdout
        assert processes_naming(*parts) == [], "recover left parts of the sandbox running"

        again = own.run(scenario)
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        if process.poll() is None:
            process.kill()
        if (own.state_dir / "state.json").exists():
            own.sandbox("down")


def test_forced_sandbox_down_aborts_the_drill(user_home: Path, tmp_path: Path) -> None:
    own = DrillRunner(tmp_path / "a")
    own.tmp.mkdir()
    assert own.sandbox("up").returncode == 0
    data = long_cut()
    data["guardrails"] = {"max_duration": "2m"}  # without the abort: silent until then
    process = own.start(own.write(data))
    try:
        own.wait_for_journal("fault.applied")
        refused = own.sandbox("down")
        assert refused.returncode == 2 and "refused" in refused.stderr, refused.stderr
        t_forced = time.monotonic()
        down = subprocess.Popen(
            own.command("sandbox", "down", "--force", "--state-dir", str(own.state_dir)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=own.tmp,
        )
        down_out, down_err = down.communicate(timeout=120)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        if (own.state_dir / "state.json").exists():
            own.sandbox("down", "--force")
    assert down.returncode == 0, down_out + down_err
    assert "asking it to abort" in down_err
    reason = f"the sandbox was taken down by `gameday sandbox down --force` (pid {down.pid})"
    assert process.returncode == 3, output
    assert reason in output and "Traceback" not in output
    report = own.report()
    assert report["verdict"] == "aborted" and reason in report["reason"], report["reason"]
    tripped = [g for g in report["guardrails"] if g["name"] == "tripped"]
    assert tripped and tripped[0]["t"] - t_forced < 2.0, "the drill did not notice promptly"
    assert report["unreverted"] == []
    assert processes_naming(f"--state-dir {own.state_dir} ") == []
    assert not (own.state_dir / "state.json").exists()
