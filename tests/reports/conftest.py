"""Fixtures for the report renderings: a real drill, a failed synthetic one, signed run dirs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gameday.reports.model import Report
from gameday.reports.render import REPORT_JSON, dumps_report, write_renderings
from gameday.reports.signing import generate_keypair
from gameday.reports.trust import TRUST_ENV

from .helpers import REAL, real_report, synthetic_report, write_journal


@pytest.fixture(autouse=True)
def no_trusted_keys(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test trusts a key by accident: an empty trust list unless a test sets one."""
    monkeypatch.delenv(TRUST_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(scope="session")
def real() -> Report:
    return real_report()


@pytest.fixture(scope="session")
def failed() -> Report:
    return synthetic_report()


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("keys") / "drill.key")


@pytest.fixture(scope="session")
def signed_template(tmp_path_factory: pytest.TempPathFactory, keypair: tuple[Path, Path]) -> Path:
    """A signed run directory built from the real drill's report.json (never modified)."""
    run = tmp_path_factory.mktemp("signed") / "run"
    run.mkdir()
    # point the report at the scenario file it was recorded with (kept beside the fixture),
    # so the copy kept with the report does not depend on the library or the checkout path
    data = json.loads(REAL.read_text(encoding="utf-8"))
    data["scenario"]["path"] = str(REAL.with_suffix(".yaml"))
    (run / REPORT_JSON).write_text(dumps_report(data), encoding="utf-8")
    write_journal(run, tmp_path_factory.mktemp("index"))
    report = real_report()
    # the scenario that ran, so the copy kept with the report is exercised
    write_renderings(report, run, formats={"html", "markdown", "junit"}, sign_key=keypair[0])
    return run


@pytest.fixture
def signed_run(signed_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the signed run directory to tamper with."""
    dst = tmp_path / "run"
    shutil.copytree(signed_template, dst)
    return dst


@pytest.fixture
def failed_run(tmp_path: Path, failed: Report) -> Path:
    run = tmp_path / "failed-run"
    run.mkdir()
    (run / REPORT_JSON).write_text(dumps_report(failed.to_json()), encoding="utf-8")
    return run
