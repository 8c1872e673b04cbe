"""JUnit XML validates against the Ant/Jenkins schema and reads back; Markdown for PRs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gameday.reports.junit import render_junit
from gameday.reports.markdown import render_markdown
from gameday.reports.model import Report
from gameday.reports.view import objective_rows

from .helpers import FIXTURES

etree = pytest.importorskip("lxml.etree", reason="lxml (dev dependency) validates the XSD")
junitparser = pytest.importorskip("junitparser", reason="junitparser (dev dependency) reads JUnit")


def _validate(xml: str) -> None:
    schema = etree.XMLSchema(etree.parse(str(FIXTURES / "junit.xsd")))
    doc = etree.fromstring(xml.encode())
    assert schema.validate(doc), schema.error_log


def test_junit_validates_for_passed_failed_error_and_a_suite(real: Report, failed: Report) -> None:
    errored = replace(failed, verdict="error", reason="the drill could not run: boom", exit_code=4)
    for reports in ([real], [failed], [errored], [real, failed, errored]):
        _validate(render_junit(reports, hostname="ci-runner"))
    # a suite's scenarios that never ran: a skipped test suite each
    stopped = [("db-primary-crash", "not run: the suite stopped at site-outage (SIGINT)")]
    xml = render_junit([real], hostname="ci-runner", not_run=stopped)
    _validate(xml)
    assert xml.count("<testsuite ") == 2 and '<skipped message="not run: the suite' in xml


def test_junit_one_case_per_objective_plus_the_drill(
    tmp_path: Path, real: Report, failed: Report
) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(render_junit([real, failed]), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"db-primary-crash", "site-outage"}
    cases = {c.name: c for c in suites["site-outage"]}
    assert set(cases) == {o.name for o in failed.objectives} | {"drill"}
    assert suites["db-primary-crash"].failures == 0 and suites["db-primary-crash"].tests == 6
    recovery = cases["recovery_time"]
    assert not recovery.is_passed
    message = recovery.result[0].message
    assert "target ≤ 20s" in message and "measured" in message
    assert cases["detection_time"].is_passed
    assert not cases["drill"].is_passed


def test_markdown_summary(failed: Report) -> None:
    md = render_markdown(failed)
    assert md.startswith("## ❌ Drill `site-outage`: **FAILED**")
    assert "| objective | target | measured ± bound | verdict |" in md
    for row in objective_rows(failed):
        assert f"| {row.name} | {row.target} | {row.measured} |" in md
    assert "❌ missed" in md and "✅ met" in md
    assert "**Deviations**" in md
    assert "hunter2" not in md


def test_markdown_escapes_table_breakers(failed: Report) -> None:
    bad = replace(failed, objectives=[replace(failed.objectives[0], name="a|b")])
    assert "| a\\|b |" in render_markdown(bad)


def test_markdown_is_inert_for_text_from_the_drill(failed: Report) -> None:
    # the PR comment: an operator name or an error text must not become HTML or a link
    evil = "<img src=x onerror=alert(1)> [click](http://evil.example) `x`"
    md = render_markdown(replace(failed, operator=evil, reason=evil))
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    assert "[click](" not in md and "\\[click\\](http://evil.example)" in md
    assert "`x`" not in md
