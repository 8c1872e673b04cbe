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
