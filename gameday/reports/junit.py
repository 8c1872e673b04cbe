"""JUnit XML (Ant/Jenkins schema): one testsuite per drill, one testcase per objective plus the drill."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from ..analysis.verdict import Verdict
from .report import Report
from .view import deviation_list

_FAILURE_TYPE = "gameday.ObjectiveMissed"


def _timestamp(iso: str) -> str:
    # the schema's pattern allows no fraction and no zone: UTC is implied
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _suite(report: Report, index: int, hostname: str) -> ET.Element:
    classname = f"gameday.{report.scenario.name}"
    cases: list[ET.Element] = []
    failures = errors = 0
    for r in report.objectives:
        case = ET.Element("testcase", name=r.name, classname=classname, time="0")
        if r.missed:
            failures += 1
            msg = f"{r.name}: target {r.bound_text}, measured {r.measured_text()} — {r.reason}"
            fail = ET.SubElement(case, "failure", message=msg, type=_FAILURE_TYPE)
            fail.text = msg
        elif not r.judged:
            # never judged: neither a pass nor a failure of the objective
            ET.SubElement(case, "skipped", message=f"not judged: {r.reason}")
        cases.append(case)
    # the drill itself: errors and aborts are not objective failures, and CI must still see them
    drill = ET.Element(
        "testcase", name="drill", classname=classname, time=f"{report.duration_s:.3f}"
    )
    if report.verdict is Verdict.ERROR:
        errors += 1
        ET.SubElement(
            drill, "error", message=report.reason, type="gameday.DrillError"
        ).text = report.reason
    elif report.verdict is not Verdict.PASSED:
        failures += 1
        text = "\n".join(deviation_list(report)) or report.reason
        ET.SubElement(
            drill,
            "failure",
            message=f"{report.verdict}: {report.reason}",
            type=f"gameday.Drill{report.verdict.title()}",
        ).text = text
    cases.append(drill)
    suite = ET.Element(
        "testsuite",
        name=report.scenario.name,
        timestamp=_timestamp(report.started),
        hostname=hostname,
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{report.duration_s:.3f}",
        package="gameday",
        id=str(index),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", report.run_id),
        ("verdict", report.verdict.value),
        ("exit_code", str(report.exit_code)),
        ("target", report.target.type),
        ("operator", report.operator),
        ("scenario_sha256", report.scenario.sha256 or ""),
        ("toolkit_version", report.toolkit_version),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = f"{report.verdict}: {report.reason}"
    ET.SubElement(suite, "system-err").text = ""
    return suite


def _not_run(name: str, why: str, index: int, hostname: str) -> ET.Element:
    """A scenario of a suite that never ran: one skipped case, so CI lists it."""
    suite = ET.Element(
        "testsuite",
        name=name,
        timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=hostname,
        tests="1",
        failures="0",
        errors="0",
        skipped="1",
        time="0",
        package="gameday",
        id=str(index),
    )
    ET.SubElement(suite, "properties")
    case = ET.SubElement(suite, "testcase", name="drill", classname=f"gameday.{name}", time="0")
    ET.SubElement(case, "skipped", message=why)
    ET.SubElement(suite, "system-out").text = why
    ET.SubElement(suite, "system-err").text = ""
    return suite


def render_junit(
    reports: Sequence[Report],
    *,
    hostname: str | None = None,
    not_run: Sequence[tuple[str, str]] = (),
) -> str:
    """A `<testsuites>` document for one drill or a whole suite run.

    ``not_run`` lists a suite's scenarios that never ran, as (name, why), after the others.
    """
    host = hostname or socket.gethostname() or "localhost"
    root = ET.Element("testsuites")
    for i, report in enumerate(reports):
        root.append(_suite(report, i, host))
    for i, (name, why) in enumerate(not_run, len(reports)):
        root.append(_not_run(name, why, i, host))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
