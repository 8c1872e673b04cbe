"""Credentials reach a scenario's record only as ${env:}/${file:} references, never through vars.

A value is checked as it will be used: `{{ vars.* }}` expanded, secret references not yet
resolved. The problem points at the use and names the line where the var is set.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.scenarios.loader import load_document
from gameday.scenarios.model import HttpProbe, Scenario, SqlProbe

from .test_cli import gameday
from .test_loader import WriteYaml, problems_of

HEAD = """\
apiVersion: gameday/v1
kind: Scenario
name: secrets
target:
  type: sandbox
vars:
  db_host: db.internal
  db_user: app
  db_password: {password}
  token: {token}
steady_state:
  stable_for: 5s
  probes:
    - name: api
      type: http
      url: "{{{{ target.url }}}}/health"
      headers:
        content-type: application/json
        user-agent: "{{{{ vars.db_user }}}}"
        {header}
evidence:
  - name: db
    type: sql
    dsn: "{dsn}"
faults:
  - action: command
    run: {run}
    undo: "true"
"""
# lines (1-based) of the text above
PASSWORD_LINE, TOKEN_LINE, HEADER_LINE, DSN_LINE, RUN_LINE = 9, 10, 20, 24, 27

HARMLESS_DSN = "postgresql://{{ vars.db_user }}:${env:DB_PASSWORD}@{{ vars.db_host }}:5432/app"


def scenario(
    *,
    password: str = '"${env:DB_PASSWORD}"',
    token: str = '"Bearer ${env:API_TOKEN}"',
    header: str = 'authorization: "{{ vars.token }}"',
    dsn: str = HARMLESS_DSN,
    run: str = '["sh", "-c", "echo ${env:API_TOKEN} > out"]',
) -> str:
    return HEAD.format(password=password, token=token, header=header, dsn=dsn, run=run)


def test_harmless_vars_and_references_load(write_yaml: WriteYaml) -> None:
    # hosts, ports and user names from vars; credentials from references, directly or via vars
    document = load_document(write_yaml(scenario()))
    assert isinstance(document, Scenario)
    sql = document.evidence[0]
    assert isinstance(sql, SqlProbe) and sql.dsn == HARMLESS_DSN
    http = document.steady_state.probes[0]
    assert isinstance(http, HttpProbe) and http.headers["authorization"] == "{{ vars.token }}"


def test_a_password_from_vars_in_a_dsn_is_refused_at_its_use(write_yaml: WriteYaml) -> None:
    path = write_yaml(
        scenario(
            password="hunter2",
            dsn=HARMLESS_DSN.replace("${env:DB_PASSWORD}", "{{ vars.db_password }}"),
        )
    )
    [p] = problems_of(path)
    assert (p.line, p.field) == (DSN_LINE, "evidence[0].dsn")
    assert "vars.db_password" in p.message and "${env:NAME} or ${file:PATH}" in p.message
    assert f"vars.db_password is set at line {PASSWORD_LINE}" in p.message
    assert "this line uses it" in p.message
    assert "hunter2" not in p.message


def test_a_libpq_password_from_vars_is_refused(write_yaml: WriteYaml) -> None:
    dsn = "host={{ vars.db_host }} user={{ vars.db_user }} password={{ vars.db_password }}"
    [p] = problems_of(write_yaml(scenario(password="hunter2", dsn=dsn)))
    assert p.field == "evidence[0].dsn" and "vars.db_password" in p.message


def test_a_credential_from_vars_in_a_header_is_refused(write_yaml: WriteYaml) -> None:
    [p] = problems_of(write_yaml(scenario(token='"Bearer abc123"')))
    assert (p.line, p.field) == (HEADER_LINE, "steady_state.probes[0].headers.authorization")
    assert f"vars.token is set at line {TOKEN_LINE}" in p.message
    assert "${env:NAME}" in p.message


@pytest.mark.parametrize(
    "header",
    ["x-api-key: abc123", 'authorization: "Bearer abc123"', "cookie: session=abc123"],
)
def test_an_inline_credential_in_a_header_is_refused(write_yaml: WriteYaml, header: str) -> None:
    [p] = problems_of(write_yaml(scenario(header=header)))
    assert p.line == HEADER_LINE and "credentials written in the scenario" in p.message


@pytest.mark.parametrize(
    "run",
    [
        '"env PGPASSWORD={{ vars.db_password }} psql -c select"',
        '["curl", "-H", "Authorization: Bearer {{ vars.db_password }}", "http://x"]',
        '["psql", "postgresql://app:{{ vars.db_password }}@db/app"]',
    ],
)
def test_a_credential_from_vars_in_a_command_is_refused(write_yaml: WriteYaml, run: str) -> None:
    [p] = problems_of(write_yaml(scenario(password="hunter2", run=run)))
    assert p.line == RUN_LINE and p.field.startswith("faults[0].run")
    assert "vars.db_password" in p.message


def test_the_targets_own_variables_are_not_blamed(write_yaml: WriteYaml) -> None:
    # the driver declares its own secrets (redacted everywhere): {{ target.* }} may carry them
    dsn = "{{ target.db_dsn }}&application_name={{ vars.db_user }}"
    assert isinstance(load_document(write_yaml(scenario(dsn=dsn))), Scenario)


def test_validate_exits_2_with_the_location(tmp_path: Path) -> None:
    path = tmp_path / "leak.yaml"
    dsn = HARMLESS_DSN.replace("${env:DB_PASSWORD}", "{{ vars.db_password }}")
    path.write_text(scenario(password="hunter2", dsn=dsn), encoding="utf-8")
    result = gameday("validate", str(path))
    assert result.returncode == 2
    assert f"leak.yaml:{DSN_LINE}:" in result.stderr and "evidence[0].dsn" in result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
