"""Target lock: one drill per target, holder named, dead holders taken over."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
