"""The CI examples gate on gray-release-rollback, publish the JUnit and verify the signed report
with a key they hold; the console summary."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from rich.console import Console

from gameday.reports.model import Report
from gameday.reports.render import REPORT_JSON, dumps_report, write_renderings
from gameday.reports.signing import generate_keypair
from gameday.reports.summary import print_summary
from tests.conftest import REPO

CI = REPO / "examples" / "ci"


def test_github_actions_workflow() -> None:
    text = (CI / "github-actions.yml").read_text()
    wf = yaml.safe_load(text)
    steps = wf["jobs"]["gray-release-drill"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "gameday run scenarios/gray-release-rollback.yaml --ci" in runs
    assert any("junit.xml" in str(s.get("with", {})) for s in steps)
    assert (REPO / "scenarios" / "gray-release-rollback.yaml").is_file()


def test_gitlab_job() -> None:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["gameday:gray-release"]
    assert any("gray-release-rollback.yaml --ci" in line for line in job["script"])
    assert job["artifacts"]["reports"]["junit"] == "reports/*/junit.xml"
    assert job["artifacts"]["when"] == "always"


def test_console_summary_plain(failed: Report, tmp_path: Path) -> None:
    buf = io.StringIO()
    print_summary(
        Console(file=buf, width=200, color_system=None),
        failed,
        tmp_path,
        [tmp_path / "report.html"],
    )
    text = buf.getvalue()
    assert "recovery_time" in text and "missed" in text and "verdict: failed" in text
    assert "report.html" in text and "\x1b[" not in text


def _bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a step's shell with `gameday` on the PATH as this checkout's CLI."""
    bin_dir = cwd / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "gameday"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gameday.cli "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    full = {**os.environ, "PATH": path, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _signed_drill(cwd: Path, report: Report, key: Path) -> None:
    """What `gameday run … --sign KEY` leaves in reports/ (the drill itself is not run here)."""
    run = cwd / "reports" / "gray-release-rollback-20250301T120000Z-beef"
    run.mkdir(parents=True)
    (run / REPORT_JSON).write_text(dumps_report(report.to_json()), encoding="utf-8")
    write_renderings(report, run, formats={"html", "markdown", "junit"}, sign_key=key)


def test_github_actions_verifies_the_signed_report_with_a_key_it_has(
    tmp_path: Path, real: Report
) -> None:
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text())
    steps = {s.get("name"): s for s in workflow["jobs"]["gray-release-drill"]["steps"]}
    setup, verify = steps["Signing key (optional)"], steps["Verify the signed report"]
    private, public = generate_keypair(tmp_path / "ci.key")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    github_env = tmp_path / "github.env"
    secrets = {"GAMEDAY_SIGNING_KEY": private.read_text(), "GAMEDAY_PUBLIC_KEY": public.read_text()}
    assert set(setup["env"]) == set(secrets)
    done = _bash(
        setup["run"], tmp_path, RUNNER_TEMP=str(temp), GITHUB_ENV=str(github_env), **secrets
    )
    assert done.returncode == 0, done.stderr
    (line,) = github_env.read_text().splitlines()
    assert line.startswith("SIGN_ARGS=--sign ")
    _signed_drill(tmp_path, real, Path(line.split()[-1]))
    checked = _bash(verify["run"], tmp_path, RUNNER_TEMP=str(temp))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verified:" in checked.stdout
    # negative control: the report signed by another key fails the step
    other = generate_keypair(tmp_path / "other.key")[1]
    shutil.copy(other, temp / "gameday.pub")
    assert _bash(verify["run"], tmp_path, RUNNER_TEMP=str(temp)).returncode == 1
    # a signing key without its public key stops the job before the drill
    missing = _bash(
        setup["run"],
        tmp_path,
        RUNNER_TEMP=str(temp),
        GITHUB_ENV=str(github_env),
        **{**secrets, "GAMEDAY_PUBLIC_KEY": ""},
    )
    assert missing.returncode == 2 and "GAMEDAY_PUBLIC_KEY" in missing.stdout


def test_gitlab_verifies_the_signed_report_with_a_key_it_has(tmp_path: Path, real: Report) -> None:
    script = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["gameday:gray-release"]["script"]
    setup = next(line for line in script if "SIGN_ARGS=" in line)
    verify = next(line for line in script if "gameday verify" in line)
    private, public = generate_keypair(tmp_path / "ci.key")
    _signed_drill(tmp_path, real, private)
    files = {"GAMEDAY_SIGNING_KEY": str(private), "GAMEDAY_PUBLIC_KEY": str(public)}
    checked = _bash(f"{setup}\n{verify}", tmp_path, **files)
    assert checked.returncode == 0 and "verified:" in checked.stdout, checked.stdout
    other = generate_keypair(tmp_path / "other.key")[1]
    failed = _bash(f"{setup}\n{verify}", tmp_path, **{**files, "GAMEDAY_PUBLIC_KEY": str(other)})
    assert failed.returncode == 1
