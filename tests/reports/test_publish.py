"""Publishing a DrillRecord, the table of report formats, and the one enum of verdicts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from gameday.analysis.verdict import DRILL_VERDICTS, Verdict, worst
from gameday.reports.formats import FORMATS, formats_for
from gameday.reports.model import Report
from gameday.reports.publish import publish
from gameday.reports.render import ENVELOPE, PUBLIC_KEY, REPORT_JSON, SUBJECTS, write_renderings
from gameday.reports.signing import load_public_key, unb64
from gameday.reports.verify import verify_run
from gameday.runners.console import make_view
from gameday.runners.engine import run_drill
from gameday.runners.record import DrillRecord, RunOptions
from gameday.scenarios.loader import load_scenario
from tests.architecture.test_toy_target import SCENARIO
from tests.architecture.toy_target import toy_registered
from tests.core.synth import T0, fault, phases, probe, timeline

from .helpers import scenario, write_journal


def _record(run_dir: Path, options: RunOptions) -> DrillRecord:
    tl = timeline()
    phases(tl, baseline=T0, inject=T0 + 9.0, verify=T0 + 119)
    probe(tl, "pay", 1.0, T0, T0 + 120, fail=[(T0 + 10, T0 + 70)])
    fault(tl, "network-cut-site-a", T0 + 10, T0 + 40)
    path = run_dir.parent / "scenario.yaml"
    path.write_text("name: site-outage\n", encoding="utf-8")
    return DrillRecord(
        scenario=scenario(),
        scenario_path=path,
        scenario_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        run_id="site-outage-1",
        run_dir=run_dir,
        timeline=tl,
        target_type="sandbox",
        target_spec={"dsn": "postgresql://app:hunter2@db/pay", "note": "hunter2"},
        operator="ana@laptop",
        ended=T0 + 120,
        plans={"network-cut-site-a": {"undo": "hunter2"}},
        aborted=None,
        error=None,
        budget_warnings=[],
        redact=lambda text: text.replace("hunter2", "***"),
        options=options,
    )


def test_the_table_names_every_format_and_each_file_is_signed() -> None:
    assert list(FORMATS) == ["html", "markdown", "junit"]
    assert formats_for(ci=True) == set(FORMATS)
    assert formats_for(ci=False) == {"html"}
    assert {f.file for f in FORMATS.values()} <= set(SUBJECTS)


def test_write_renderings_writes_the_table_files_asked_for(
    failed_run: Path, failed: Report
) -> None:
    written = write_renderings(failed, failed_run, formats={"junit"}, sign_key=None)
    assert [p.name for p in written] == ["chain.json", "report.html", "junit.xml"]
    with pytest.raises(ValueError, match="pdf"):
        write_renderings(failed, failed_run, formats={"pdf"}, sign_key=None)


def test_publish_writes_a_redacted_report_its_renderings_and_signature(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    write_journal(run, tmp_path / "index")  # closed by the drill's teardown, before publish
    options = RunOptions(ci=True, sign_key=keypair[0], approver="Head of SRE")
    done = publish(_record(run, options))
    assert (done.verdict, done.exit_code, done.run_dir) == (Verdict.FAILED, 1, run)
    assert done.reason == done.report.reason and "recovery_time" in done.reason
    assert [p.name for p in done.written] == [
        "chain.json",
        *(f.file for f in FORMATS.values()),
        ENVELOPE,
        PUBLIC_KEY,
    ]
    text = (run / REPORT_JSON).read_text(encoding="utf-8")
    assert "hunter2" not in text and json.loads(text)["audit"]["approver"] == "Head of SRE"
    assert verify_run(run, load_public_key(keypair[1])).ok
    envelope = json.loads((run / ENVELOPE).read_text(encoding="utf-8"))
    signed = {s["name"] for s in json.loads(unb64(envelope["payload"]))["subject"]}
    assert signed == {p.name for p in run.iterdir()} - {ENVELOPE}
    assert {"journal.jsonl", PUBLIC_KEY, "scenario.yaml"} <= signed


def test_publish_outside_ci_writes_html_only(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    done = publish(_record(run, RunOptions()))
    assert [p.name for p in done.written] == ["chain.json", "report.html"]


def test_one_enum_for_verdicts_and_exit_codes(failed: Report) -> None:
    assert [(v.value, v.exit_code) for v in Verdict] == [
        ("passed", 0),
        ("failed", 1),
        ("invalid", 2),
        ("aborted", 3),
        ("error", 4),
    ]
    assert all(Verdict.of_exit_code(v.exit_code) is v for v in Verdict)
    assert worst([]) is Verdict.PASSED
    assert worst([Verdict.ERROR, Verdict.FAILED, Verdict.ABORTED]) is Verdict.ERROR
    assert Verdict.INVALID not in DRILL_VERDICTS
    # a report takes the word and holds the enum; a command's `invalid` is no drill's verdict
    assert replace(failed, verdict="aborted").verdict is Verdict.ABORTED
    with pytest.raises(ValueError):
        replace(failed, verdict="invalid")


toy = pytest.fixture(toy_registered, name="toy")


@pytest.mark.slow
def test_a_real_drill_signed_at_publish_covers_its_whole_directory(
    toy: None, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    path = tmp_path / "toy.yaml"
    path.write_text(SCENARIO.format(recovery="30s", duration="    duration: 1s"), "utf-8")
    options = RunOptions(
        ci=True,
        report_root=tmp_path / "reports",
        sign_key=keypair[0],
        install_signal_handlers=False,
    )
    done = publish(run_drill(load_scenario(path), path, options, make_view(True)))
    result = verify_run(done.run_dir, load_public_key(keypair[1]))
    assert result.ok, result.problems
    on_disk = {p.relative_to(done.run_dir).as_posix() for p in done.run_dir.rglob("*")}
    assert f"every file in the directory is signed ({len(on_disk) - 1})" in result.notes
    assert "journal.jsonl sha256" in " ".join(result.notes)
