"""CLI functions: user mistakes give a one-line error and exit code 2, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gameday.sandbox.commands import cmd_down, cmd_status


@pytest.mark.parametrize(
    "call", [lambda d: cmd_status(d, False), lambda d: cmd_status(d, True), cmd_down]
)
def test_no_sandbox_is_a_one_line_error(
    tmp_path: Path, call: Callable[[Path], int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert call(tmp_path) == 2
    captured = capsys.readouterr()
    assert "no sandbox in" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert len(captured.err.strip().splitlines()) <= 2


def test_corrupt_state_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state.json").write_text("{not json")
    assert cmd_status(tmp_path, False) == 2
    assert "not a sandbox state file" in capsys.readouterr().err
