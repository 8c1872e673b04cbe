"""Write-ahead journal: durable lines, torn tails, replay, the active index, recover without a target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gameday.runners.journal import Journal, active_journals, journal_held, read_journal
from gameday.runners.journal import writer as journal_mod
from gameday.runners.recover import cmd_recover, recover
from gameday.scenarios.model import CommandFault
from gameday.targets.base import FaultPlan
from gameday.targets.local import LocalDriver

REPO = Path(__file__).resolve().parents[2]


def _plan(label: str = "cut-api-b") -> FaultPlan:
    return FaultPlan(label, "network-cut", "sandbox", {"state_dir": "/nowhere"}, {"kind": "links"})


def test_every_record_is_on_disk_before_record_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        path = tmp_path / "run" / "journal.jsonl"
        if path.exists():  # the directory fsync comes first, before any line
            seen.append(len(path.read_text().splitlines()))

    monkeypatch.setattr(journal_mod.os, "fsync", fsync)
    with Journal.open(tmp_path / "run", index_dir=tmp_path / "idx") as j:
        j.drill_started("s", "sandbox", {"state_dir": "/x"})
        pid = j.fault_planned(_plan())
        j.fault_applied(pid, {"ok": True})
    # each line was written and fsync'd as it was recorded (plus the index file fsyncs)
    assert [n for n in seen if n] == sorted(n for n in seen if n)
    assert {1, 2, 3} <= set(seen)


def test_torn_last_line_is_ignored_and_appending_continues(tmp_path: Path) -> None:
    with Journal.open(tmp_path, index_dir=tmp_path / "idx") as j:
        j.drill_started("s", "sandbox", {"state_dir": "/x"})
        applied = j.fault_planned(_plan("a"))
        j.fault_applied(applied)
    path = tmp_path / "journal.jsonl"
    with path.open("ab") as fh:  # power loss in the middle of a write
        fh.write(b'{"seq": 4, "kind": "fault.rev')
    state = read_journal(path)
    assert [p.plan_id for p in state.pending()] == [applied]
    assert len(state.warnings) == 1 and "torn" in state.warnings[0]
    with Journal.open(tmp_path, index_dir=tmp_path / "idx") as j:
        j.fault_reverted(applied)
    state = read_journal(path)
    assert state.pending() == []
    assert "corrupt" in state.warnings[0]  # the torn line is now in the middle


def test_replay_keeps_planned_but_maybe_unapplied_plans(tmp_path: Path) -> None:
    with Journal.open(tmp_path, index_dir=tmp_path / "idx") as j:
        j.drill_started("s", "sandbox", {"state_dir": "/x"})
        reverted = j.fault_planned(_plan("one"))
        j.fault_applied(reverted)
        j.fault_reverted(reverted)
        failed = j.fault_planned(_plan("two"))
        j.fault_applied(failed)
        j.fault_revert_failed(failed, "proxy unreachable")
        never = j.fault_planned(_plan("three"))  # died between journal and apply
    state = read_journal(tmp_path / "journal.jsonl")
    assert [(p.plan_id, p.status) for p in state.pending()] == [
        (failed, "revert_failed"),
        (never, "planned"),
    ]
    assert state.plans[reverted].status == "reverted"
    assert state.driver == "sandbox" and state.spec == {"state_dir": "/x"}
    assert state.pid == os.getpid() and state.pid_start is not None


def test_generic_records_keyed_by_fault_label(tmp_path: Path) -> None:
    # the engine writes plain records naming the fault's label
    with Journal.open(tmp_path, run_id="r1", index_dir=tmp_path / "idx") as j:
        j.record("drill.started", scenario="s", driver="sandbox", spec={})
        j.record("fault.planned", plan=_plan("a").to_json())
        j.record("fault.applied", fault="a", confirmation={})
        j.record("fault.planned", plan=_plan("b").to_json())
        j.record("fault.failed", fault="b", error="boom")
        j.record("fault.reverted", fault="a", result={})
        assert len(j.pending()) == 1
    state = read_journal(tmp_path / "journal.jsonl")
    assert [(p.plan.fault, p.status) for p in state.pending()] == [("b", "applied")]


def test_active_index_tracks_unfinished_drills(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    j = Journal.open(tmp_path / "r", run_id="run-1", index_dir=idx)
    j.drill_started("s", "sandbox", {})
    assert active_journals(idx) == [tmp_path / "r" / "journal.jsonl"]
    assert journal_held(j.path)  # the live runner's flock
    pid = j.fault_planned(_plan())
    j.drill_finished("error")
    assert active_journals(idx), "a pending fault keeps the drill listed for recover"
    j.fault_reverted(pid)
    j.drill_finished("passed")
    j.close()
    assert active_journals(idx) == []
    assert not journal_held(j.path)


def test_recover_refuses_a_live_runner(tmp_path: Path) -> None:
    with Journal.open(tmp_path, index_dir=tmp_path / "idx") as j:
        j.drill_started("s", "sandbox", {})
        j.fault_planned(_plan())
        report = recover([j.path], index_dir=tmp_path / "idx")
        assert report.items[0].outcome == "refused"
        assert "still alive" in report.items[0].message


DEAD_RUNNER = """
import os, signal, subprocess, sys
from pathlib import Path
from gameday.runners.journal import Journal
from gameday.scenarios.model import CommandFault
from gameday.targets.local import LocalDriver

run_dir, index_dir, marker = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
j = Journal.open(run_dir, index_dir=index_dir)
j.drill_started("dead", "sandbox", {"state_dir": str(run_dir / "no-sandbox")})
child = subprocess.Popen(["sleep", "300"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
j.process_started(child.pid, "locust-master", group=True)
fault = CommandFault(action="command", run=["touch", str(marker)], undo=["rm", "-f", str(marker)])
plan = LocalDriver().plan(fault)
pid = j.fault_planned(plan)
LocalDriver().apply(plan)
j.fault_applied(pid)
print(child.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_recover_after_sigkill_without_a_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx, marker = tmp_path / "idx", tmp_path / "fault-in-force"
    proc = subprocess.run(
        [sys.executable, "-c", DEAD_RUNNER, str(tmp_path / "run"), str(idx), str(marker)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    leftover = int(proc.stdout.split()[0])
    assert marker.exists() and Path(f"/proc/{leftover}").exists()

    report = recover(index_dir=idx)
    item = report.items[0]
    assert report.ok and item.outcome == "recovered", item
    assert item.killed == [leftover]
    assert not marker.exists()
    time.sleep(0.1)
    assert not _alive(leftover)
    assert active_journals(idx) == []
    kinds = [
        json.loads(line)["kind"]
        for line in (tmp_path / "run" / "journal.jsonl").read_text().splitlines()
    ]
    assert kinds[-3:] == ["process.stopped", "fault.reverted", "drill.recovered"]

    assert recover(index_dir=idx).nothing_to_recover
    assert cmd_recover(tmp_path / "run" / "journal.jsonl", False, index_dir=idx) == 0
    assert "nothing to recover" in capsys.readouterr().out


def test_recover_never_kills_a_reused_pid(tmp_path: Path) -> None:
    innocent = subprocess.Popen(["sleep", "300"])
    try:
        with Journal.open(tmp_path, index_dir=tmp_path / "idx") as j:
            j.drill_started("s", "sandbox", {})
            # same pid, different start time: the journaled process is long gone
            j.record("process.started", pid=innocent.pid, start_ticks=1, role="locust", group=False)
            j.record(
                "drill.started", pid=2**22 + 7, pid_start=1, scenario="s", driver="sandbox", spec={}
            )
        report = recover([tmp_path / "journal.jsonl"], index_dir=tmp_path / "idx")
        assert report.items[0].outcome in ("nothing", "recovered")
        assert report.items[0].killed == []
        assert innocent.poll() is None
    finally:
        innocent.kill()
        innocent.wait()


def test_failed_revert_exits_4_and_stays_pending(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    fault = CommandFault(action="command", run=["true"], undo=["false"])
    with Journal.open(tmp_path, index_dir=idx) as j:
        j.drill_started("s", "sandbox", {})
        j.fault_applied(j.fault_planned(LocalDriver().plan(fault)))
        j.record(
            "drill.started", pid=2**22 + 7, pid_start=1, scenario="s", driver="sandbox", spec={}
        )
    assert cmd_recover(None, False, index_dir=idx) == 4
    state = read_journal(tmp_path / "journal.jsonl")
    assert [p.status for p in state.pending()] == ["revert_failed"]
    assert active_journals(idx), "kept for the next recover"


def _alive(pid: int) -> bool:
    try:
        stat: Any = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def test_active_runs_lists_live_drills(tmp_path: Path) -> None:
    from gameday.runners.journal import active_runs

    idx = tmp_path / "idx"
    with Journal.open(tmp_path / "r", run_id="live-1", index_dir=idx) as j:
        j.drill_started("s", "sandbox", {})
        runs = active_runs(idx)
        assert [(r.run_id, r.run_dir, r.alive) for r in runs] == [("live-1", tmp_path / "r", True)]
        j.drill_finished("passed")
    assert active_runs(idx, alive_only=False) == []


def test_recover_reads_a_run_directory_and_skips_malformed_records(tmp_path: Path) -> None:
    run = tmp_path / "run"
    journal = Journal.open(run, run_id="r", index_dir=tmp_path / "idx")
    plan_id = journal.fault_planned(_plan())
    journal.close(clean=False)
    with (run / "journal.jsonl").open("a", encoding="utf-8") as fh:
        # well-formed JSON, wrong shape: used to be a traceback
        fh.write('{"kind": "fault.planned", "plan_id": 5, "plan": "x", "seq": 99}\n')
        fh.write('{"kind": "process.started", "pid": "not a pid"}\n')
    state = read_journal(run)  # the directory, not the file
    assert state.path == run / "journal.jsonl"
    assert [e.plan_id for e in state.pending()] == [plan_id]
    assert sum("malformed" in w for w in state.warnings) == 2
