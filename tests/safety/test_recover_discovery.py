"""`gameday recover` finds what it must: a per-user index whatever the working directory,
the temp fallback of a home-less runner, the legacy ./.gameday, a half-started target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gameday.cli import main
from gameday.runners.journal import (
    Journal,
    JournalError,
    default_index_dir,
    gameday_home,
    read_journal,
    search_index_dirs,
)
from gameday.runners.recover import recover

REPO = Path(__file__).resolve().parents[2]

# a runner that journals and applies a command fault, then is SIGKILLed, in its own cwd
DEAD_RUNNER = """
import os, signal, sys
from pathlib import Path
from gameday.runners.journal import Journal
from gameday.scenarios.model import CommandFault
from gameday.targets.local import LocalDriver

run_dir, marker = Path(sys.argv[1]), Path(sys.argv[2])
j = Journal.open(run_dir)
j.drill_started("dead", "sandbox", {"state_dir": str(run_dir / "no-sandbox")})
fault = CommandFault(action="command", run=["touch", str(marker)], undo=["rm", "-f", str(marker)])
plan = LocalDriver().plan(fault)
pid = j.fault_planned(plan)
LocalDriver().apply(plan)
j.fault_applied(pid)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user with a home of their own and no GAMEDAY_HOME (the default a user gets)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv("GAMEDAY_HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(home))
    # the temp fallback of this test only, here and in the runners it starts
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return home


def _no_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A home that cannot exist, even for root: its parent is a file."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("HOME", str(blocker / "home"))


def _dead_runner(cwd: Path, run_dir: Path, marker: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", DEAD_RUNNER, str(run_dir), str(marker)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert marker.exists()


def test_the_index_is_the_users_whatever_the_working_directory(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        assert default_index_dir() == user_home / ".local/state/gameday/runs/active"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert gameday_home() == tmp_path / "xdg" / "gameday"
    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "explicit"))
    assert gameday_home() == tmp_path / "explicit"


def test_recover_from_another_directory_finds_a_dead_runners_journal(
    user_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marker = tmp_path / "fault-in-force"
    _dead_runner(tmp_path / "a", tmp_path / "a" / "reports" / "run", marker)
    elsewhere = tmp_path / "b"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["recover"]) == 0
    out = capsys.readouterr().out
    assert "recovered" in out and "nothing to recover" not in out, out
    assert not marker.exists(), "the fault is still in force"
    assert main(["recover"]) == 0
    assert "nothing to recover" in capsys.readouterr().out


def test_a_home_less_runner_keeps_its_index_in_a_private_temp_dir(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a Kubernetes Job: read-only root, a UID without a home
    _no_home(tmp_path, monkeypatch)
    marker = tmp_path / "fault-in-force"
    _dead_runner(tmp_path / "a", tmp_path / "a" / "run", marker)
    fallback = tmp_path / "tmp" / f"gameday-{os.getuid()}"
    assert gameday_home() == fallback
    assert fallback.stat().st_mode & 0o777 == 0o700
    assert fallback / "runs" / "active" in search_index_dirs()
    monkeypatch.chdir(tmp_path)
    report = recover()
    assert [i.outcome for i in report.items] == ["recovered"]
    assert not marker.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a directory of another user")
def test_a_temp_dir_another_user_made_is_never_used(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_home(tmp_path, monkeypatch)
    planted = tmp_path / "tmp" / f"gameday-{os.getuid()}"
    (planted / "runs" / "active").mkdir(parents=True)
    os.chown(planted, 65534, 65534)
    with pytest.raises(JournalError, match="set GAMEDAY_HOME"):
        gameday_home()
    assert planted / "runs" / "active" not in search_index_dirs()
    os.chown(planted, os.getuid(), os.getgid())
    planted.chmod(0o777)  # ours, but anyone may write into it
    with pytest.raises(JournalError):
        gameday_home()


def test_recover_still_reads_the_legacy_index_in_the_working_directory(
    user_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "project"
    legacy = old / ".gameday" / "runs" / "active"
    marker = tmp_path / "fault-in-force"
    # an older gameday registered its drills under the working directory's .gameday
    monkeypatch.setenv("GAMEDAY_HOME", str(old / ".gameday"))
    _dead_runner(old, old / "reports" / "run", marker)
    monkeypatch.delenv("GAMEDAY_HOME")
    monkeypatch.chdir(old)
    assert legacy in search_index_dirs()
    report = recover()
    assert [i.outcome for i in report.items] == ["recovered"]
    assert not marker.exists()
    assert list(legacy.glob("*.json")) == [], "unregistered from the index that listed it"


def test_recover_given_a_run_directory_with_malformed_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gameday.scenarios.model import CommandFault
    from gameday.targets.local import LocalDriver

    run, marker = tmp_path / "reports" / "run", tmp_path / "fault-in-force"
    fault = CommandFault(
        action="command", run=["touch", str(marker)], undo=["rm", "-f", str(marker)]
    )
    plan = LocalDriver().plan(fault)
    journal = Journal.open(run, run_id="r", index_dir=tmp_path / "idx")
    journal.fault_applied(journal.fault_planned(plan))
    LocalDriver().apply(plan)
    journal.close(clean=False)
    with (run / "journal.jsonl").open("a", encoding="utf-8") as fh:
        # well-formed JSON, wrong types: a dead runner that is not a pid
        fh.write('{"kind": "drill.started", "pid": "x", "pid_start": [1], "spec": 3}\n')
        fh.write('{"kind": "fault.reverted", "plan_id": {"a": 1}, "result": 7}\n')
    assert main(["recover", "--journal", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out and "malformed" in out and "recovered" in out
    assert not marker.exists()
    # the run directory's own journal records it, not one beside it
    assert read_journal(run).recovered
    assert not (run.parent / "journal.jsonl").exists()


def test_a_target_being_started_is_for_recover_until_it_is_known_started_or_found(
    tmp_path: Path,
) -> None:
    def replay(*kinds: str) -> bool:
        path = tmp_path / f"j{len(list(tmp_path.iterdir()))}.jsonl"
        records = [{"kind": "drill.started", "spec": {}}] + [{"kind": k} for k in kinds]
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return read_journal(path).needs_recovery()

    assert replay("target.starting"), "a runner killed while the sandbox started"
    assert replay("target.starting", "target.started")
    assert not replay("target.starting", "target.found"), "someone else's target: never stopped"
    assert not replay("target.starting", "target.started", "target.stopped")
    assert not replay("target.starting", "drill.finished")
