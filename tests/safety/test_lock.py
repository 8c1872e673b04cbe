"""Target lock: one drill per target, holder named, dead holders taken over."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from gameday.runners.lock import TargetLock, TargetLocked, lock_path_for

REPO = Path(__file__).resolve().parents[2]


def test_second_drill_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    spec = {"state_dir": str(tmp_path / "sbx")}
    with TargetLock.acquire("sandbox", spec, "run-one", scenario="db-crash"):
        with pytest.raises(TargetLocked) as err:
            TargetLock.acquire("sandbox", spec, "run-two")
        assert "run-one" in str(err.value) and "db-crash" in str(err.value)
        assert err.value.holder["run_id"] == "run-one"
    with TargetLock.acquire("sandbox", spec, "run-two") as lock:  # released: free again
        assert not lock.took_over
    assert lock_path_for("sandbox", spec) == tmp_path / "sbx" / "drill.lock"


def test_other_targets_lock_independently(tmp_path: Path) -> None:
    a = {"project": "a", "url": "http://x"}
    b = {"project": "b", "url": "http://x"}
    with (
        TargetLock.acquire("docker", a, "r1", lock_dir=tmp_path),
        TargetLock.acquire("docker", b, "r2", lock_dir=tmp_path),
        pytest.raises(TargetLocked),
    ):
        TargetLock.acquire("docker", dict(a), "r3", lock_dir=tmp_path)


HOLD_AND_DIE = """
import os, signal, sys
from gameday.runners.lock import TargetLock
TargetLock.acquire("sandbox", {"state_dir": sys.argv[1]}, "dead-run", scenario="s")
print(os.getpid(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_lock_of_a_dead_runner_is_taken_over(tmp_path: Path) -> None:
    sd = str(tmp_path / "sbx")
    proc = subprocess.run(
        [sys.executable, "-c", HOLD_AND_DIE, sd],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    dead_pid = int(proc.stdout.split()[0])
    with TargetLock.acquire("sandbox", {"state_dir": sd}, "new-run") as lock:
        assert lock.took_over
        assert lock.previous["pid"] == dead_pid and lock.previous["run_id"] == "dead-run"
        assert lock.holder["run_id"] == "new-run"


def test_a_refused_run_leaves_the_holders_target_alone(tmp_path: Path) -> None:
    """A run refused by the lock must not tear down what the drill holding it set up
    (it detached the running drill's alert receiver, which then missed its alerts)."""
    import asyncio

    from gameday.runners.console import PlainView
    from gameday.runners.engine import Drill
    from gameday.runners.record import RunOptions
    from gameday.scenarios.loader import load_scenario
    from gameday.targets import registry

    from ..architecture.toy_target import TOY, ToyDriver

    class Watched(ToyDriver):
        calls: ClassVar[list[object]] = []

        def set_alert_receiver(self, url: str | None) -> None:
            self.calls.append(url)

        def ensure_running(self) -> bool:
            self.calls.append("ensure_running")
            return False

    scenario_path = tmp_path / "toy.yaml"
    scenario_path.write_text(
        "apiVersion: gameday/v1\nkind: Scenario\nname: refused\ntarget: {type: toy}\n"
        "steady_state:\n  stable_for: 1s\n  probes: [{name: p, type: tcp, host: 127.0.0.1, "
        "port: 9}]\nfaults: [{action: crash, service: web}]\n",
        encoding="utf-8",
    )
    registry.register(TOY)
    try:
        driver = Watched()
        holder = TargetLock.acquire("toy", driver.spec(), "the-running-drill")
        scenario = load_scenario(scenario_path)
        options = RunOptions(ci=True, report_root=tmp_path / "r", install_signal_handlers=False)
        drill = Drill(scenario, scenario_path, options, PlainView(), lambda s: driver)
        record = asyncio.run(drill.run())
        holder.release()
    finally:
        registry.unregister("toy")
    assert record.error is not None and "the-running-drill" in record.error
    # an expected refusal: one line, no traceback file
    assert "Traceback" not in record.error and not (record.run_dir / "error.log").exists()
    assert Watched.calls == [], "a refused run touched the target"


def test_sandbox_down_is_refused_while_a_drill_holds_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gameday.cli import main

    state = tmp_path / "sandbox"
    state.mkdir()
    holder = TargetLock.acquire("sandbox", {"state_dir": str(state)}, "drill-in-observe")
    try:
        assert main(["sandbox", "down", "--state-dir", str(state)]) == 2
        err = capsys.readouterr().err
        assert "refused:" in err and "drill-in-observe" in err and "--force" in err
        main(["sandbox", "down", "--state-dir", str(state), "--force"])
        assert "refused:" not in capsys.readouterr().err
    finally:
        holder.release()
    # nobody holds it: down goes ahead
    main(["sandbox", "down", "--state-dir", str(state)])
    assert "refused:" not in capsys.readouterr().err


def test_taking_over_a_dead_drills_lock_says_to_recover(tmp_path: Path) -> None:
    import json

    spec = {"state_dir": str(tmp_path)}
    path = lock_path_for("sandbox", spec)
    # what a runner killed with SIGKILL leaves: its holder record, no flock
    path.write_text(json.dumps({"run_id": "dead-1", "pid": 999999, "journal": "/r/j.jsonl"}))
    lock = TargetLock.acquire("sandbox", spec, "next")
    try:
        warning = lock.takeover_warning()
        assert warning is not None and "dead-1" in warning
        assert "gameday recover --journal /r/j.jsonl" in warning
    finally:
        lock.release()
    # a clean release leaves nothing to warn about
    again = TargetLock.acquire("sandbox", spec, "after")
    assert again.takeover_warning() is None
    again.release()


def test_locks_of_other_targets_live_in_the_gameday_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no usable home (a Kubernetes Job): the lock follows the run index to the temp fallback
    monkeypatch.delenv("GAMEDAY_LOCK_DIR", raising=False)
    monkeypatch.delenv("GAMEDAY_HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("HOME", str(tmp_path / "file" / "home"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    spec = {"project": "payments", "url": "http://x"}
    with TargetLock.acquire("docker", spec, "r1") as lock:
        assert lock.path.parent == tmp_path / f"gameday-{os.getuid()}" / "locks"


def test_a_forced_teardown_asks_the_drill_to_stop_and_waits_for_it(tmp_path: Path) -> None:
    from gameday.analysis.timeline import Clock
    from gameday.runners.guardrails import GuardrailWatch
    from gameday.runners.lock import lock_for_teardown
    from gameday.scenarios.model import Guardrails

    spec = {"state_dir": str(tmp_path / "sbx")}
    drill = TargetLock.acquire("sandbox", spec, "drill-1", scenario="db-crash")
    watch = GuardrailWatch(Guardrails(), drill)
    clock = Clock.start_now()
    assert watch.check(clock.now(), 1.0, None, True) is None
    said: list[str] = []
    with pytest.raises(TargetLocked):  # without --force: refused, nothing asked
        lock_for_teardown(
            "sandbox", spec, by="down", what="the sandbox", force=False, say=said.append
        )
    assert drill.forced_by() is None and said == []

    reasons: list[str] = []

    def the_drill() -> None:
        # the drill's pump: polls its guardrails, aborts, reverts, lets go
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reason = watch.check(time.monotonic(), 1.0, None, True)
            if reason is not None:
                reasons.append(reason)
                time.sleep(0.3)  # reverting its faults
                drill.release()
                return
            time.sleep(0.2)

    pump = threading.Thread(target=the_drill)
    pump.start()
    t0 = time.monotonic()
    taken = lock_for_teardown(
        "sandbox", spec, by="gameday sandbox down --force", what="the sandbox", force=True,
        say=said.append,
    )  # fmt: skip
    pump.join()
    assert taken is not None, "the drill let go: the teardown holds the lock"
    assert time.monotonic() - t0 < 3
    assert reasons == [
        f"the sandbox was taken down by `gameday sandbox down --force` (pid {os.getpid()})"
    ]
    assert "drill-1" in said[0] and "abort" in said[0]
    taken.release()
    # the request named drill-1: a later drill on the same target is not stopped by it
    with TargetLock.acquire("sandbox", spec, "drill-2") as later:
        assert later.forced_by() is None and not later.took_over


def test_a_forced_teardown_goes_ahead_when_the_drill_does_not_let_go(tmp_path: Path) -> None:
    from gameday.runners.lock import lock_for_teardown

    spec = {"state_dir": str(tmp_path / "sbx")}
    said: list[str] = []
    with TargetLock.acquire("sandbox", spec, "hung-drill") as drill:
        taken = lock_for_teardown(
            "sandbox", spec, by="x", what="the sandbox", force=True, say=said.append, wait_s=0.5
        )
        assert taken is None and drill.forced_by() is not None
    assert "anyway" in said[-1]
