"""gameday only ever clears a directory it created: a scenario's state_dir cannot delete user data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gameday.cli import main
from gameday.runners.journal import Journal
from gameday.sandbox.startup import claim_state_dir
from gameday.sandbox.state import OWNER_MARKER, SandboxError
from tests.conftest import LIBRARY


def user_dir(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "pg").mkdir(parents=True)
    (home / "precious.txt").write_text("years of work")
    (home / "pg" / "PG_VERSION").write_text("15")  # looks like ours, is not
    (home / "state.json").write_text("{}")
    return home


def test_a_directory_with_user_files_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = user_dir(tmp_path)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    assert main(["sandbox", "up", "--state-dir", str(home)]) == 2
    assert "holds files gameday did not create (precious.txt)" in capsys.readouterr().err
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
    assert (home / "pg" / "PG_VERSION").read_text() == "15"


def test_a_new_empty_or_own_directory_is_claimed(tmp_path: Path) -> None:
    fresh = tmp_path / "new"
    claim_state_dir(fresh)
    assert (fresh / OWNER_MARKER).is_file()
    # a state dir from before the marker existed holds only gameday's own names
    old = tmp_path / "old"
    (old / "logs").mkdir(parents=True)
    for name in ("drill.lock", "state.lock", "events.jsonl"):
        (old / name).write_text("")
    claim_state_dir(old)
    assert (old / OWNER_MARKER).is_file()
    # once marked it stays gameday's, whatever is added later
    (old / "notes.txt").write_text("")
    claim_state_dir(old)


def test_claim_refuses_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match=r"precious\.txt"):
        claim_state_dir(user_dir(tmp_path))


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_a_scenario_naming_a_directory_of_user_files_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    home = user_dir(tmp_path)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    data = yaml.safe_load((LIBRARY / "db-primary-crash.yaml").read_text())
    data["target"]["state_dir"] = str(home)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    extra = ["--ci", "--report-dir", str(tmp_path / "reports")] if command == "run" else []
    assert main([command, *extra, str(scenario)]) == 2
    err = capsys.readouterr().err
    # the scenario's own line, the field, what is wrong; nothing written in the user's dir
    assert f"{scenario}:" in err and "target.state_dir" in err and "precious.txt" in err
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
    assert not (tmp_path / "reports").exists()


def test_down_and_recover_leave_a_directory_of_user_files_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = user_dir(tmp_path)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    assert main(["sandbox", "down", "--state-dir", str(home)]) != 0
    # a journal (from a pull request, say) claiming the drill started a sandbox there
    run = tmp_path / "reports" / "run"
    run.mkdir(parents=True)
    journal = Journal.open(run, run_id="run-1", index_dir=tmp_path / "index")
    journal.drill_started("s", "sandbox", {"state_dir": str(home)})
    journal.target_starting("sandbox", {"state_dir": str(home)})
    journal.close(clean=False)
    main(["recover", "--journal", str(run)])
    capsys.readouterr()
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
    assert (home / "precious.txt").read_text() == "years of work"
