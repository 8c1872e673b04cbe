"""The benchmarks still run (at smoke size), and the accuracy one still holds its target."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_every_benchmark_runs_at_smoke_size(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    for name in BENCHMARKS:
        data = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        assert data["smoke"] is True and data["rows"], name
    # a real drill against the sandbox: the recovery gameday measured is within one
    # sampling interval of the moment the sandbox's own components say service came back
    runs = json.loads((tmp_path / "accuracy.json").read_text(encoding="utf-8"))["raw"]["runs"]
    assert runs
    for run in runs:
        assert run["verdict"] == "passed", run
        assert abs(run["recovered_error"]) <= run["interval"] + 0.05, run
        assert abs(run["injected_error"]) <= run["injected_bound"] + 0.05, run


# ------------------------------------------------------------------------------ kills


def test_kill_campaign_plan_is_seeded_and_balanced() -> None:
    from bench.kills import plan_campaign

    ends = {"db-primary-crash": 16.0, "site-outage": 45.0}
    plan = plan_campaign(100, 7, ends)
    assert plan == plan_campaign(100, 7, ends)  # reproducible
    assert plan != plan_campaign(100, 8, ends)
    signals = [k.signal for k in plan]
    assert sorted(signals.count(s) for s in ("SIGINT", "SIGTERM", "SIGKILL")) == [33, 33, 34]
    assert [k.scenario for k in plan].count("site-outage") == 50
    assert all(0 <= k.at <= ends[k.scenario] for k in plan)


def test_kill_campaign_refuses_an_unknown_scenario_before_running() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "kills", "--scenarios", "db-primary-crash,nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--scenarios: nope: the sandbox campaign drills db-primary-crash" in done.stderr
    assert "Traceback" not in done.stderr


def _journal_lines(path: Path, *records: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    base = {"run_id": "r1", "t_mono": 0.0}
    lines = [json.dumps({**base, "seq": i, **rec}) for i, rec in enumerate(records, start=1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_runner_stopped_by_sigint_or_sigterm_owes_exit_3_and_an_aborted_report(
    tmp_path: Path,
) -> None:
    from bench.kills import runner_problems

    journal = _journal_lines(tmp_path / "run" / "journal.jsonl", {"kind": "drill.started"})
    report = tmp_path / "run" / "report.json"
    report.write_text(json.dumps({"verdict": "aborted"}), encoding="utf-8")
    assert runner_problems("SIGTERM", 3, journal, report, t_kill=5.0) == []
    # negative controls: killed by the signal's default action, no report, another verdict
    assert runner_problems("SIGTERM", -15, journal, report, 5.0) == [
        "exit -15, verdict aborted after SIGTERM (expected 3, aborted)"
    ]
    assert runner_problems("SIGINT", 3, journal, None, 5.0) == ["no report after SIGINT (exit 3)"]
    assert runner_problems("SIGINT", None, journal, report, 5.0)[0].startswith(
        "runner still running 30 s after SIGINT"
    )
    # before the drill began (no journal yet) the signal's default action is the right end
    assert runner_problems("SIGTERM", -15, None, None, 5.0) == []
    assert runner_problems("SIGINT", 130, None, None, 5.0) == []
    assert runner_problems("SIGINT", 4, None, None, 5.0) != []


def test_kill_checks_see_a_pending_fault_a_held_lock_and_a_leftover_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl
    import os
    import secrets
    import time

    from bench.cleancheck import (
        ENV_TOKEN,
        journal_notes,
        journal_problems,
        leftover_processes,
        lock_problems,
    )
    from gameday.runners.journal import Journal
    from gameday.targets.base import FaultPlan

    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "home"))
    plan = FaultPlan("pause-api-b", "pause", "sandbox", {}, {"kind": "resume"}, ("api-b",))
    journal = Journal.open(tmp_path / "run", run_id="kills-test")
    # a runner that is gone: its pid names no live process
    journal.record(
        "drill.started", scenario="kills-test", driver="sandbox", spec={}, pid_start=None
    )
    plan_id = journal.fault_planned(plan)
    journal.fault_applied(plan_id)
    left = journal_problems(journal.path)
    assert "runner (pid" in " ".join(left)  # this process holds it, as a live runner does
    journal.close(clean=False)  # the runner died with the pause in force
    left = journal_problems(journal.path)
    assert "fault pause-api-b (pause api-b) applied, not reverted" in left
    assert "the drill is still in the active-run index" in left
    assert journal_notes(journal.path) == [
        "the journal has no closing record (drill.finished or drill.recovered)"
    ]
    # the same journal once recover reverted the pause: clean
    again = Journal.open(tmp_path / "run", run_id="kills-test", hold=False)
    again.fault_reverted(plan_id, {})
    again.drill_recovered(os.getpid(), ["pause-api-b"])
    again.close(clean=True)
    assert journal_problems(journal.path) == [] and journal_notes(journal.path) == []

    lock = tmp_path / "drill.lock"
    assert lock_problems(lock) == []  # no lock file: free
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    assert lock_problems(lock) and "held" in lock_problems(lock)[0]
    os.close(fd)
    assert lock_problems(lock) == []

    token = secrets.token_hex(4)
    sleeper = subprocess.Popen(["sleep", "60"], env={**os.environ, ENV_TOKEN: token})
    try:
        deadline = time.monotonic() + 5
        while not leftover_processes(token, set()) and time.monotonic() < deadline:
            time.sleep(0.05)  # until exec has replaced the forked child
        assert [f"process {sleeper.pid} left: sleep 60"] == leftover_processes(token, set())
        assert leftover_processes(token, {sleeper.pid}) == []  # the target's own: not left
    finally:
        sleeper.kill()
        sleeper.wait()
    assert leftover_processes(token, set()) == []


@pytest.mark.slow
def test_kill_check_sees_each_fault_left_on_a_sandbox(tmp_path: Path) -> None:
    from bench.cleancheck import problems, sandbox_staging, wait_clean
    from bench.common import sandbox
    from gameday.scenarios.model import LatencyFault, PauseFault, StopFault

    with sandbox(tmp_path / "sandbox") as state_dir:
        staging = sandbox_staging(state_dir)
        try:
            _, left = wait_clean(staging, None, None, 60)
            assert left == [], left  # positive control: a fresh sandbox is clean
            faults = {
                "api-b paused": PauseFault(action="pause", service="api-b"),
                "api-b down": StopFault(action="stop", service="api-b"),
                "link api-a-to-db-primary slowed": LatencyFault(
                    action="latency", link="api-a->db-primary", delay="300ms"
                ),
            }
            for expected, fault in faults.items():
                plan = staging.driver.plan(fault)
                staging.driver.apply(plan)
                try:
                    found = problems(staging, None, None)
                    assert any(expected in p for p in found), (expected, found)
                finally:
                    staging.driver.revert(plan)
                _, left = wait_clean(staging, None, None, 60)
                assert left == [], (expected, left)
        finally:
            staging.driver.close()


@pytest.mark.slow
def test_kill_campaign_runs_at_smoke_size(tmp_path: Path) -> None:
    args = ["kills", "--runs", "3", "--seed", "1", "--scenarios", "db-primary-crash"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    data = json.loads((tmp_path / "kills.json").read_text(encoding="utf-8"))
    outcomes = data["raw"]["outcomes"]
    assert sorted(o["signal"] for o in outcomes) == ["SIGINT", "SIGKILL", "SIGTERM"]
    assert all(o["clean"] for o in outcomes), outcomes
    assert data["notes"][0].startswith("clean 3/3 (SIGINT 1/1, SIGTERM 1/1, SIGKILL 1/1)")
    assert not data["raw"]["leftover_at_end"]
