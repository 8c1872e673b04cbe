"""The HTML report: self-contained, complete for an auditor, escaped, printable, fast at scale."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

from gameday.analysis.timeline import Sample
from gameday.reports.audit import apply_audit, effective_audit
from gameday.reports.chart import MAX_BUCKETS, timeline_svg
from gameday.reports.html import render_html
from gameday.reports.model import Report
from gameday.traffic.stats import TrafficWindow

from .helpers import synthetic_report


def test_self_contained_no_script_no_network(real: Report) -> None:
    html = render_html(real)
    assert "<script" not in html.lower()
    # no external resource of any kind: nothing fetched when an auditor opens it offline
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert "@media print" in html and "@page" in html


def test_header_has_what_an_auditor_needs(real: Report) -> None:
    html = render_html(real, key_fingerprint="SHA256:" + "f" * 64)
    for text in (
        "db-primary-crash",
        "Crash the primary PostgreSQL",
        "sandbox",
        "staging",
        "root@vm",
        "2026-11-23 09:34:59Z",
        "2026-11-23 09:35:45Z",
        "gameday 0.1.0",
        "468dba416b0b025a3084660dbc6a3ad11fed85e65c660d63f2a64dcb0e2bbde5",
        "SHA256:" + "f" * 64,
        "PASSED",
    ):
        assert text in html, text


def test_objectives_table_lists_each_with_measured_and_bound(real: Report) -> None:
    html = render_html(real)
    table = html[
        html.index('id="objectives-table"') : html.index(
            "</table>", html.index('id="objectives-table"')
        )
    ]
    assert table.count('class="objective obj-met"') == 5
    assert "823ms (±543ms)" in table and "≤ 15m" in table


def test_chart_has_probes_traffic_faults_milestones_deadlines(failed: Report) -> None:
    svg = timeline_svg(failed)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'class="fault-band"' in svg
    assert 'class="milestone"' in svg and "recovered" not in svg.split("fault.injected")[0][:0]
    assert 'class="deadline"' in svg and "recovery_time deadline" in svg
    assert 'class="series-success"' in svg and 'class="series-p99"' in svg
    assert 'class="probe-fail"' in svg and 'class="probe-ok"' in svg


def test_deadline_beyond_the_drill_is_named_not_drawn(real: Report) -> None:
    svg = timeline_svg(real)  # 15m objective on a 46 s drill
    assert "deadlines beyond the drill" in svg and "recovery_time at" in svg


def test_failed_drill_shows_reasons_deviations_findings_people(failed: Report) -> None:
    report = apply_audit(failed, approver="CISO Office", participants=["Bo Chen:scribe"])
    html = render_html(report)
    assert "FAILED" in html
    assert ("recovery_time" in html and "over the objective" in html) or "did not recover" in html
    deviations = html[html.index('id="deviation-list"') :]
    assert "recovery_time" in deviations[:3000]
    assert "Bo Chen" in html and "scribe" in html and "CISO Office" in html
    assert "card network" in html and "payment path, both sites" in html
    assert "2025-06-01" in html  # next drill, and due date of derived findings
    assert "declare-incident" in html and ">ana<" in html  # manual step: who
    assert "SuccessRateDrop" in html  # alerts in the evidence appendix
    assert "NIST 800-53 CP-4(c)" in html  # the control each section serves


def test_who_acknowledged_a_step_is_a_participant_with_the_time(failed: Report) -> None:
    report = apply_audit(failed, participants=["Bo Chen:scribe"])
    (step,) = report.manual_steps
    assert step.by == "ana" and step.done_t is not None
    people = effective_audit(report)["participants"]
    when = report.clock().wall(step.done_t).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    assert people == [
        {"name": "Bo Chen", "role": "scribe"},
        {"name": "ana", "role": "acknowledged declare-incident", "at": when},
    ]
    html = render_html(report)
    table = html[html.index('id="participants"') :]
    table = table[: table.index("</table>")]
    assert (
        f'<td>ana</td><td>acknowledged declare-incident</td><td class="mono">{when}</td>' in table
    )
    assert '<td>Bo Chen</td><td>scribe</td><td class="mono"></td>' in table


def test_untrusted_text_is_escaped_and_secrets_stay_out(failed: Report) -> None:
    html = render_html(failed)
    assert "<b>off</b>" not in html and "&lt;b&gt;off&lt;/b&gt;" in html
    assert "hunter2" not in html


def test_24_hour_drill_renders_in_seconds_and_stays_small(tmp_path: Path) -> None:
    base = synthetic_report()
    day = 86_400
    probes = ("pay", "alerts")
    samples = {
        p: [Sample(p, float(t), not (36_000 <= t < 36_300), latency=0.02) for t in range(day)]
        for p in probes
    }
    traffic = [
        TrafficWindow(
            float(t),
            1.0,
            "*",
            100,
            100 if t % 3600 else 90,
            0,
            0,
            0,
            0,
            5.0,
            10.0,
            20.0,
            30.0,
            {},
            10,
            0,
        )
        for t in range(1, day + 1)
    ]
    big = replace(base, samples=samples, traffic=traffic, duration_s=float(day))
    start = time.perf_counter()
    html = render_html(big)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"rendering a 24 h drill took {elapsed:.1f}s"
    assert len(html.encode()) < 3_000_000, len(html)
    # the chart is downsampled, the JSON keeps every sample
    svg = timeline_svg(big)
    assert svg.count('class="series-success"') == 1
    points = svg.split('class="series-success"')[1].split('points="')[1].split('"')[0].split()
    assert len(points) <= MAX_BUCKETS
    assert len(big.to_json()["probes"][0]["samples"]) == day


def test_rendering_is_deterministic(real: Report) -> None:
    assert render_html(real) == render_html(real)


def test_synthetic_report_builds() -> None:
    assert synthetic_report().verdict == "failed"
