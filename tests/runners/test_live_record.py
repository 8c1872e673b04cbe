"""The record survives the drill: written as it goes, rebuilt after a kill or a full disk.

Real drills against the toy target (tests/architecture/toy_target.py) through the CLI or
`run_drill`; full disks are real tmpfs mounts (root only, as CI runs).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameday.cli import main
from gameday.reports.complete import cmd_rebuild
from gameday.reports.publish import publish
from gameday.runners.console import make_view
from gameday.runners.engine import run_drill
from gameday.runners.live_record import RECORD_FILE, REPORTS_MARKER
from gameday.runners.rebuild import rebuild
from gameday.runners.record import RunOptions
from gameday.scenarios.loader import load_scenario

from ..architecture.toy_target import toy_registered
from .test_verdict_truth import scenario, sh

pytestmark = pytest.mark.slow

toy = pytest.fixture(toy_registered, name="toy")

CUT = f"""\
  - name: cut
    action: command
    at: 300ms
    duration: 1s
    run: {sh("true")}
    undo: {sh("true")}
"""


def down_after(tmp: Path) -> str:
    """A fault that makes the toy system impacted (the marker file) until it is undone."""
    down = tmp / "down"
    return f"""\
  - name: cut
    action: command
    at: 300ms
    duration: 1s
    run: {sh(f"touch {down}")}
    undo: {sh(f"rm -f {down}")}
"""


def drill(tmp: Path, faults: str, **options: Any) -> Any:
    path = scenario(tmp, faults)
    opts = RunOptions(
        ci=True, report_root=tmp / "reports", install_signal_handlers=False, **options
    )
    return run_drill(load_scenario(path), path, opts, make_view(True))


def judged(report: Any) -> list[tuple[str, str, Any]]:
    return [(o.name, o.outcome, o.measured) for o in report.objectives]


def test_a_rebuilt_report_is_the_report_the_runner_wrote(toy: None, tmp_path: Path) -> None:
    record = drill(tmp_path, down_after(tmp_path))
    assert (record.run_dir / RECORD_FILE).is_file()
    rebuilt = publish(rebuild(record.run_dir))  # from the file alone
    original = publish(record)
    assert original.verdict.value == "passed"
    assert rebuilt.verdict == original.verdict and rebuilt.reason == original.reason
    assert judged(rebuilt.report) == judged(original.report)
    assert rebuilt.report.milestones == original.report.milestones
    assert len(rebuilt.report.events) == len(original.report.events)
    # report.json holds everything the record did: the record is gone once it is written
    assert not (record.run_dir / RECORD_FILE).exists()


def test_a_runner_killed_mid_drill_leaves_a_record_that_rebuilds_as_aborted(
    toy: None, tmp_path: Path
) -> None:
    record = drill(tmp_path, down_after(tmp_path))
    path = record.run_dir / RECORD_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    # what SIGKILL leaves: everything up to just after the injection, then a torn line
    cut = next(i for i, line in enumerate(lines) if b'"fault.injected"' in line) + 2
    path.write_bytes(b"".join(lines[:cut]) + lines[cut][: len(lines[cut]) // 2])
    out = publish(rebuild(record.run_dir))
    assert out.verdict.value == "aborted" and out.exit_code == 3
    assert "rebuilt from what it recorded" in out.reason
    assert "the rest of the observation" in out.reason
    # the 30 s recovery deadline never came: not judged, not missed
    outcomes = {name: outcome for name, outcome, _ in judged(out.report)}
    assert outcomes["recovery_time"] == "not judged"
    warnings = " ".join(out.report.budget_warnings)
    assert "unreadable line skipped" in warnings and "rebuilt" in warnings


def test_a_report_directory_of_user_files_is_refused_before_anything_runs(
    toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "thesis.tex").write_text("years of work")
    (reports / "photos").mkdir()
    before = sorted(p.relative_to(reports) for p in reports.rglob("*"))
    marker = tmp_path / "ran"
    faults = CUT.replace(sh("true"), sh(f"touch {marker}"), 1)
    code = main(["run", "--ci", "--report-dir", str(reports), str(scenario(tmp_path, faults))])
    err = capsys.readouterr().err
    assert code == 2
    assert "holds files gameday did not write" in err and "thesis.tex" in err
    assert "Traceback" not in err
    assert sorted(p.relative_to(reports) for p in reports.rglob("*")) == before
    assert not marker.exists()


def test_a_report_directory_of_earlier_runs_is_adopted(toy: None, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / "old-run-20250101T000000Z").mkdir(parents=True)
    (reports / "old-run-20250101T000000Z" / "report.json").write_text("{}")
    code = main(["run", "--ci", "--report-dir", str(reports), str(scenario(tmp_path, CUT))])
    assert code == 0
    assert (reports / REPORTS_MARKER).is_file()


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a full disk) needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_disk_without_room_for_the_record_is_refused(
    toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    faults = CUT.replace(sh("true"), sh(f"touch {marker}"), 1)
    with tmpfs(tmp_path / "small", "1m") as disk:
        code = main(["run", "--ci", "--report-dir", str(disk), str(scenario(tmp_path, faults))])
        err = capsys.readouterr().err
        left = [p.name for p in disk.iterdir() if p.name != REPORTS_MARKER]
    assert code == 2, err
    assert "MiB free" in err and "Traceback" not in err
    assert not marker.exists()
    assert left == []  # no run directory: a refused run leaves nothing


def test_a_disk_that_fills_during_the_drill_costs_no_revert_and_the_report_is_rebuilt(
    toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    undone = tmp_path / "undone"
    with tmpfs(tmp_path / "disk", "16m") as disk:
        fill = disk / "fill"
        # the fault fills the disk (as another process would): everything after it fails
        faults = f"""\
  - name: fill
    action: command
    at: 300ms
    duration: 1s
    run: {sh(f"dd if=/dev/zero of={fill} bs=64k 2>/dev/null; true")}
    undo: {sh(f"touch {undone}")}
"""
        code = main(["run", "--ci", "--report-dir", str(disk), str(scenario(tmp_path, faults))])
        err = capsys.readouterr().err
        run_dir = next(p for p in disk.iterdir() if p.is_dir())
        assert code == 4, err
        assert "could not be written" in err and "gameday report rebuild" in err
        assert "Traceback" not in err
        assert undone.exists(), "the revert ran although nothing more could be written"
        assert not (run_dir / "report.json").exists()
        fill.unlink()  # room again: the record so far becomes a report
        assert cmd_rebuild(run_dir) in (3, 4)
        report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] in ("aborted", "error")
    assert "rebuilt" in report["reason"] or "could not be written" in report["reason"]


def test_recover_writes_the_report_of_a_run_that_left_nothing_in_force(
    toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a runner that died once its faults were reverted but before its report was written
    record = drill(tmp_path, down_after(tmp_path))
    assert not (record.run_dir / "report.json").exists()
    # --force: the "dead" runner is this very process (the drill ran in-process)
    assert main(["recover", "--force", "--journal", str(record.run_dir)]) == 0
    assert "wrote its report" in capsys.readouterr().out
    report = json.loads((record.run_dir / "report.json").read_text())
    assert report["verdict"] == "passed"  # it had measured everything: its own verdict
