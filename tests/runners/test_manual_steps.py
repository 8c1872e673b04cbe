"""Manual steps keep their numbers, and an acknowledgement of a step the drill lacks is refused.

`gameday ack` and the live view resolve what a person typed against the steps the running
drill published; a typo is refused (exit 2, the pending steps listed, a "did you mean") and
writes nothing, so the drill never takes it for done.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gameday.cli import main
from gameday.reports.publish import publish
from gameday.runners.console import PlainView
from gameday.runners.engine import run_drill
from gameday.runners.manual import (
    ACKS_FILE,
    STEPS_FILE,
    AckInbox,
    ManualSteps,
    UnknownStep,
    acknowledge_in,
    resolve_step,
    typed_ack,
)
from gameday.runners.record import RunOptions
from gameday.runners.status import _step_countdowns
from gameday.scenarios.loader import load_scenario
from gameday.scenarios.model import ManualStep

from ..architecture.toy_target import toy_registered

toy = pytest.fixture(toy_registered, name="toy")

STEPS = [
    ManualStep(name="declare-incident", deadline="1m", owner="on-call"),
    ManualStep(name="emergency-call", deadline="5m"),
    ManualStep(name="notify-support", deadline="10m", owner="support"),
]


def published_dir(tmp_path: Path) -> tuple[ManualSteps, AckInbox]:
    steps = ManualSteps(STEPS)
    inbox = AckInbox(tmp_path, steps)
    inbox.read_new()  # publishes the steps
    return steps, inbox


def test_steps_keep_their_numbers_after_an_acknowledgement() -> None:
    steps = ManualSteps(STEPS)
    steps.acknowledge("declare-incident", "ana", 5.0)
    # numbered by place, not among the pending: "type 2" still means emergency-call (the
    # old numbering shifted after an ack, and 2 then meant notify-support)
    assert [steps.by_number(n) for n in (1, 2, 3, 4)] == [
        "declare-incident",
        "emergency-call",
        "notify-support",
        None,
    ]
    assert [(s.number, s.name, s.done) for s in steps.published()] == [
        (1, "declare-incident", True),
        (2, "emergency-call", False),
        (3, "notify-support", False),
    ]


def test_the_live_view_shows_each_steps_own_number() -> None:
    steps = ManualSteps(STEPS)
    steps.acknowledge("declare-incident", "ana", 5.0)
    drill = SimpleNamespace(t_inj=0.0, manual=steps)  # what the countdowns read of a drill
    countdowns = _step_countdowns(drill, 5.0)  # type: ignore[arg-type]
    assert [(c.number, c.name) for c in countdowns] == [
        (2, "emergency-call"),
        (3, "notify-support"),
    ]


def test_an_unknown_step_names_the_pending_ones_with_a_suggestion() -> None:
    steps = ManualSteps(STEPS)
    steps.acknowledge("declare-incident", "ana", 5.0)
    with pytest.raises(UnknownStep) as caught:
        resolve_step("emergency-plan", steps.published())
    assert str(caught.value) == (
        "no manual step 'emergency-plan'; did you mean 'emergency-call'? "
        "(pending: 2 emergency-call, 3 notify-support)"
    )
    with pytest.raises(UnknownStep, match="no manual step '7'"):
        resolve_step("7", steps.published())
    assert resolve_step("3", steps.published()).name == "notify-support"
    assert resolve_step(" emergency-call ", steps.published()).number == 2


def test_ack_of_an_unknown_step_changes_nothing(tmp_path: Path) -> None:
    steps, inbox = published_dir(tmp_path)
    with pytest.raises(UnknownStep, match="did you mean 'emergency-call'"):
        acknowledge_in(tmp_path, "emergency-plan", "bo")
    assert not (tmp_path / ACKS_FILE).exists() and inbox.read_new() == []
    assert len(steps.pending()) == 3


def test_ack_by_name_or_number_reaches_the_drill_and_is_published(tmp_path: Path) -> None:
    steps, inbox = published_dir(tmp_path)
    assert acknowledge_in(tmp_path, "2", "bo") == "acknowledged manual step 2 emergency-call"
    (ack,) = inbox.read_new()
    assert (ack.step, ack.by) == ("emergency-call", "bo")
    steps.acknowledge(ack.step, ack.by, 9.0)
    inbox.read_new()  # the drill's next poll publishes the change
    published = json.loads((tmp_path / STEPS_FILE).read_text())["steps"]
    assert published[1] == {
        "number": 2,
        "name": "emergency-call",
        "owner": None,
        "done": True,
        "by": "bo",
    }
    assert acknowledge_in(tmp_path, "emergency-call", "cy") == (
        "manual step 2 emergency-call was already done by bo"
    )
    assert inbox.read_new() == []  # nothing appended for a step already done


def test_ack_before_the_drill_published_its_steps_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownStep, match="has not published its manual steps yet"):
        acknowledge_in(tmp_path, "declare-incident")
    assert not (tmp_path / ACKS_FILE).exists()


def test_a_typed_unknown_step_is_answered_not_ignored() -> None:
    steps = ManualSteps(STEPS)
    acked: list[str] = []
    said: list[str] = []
    on_line = typed_ack(steps, lambda name, by: acked.append(name), lambda t, s: said.append(t))
    on_line("emergency-plan")
    on_line("9")
    assert acked == [] and len(said) == 2
    assert "did you mean 'emergency-call'?" in said[0] and said[0].endswith("nothing acknowledged")
    assert "pending: 1 declare-incident, 2 emergency-call, 3 notify-support" in said[1]
    on_line("1")
    steps.acknowledge("declare-incident", "ana", 1.0)
    on_line("3")  # still step 3 after step 1 is done
    assert acked == ["declare-incident", "notify-support"]
    on_line("1")
    assert said[-1] == "manual step 1 declare-incident was already done by ana"


SCENARIO = """\
apiVersion: gameday/v1
kind: Scenario
name: toy-steps
target:
  type: toy
objectives:
  recovery_time: 30s
steady_state:
  stable_for: 500ms
  probes:
    - name: web
      type: http
      url: "{{ target.url }}/"
      every: 100ms
      timeout: 500ms
faults:
  - action: crash
    service: web
    at: 200ms
    duration: 500ms
manual_steps:
  - name: declare-incident
    deadline: 2m
  - name: emergency-call
    deadline: 2m
guardrails:
  max_duration: 3m
"""


@pytest.mark.slow
def test_ack_of_a_running_drill(
    toy: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "home"))
    path = tmp_path / "toy.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    options = RunOptions(report_root=tmp_path / "reports", install_signal_handlers=False)
    records = []
    drill = threading.Thread(
        target=lambda: records.append(run_drill(load_scenario(path), path, options, PlainView()))
    )
    drill.start()
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "reports").glob(f"*/{STEPS_FILE}")):
            assert time.monotonic() < deadline and drill.is_alive(), "the steps never appeared"
            time.sleep(0.1)
        (run_dir,) = (p.parent for p in (tmp_path / "reports").glob(f"*/{STEPS_FILE}"))
        capsys.readouterr()
        # a typo: refused, the pending steps named, nothing written; the drill keeps waiting
        assert main(["ack", "emergency-plan"]) == 2
        err = capsys.readouterr().err
        assert "no manual step 'emergency-plan'; did you mean 'emergency-call'?" in err
        assert "(pending: 1 declare-incident, 2 emergency-call)" in err
        assert "nothing was acknowledged" in err
        assert not (run_dir / ACKS_FILE).exists()
        time.sleep(1.0)
        assert drill.is_alive()
        # by number and by name; who acknowledged is recorded
        assert main(["ack", "--by", "Ana Silva", "2"]) == 0
        assert "acknowledged manual step 2 emergency-call" in capsys.readouterr().out
        assert main(["ack", "--by", "bo", "declare-incident"]) == 0
    finally:
        drill.join(timeout=120)
    assert not drill.is_alive()
    outcome = publish(records[0])
    report = json.loads((outcome.run_dir / "report.json").read_text())
    by = {m["name"]: (m["by"], m["met"]) for m in report["manual_steps"]}
    assert by == {"declare-incident": ("bo", True), "emergency-call": ("Ana Silva", True)}
    # each acknowledger is a participant of the drill, with the time, in the report
    html = (outcome.run_dir / "report.html").read_text()
    people = html[html.index('id="participants"') :]
    people = people[: people.index("</table>")]
    for name, step in (("Ana Silva", "emergency-call"), ("bo", "declare-incident")):
        assert f'<td>{name}</td><td>acknowledged {step}</td><td class="mono">20' in people
