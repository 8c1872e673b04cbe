"""Every error shape the loader promises: file:line:col, the field, expected vs found."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gameday.scenarios.loader import load_document, load_scenario, load_suite_scenarios
from gameday.scenarios.model import CrashFault, HttpProbe, Scenario, Suite
from gameday.scenarios.problems import Problem, ScenarioError
from gameday.scenarios.source import MAX_FILE_BYTES, MAX_NODES

WriteYaml = Callable[..., Path]

VALID = """\
apiVersion: gameday/v1
kind: Scenario
name: minimal
target:
  type: sandbox
steady_state:
  stable_for: 5s
  probes:
    - name: health
      type: http
      url: "{{ target.url }}/health"
faults:
  - action: crash
    service: db-primary
    at: 5s
"""


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load_document(path)
    return info.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


def test_minimal_scenario_loads_with_defaults(write_yaml: WriteYaml) -> None:
    scenario = load_document(write_yaml(VALID))
    assert isinstance(scenario, Scenario)
    assert scenario.objectives.recovery_time == 900.0  # 15 minutes by default
    assert scenario.steady_state.stable_for == 5.0
    assert isinstance(scenario.faults[0], CrashFault)
    assert scenario.faults[0].label() == "crash-db-primary"
    probe = scenario.steady_state.probes[0]
    assert isinstance(probe, HttpProbe) and probe.expect_status == [200]
    assert probe.every == 0.5


def test_misspelt_key_points_at_the_key_and_suggests(write_yaml: WriteYaml) -> None:
    p = only_problem(
        write_yaml(
            VALID.replace(
                "    service: db-primary", "    sevice: db-primary\n    service: db-primary"
            )
        )
    )
    assert (p.line, p.column) == (14, 5)
    assert p.field == "faults[0].sevice"
    assert "unknown field 'sevice'; did you mean 'service'?" in p.message


def test_a_key_with_a_line_break_is_reported_on_one_line(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID + '"two\\nlines": 1\n'))
    assert p.field == "two\\nlines"
    assert "unknown field 'two\\nlines'" in p.message and "\n" not in p.message
    assert "\n" not in str(p)


def test_unknown_key_without_close_match_lists_allowed(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID + "zzz: 1\n"))
    assert p.field == "zzz" and p.line == 16
    assert "allowed here:" in p.message and "steady_state" in p.message


def test_unknown_action_suggests(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("action: crash", "action: crsh")))
    assert (p.line, p.field) == (13, "faults[0].action")
    assert "unknown action 'crsh'; did you mean 'crash'?" in p.message
    assert "network-cut" in p.message


def test_unknown_probe_type_suggests(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("type: http", "type: htp")))
    assert p.field == "steady_state.probes[0].type" and "did you mean 'http'?" in p.message


def test_missing_required_field(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("    service: db-primary\n", "")))
    assert p.field == "faults[0].service" and p.message == "required field is missing"
    assert p.line == 13  # the fault that lacks it


def test_wrong_type_says_expected_and_found(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("stable_for: 5s", "stable_for: [5s]")))
    assert p.field == "steady_state.stable_for"
    assert "expected a duration" in p.message and "found" in p.message


def test_bad_duration(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("at: 5s", "at: 5 seconds")))
    assert (p.line, p.column, p.field) == (15, 9, "faults[0].at")
    assert "found '5 seconds'" in p.message


def test_durations_load_as_people_write_them(write_yaml: WriteYaml) -> None:
    text = VALID.replace("stable_for: 5s", "stable_for: 2m 30s").replace("at: 5s", "at: 250 ms")
    scenario = load_scenario(write_yaml(text))
    assert (scenario.steady_state.stable_for, scenario.faults[0].at) == (150.0, 0.25)


def test_an_ambiguous_duration_says_why_at_its_line(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("at: 5s", "at: 1m30")))
    assert (p.line, p.column, p.field) == (15, 9, "faults[0].at")
    assert p.message.endswith("found '1m30': 30 has no unit (ms, s, m, h or d)")


@pytest.mark.parametrize("at", ["1" + "0" * 5000 + "s", "8d", "168h1ms"])
def test_a_duration_beyond_a_week_is_refused(write_yaml: WriteYaml, at: str) -> None:
    # 1 followed by 5,000 zeros overflowed to infinity and crashed `plan` and `run`
    p = only_problem(write_yaml(VALID.replace("at: 5s", f"at: {at}")))
    assert (p.line, p.field) == (15, "faults[0].at")
    assert "at most 7d" in p.message


def test_a_week_is_still_a_duration(write_yaml: WriteYaml) -> None:
    text = VALID.replace("at: 5s", "at: 5s\n    duration: 7d")
    assert load_scenario(write_yaml(text)).faults[0].duration == 7 * 86400.0


def test_a_fault_after_max_duration_is_refused(write_yaml: WriteYaml) -> None:
    late = VALID.replace("at: 5s", "at: 30m")
    p = only_problem(write_yaml(late))
    assert "crash-db-primary would start after guardrails.max_duration (20m" in p.message
    ok = late + "guardrails:\n  max_duration: 1h\n"
    assert load_scenario(write_yaml(ok)).faults[0].at == 1800.0


def test_bad_slug_name(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("name: minimal", "name: My Drill")))
    assert p.field == "name" and "lower-case letters" in p.message


def test_every_problem_is_reported_not_only_the_first(write_yaml: WriteYaml) -> None:
    text = (
        VALID.replace("stable_for: 5s", "stable_for: 5").replace("at: 5s", "at: soon")
        + "extra: 1\n"
    )
    fields = {p.field for p in problems_of(write_yaml(text))}
    assert fields == {"steady_state.stable_for", "faults[0].at", "extra"}


def test_wrong_kind_and_api_version(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("kind: Scenario", "kind: Scenrio")))
    assert p.field == "kind" and "did you mean 'Scenario'?" in p.message
    p = only_problem(write_yaml(VALID.replace("gameday/v1", "gameday/v2")))
    assert p.field == "apiVersion" and "'gameday/v1'" in p.message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "file is empty"),
        ("# only a comment\n", "file is empty"),
        ("- a\n- b\n", "expected a mapping at the top"),
        ("just text\n", "expected a mapping at the top"),
        ("a: [1, 2\n", "YAML syntax error"),
        ("a: b\n---\nc: d\n", "more than one YAML document"),
        ("a: !!python/object:os.system x\n", "YAML error"),
    ],
)
def test_unusable_documents_give_one_clear_line(
    write_yaml: WriteYaml, text: str, needle: str
) -> None:
    p = only_problem(write_yaml(text))
    assert needle in p.message
    assert "\n" not in str(p)


def test_syntax_error_has_line(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID.replace("  stable_for: 5s", "  stable_for: 5s\n   bad: [")))
    assert p.line >= 8 and "YAML syntax error" in p.message


def test_duplicate_key(write_yaml: WriteYaml) -> None:
    p = only_problem(write_yaml(VALID + "name: again\n"))
    assert p.line == 16 and "duplicate key 'name' (first written at line 3)" in p.message


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "binary file" in only_problem(path).message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    assert "not UTF-8" in only_problem(path).message


def test_huge_file(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    assert "limited to" in only_problem(path).message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert only_problem(tmp_path / "nope.yaml").message == "no such file"
    assert "is a directory" in only_problem(tmp_path).message


def test_alias_bomb_is_refused(write_yaml: WriteYaml) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    p = only_problem(write_yaml("\n".join(lines) + "\n"))
    assert f"more than {MAX_NODES} nodes" in p.message


def test_anchors_for_reuse_are_fine(write_yaml: WriteYaml) -> None:
    text = VALID.replace("    - name: health\n", "    - &probe\n      name: health\n")
    text = text.replace("faults:", "evidence:\n  - <<: *probe\n    name: health2\nfaults:")
    scenario = load_document(write_yaml(text))
    assert isinstance(scenario, Scenario) and scenario.evidence[0].name == "health2"


def test_unknown_variable_and_secret_syntax(write_yaml: WriteYaml) -> None:
    text = VALID.replace("{{ target.url }}/health", "{{ target.uri }}/health?k=${vault:x}")
    problems = problems_of(write_yaml(text))
    messages = " | ".join(p.message for p in problems)
    assert "unknown variable 'target.uri'" in messages and "target.url" in messages
    assert "bad secret reference '${vault:x}'" in messages
    assert all(p.field == "steady_state.probes[0].url" and p.line == 11 for p in problems)


def test_inline_password_is_refused_env_reference_is_fine(write_yaml: WriteYaml) -> None:
    probe = "    - name: db\n      type: sql\n      dsn: postgresql://app:{pw}@127.0.0.1/app\n"
    bad = VALID.replace("faults:", "evidence:\n" + probe.format(pw="hunter2") + "faults:")
    p = only_problem(write_yaml(bad))
    assert p.field == "evidence[0].dsn" and "${env:NAME}" in p.message
    good = VALID.replace(
        "faults:", "evidence:\n" + probe.format(pw="${env:DB_PASSWORD}") + "faults:"
    )
    assert isinstance(load_document(write_yaml(good, "good.yaml")), Scenario)


def test_user_vars_are_known(write_yaml: WriteYaml) -> None:
    text = (
        VALID.replace("{{ target.url }}", "{{ vars.base }}") + "vars:\n  base: http://127.0.0.1:1\n"
    )
    assert isinstance(load_document(write_yaml(text)), Scenario)


def test_cross_field_rules(write_yaml: WriteYaml) -> None:
    text = VALID.replace(
        "  - action: crash\n    service: db-primary", "  - action: load-surge\n    multiply: 10x"
    )
    p = only_problem(write_yaml(text))
    assert "load-surge fault needs a 'traffic' section" in p.message


def test_partition_groups_must_be_disjoint(write_yaml: WriteYaml) -> None:
    text = VALID.replace(
        "  - action: crash\n    service: db-primary",
        "  - action: partition\n    between: [[api-a, db-primary], [db-primary]]",
    )
    p = only_problem(write_yaml(text))
    assert p.field == "faults[0].between" and "both sides: db-primary" in p.message


def test_latency_needs_exactly_one_subject(write_yaml: WriteYaml) -> None:
    text = VALID.replace(
        "  - action: crash\n    service: db-primary", "  - action: latency\n    delay: 300ms"
    )
    assert "exactly one of 'service' or 'link'" in only_problem(write_yaml(text)).message


def test_gray_release_steps_must_increase(write_yaml: WriteYaml) -> None:
    text = VALID.replace(
        "  - action: crash\n    service: db-primary",
        "  - action: gray-release\n    version: v2\n    steps: [20%, 5%]",
    )
    assert "steps must increase" in only_problem(write_yaml(text)).message


def test_shorthands(write_yaml: WriteYaml) -> None:
    text = VALID.replace(
        "target:",
        "objectives:\n  data_loss: 0\n  protected_success: 99%\ntraffic: {users: 5}\ntarget:",
    )
    scenario = load_document(write_yaml(text))
    assert isinstance(scenario, Scenario)
    assert (
        scenario.objectives.data_loss is not None and scenario.objectives.data_loss.max_writes == 0
    )
    assert scenario.objectives.protected_success is not None
    assert scenario.objectives.protected_success.min == pytest.approx(0.99)
    assert scenario.traffic is not None and scenario.traffic.profile == "payments"


def test_suite_loads_members_and_shares_manual_steps(write_yaml: WriteYaml, tmp_path: Path) -> None:
    write_yaml(VALID, "one.yaml")
    suite_path = write_yaml(
        "apiVersion: gameday/v1\nkind: Suite\nname: q\nscenarios: [one.yaml]\n"
        "manual_steps:\n  - name: declare\n    deadline: 5m\n",
        "suite.yaml",
    )
    suite = load_document(suite_path)
    assert isinstance(suite, Suite)
    members = load_suite_scenarios(suite, suite_path)
    assert [s.manual_steps[0].name for _, s in members] == ["declare"]


def test_suite_with_missing_member_points_at_the_entry(write_yaml: WriteYaml) -> None:
    suite_path = write_yaml(
        "apiVersion: gameday/v1\nkind: Suite\nname: q\nscenarios:\n  - gone.yaml\n"
    )
    suite = load_document(suite_path)
    assert isinstance(suite, Suite)
    with pytest.raises(ScenarioError) as info:
        load_suite_scenarios(suite, suite_path)
    p = info.value.problems[0]
    assert (p.line, p.field) == (5, "scenarios[0]") and "no such file: gone.yaml" in p.message


def test_load_scenario_refuses_a_suite(write_yaml: WriteYaml) -> None:
    path = write_yaml("apiVersion: gameday/v1\nkind: Suite\nname: q\nscenarios: [x.yaml]\n")
    with pytest.raises(ScenarioError, match="expected a Scenario here"):
        load_scenario(path)


def test_problem_string_format() -> None:
    p = Problem("a.yaml", 3, 5, "faults[0].at", "expected a duration")
    assert str(p) == "a.yaml:3:5: faults[0].at: expected a duration"
