"""What a person sees in the live view, on Rich's recording console at 80x24 and 160x45."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from gameday.analysis.timeline import Sample
from gameday.runners.console import LiveView, PlainView
from gameday.runners.status import Countdown, DrillStatus, FaultInForce, Recovery, Wait
from gameday.scenarios.units import human_duration

T0 = 1000.0  # the drill's t=0 on the monotonic clock, in these synthetic states
EVENTS = 60  # far more events than rows at 80x24 or 160x45


def observing(**overrides: object) -> DrillStatus:
    """Site A cut 10 s into a suite's second scenario: recovering, a step pending."""
    fields: dict[str, object] = dict(
        now=T0 + 50.0,
        elapsed=50.0,
        phase="observe",
        suite=(2, 2),
        first_fault_at=10.0,
        faults=(FaultInForce("network-cut-site-a", 18.3), FaultInForce("crash-db-primary")),
        recovery=Recovery(need_s=10.0, stable_s=6.04, since_fault_s=3.43, impacted=True),
        countdowns=(
            Countdown("objective", "detection_time", 300.0, 260.2, reached=True),
            Countdown("objective", "recovery_time", 900.0, 860.123),
            Countdown("objective", "failover_time", 120.0, -3.25),
            Countdown("step", "declare-incident", 300.0, 41.567, owner="on-call", number=1),
            Countdown("step", "first-response", 600.0, 561.2, owner="payments-lead", number=2),
        ),
        waiting=(Wait("manual step", "declare-incident", 41.567), Wait("steady state", "", 3.96)),
        judged=frozenset({"pay", "api-b"}),
        traffic={"count": 40, "ok": 31, "shed": 2, "error_5xx": 7, "p99_ms": 812.4},
    )
    fields.update(overrides)
    return DrillStatus(**fields)  # type: ignore[arg-type]


def drive(view: LiveView | PlainView, status: DrillStatus, events: int = EVENTS) -> None:
    """The engine's calls for one drill up to `status`: phases, samples, many event lines."""
    view.start("gameday site-outage (site-outage-20250301T120000Z-beef)")
    view.phase("observe", 10.0)
    view.faults_in_force([f.label for f in status.faults])
    view.status(status)
    for k in range(20):
        t = T0 + 30.0 + k * 0.25
        failing = k >= 10
        view.sample(Sample("pay", t, not failing, None if failing else 0.02, detail="HTTP 503"))
        view.sample(Sample("api-b", t, True, 0.011))
        view.sample(Sample("ledger", t, not failing, None if failing else 0.004, detail="refused"))
    for i in range(events):
        view.line(f"event {i:02d} happened", 10.0 + i * 0.5)
    view.status(status)


def frame(width: int, height: int, status: DrillStatus | None = None) -> list[str]:
    """The live view's frame for `status`, as the lines a terminal of that size shows."""
    console = Console(record=True, width=width, height=height, file=io.StringIO())
    view = LiveView(console=console)
    drive(view, status or observing())
    console.print(view.screen())
    return console.export_text().splitlines()


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
def test_the_newest_events_are_seen_the_oldest_dropped(size: tuple[int, int]) -> None:
    lines = frame(*size)
    assert len(lines) < size[1]  # one line spare: a full-height frame would scroll the terminal
    text = "\n".join(lines)
    assert lines[-1].endswith(f"event {EVENTS - 1:02d} happened")  # the newest, at the bottom
    assert "event 00 happened" not in text  # the oldest gave way
    assert all(len(line) <= size[0] for line in lines)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
def test_the_drill_state_is_on_screen(size: tuple[int, int]) -> None:
    text = "\n".join(frame(*size))
    words = " ".join(text.split())  # what a person reads, across the lines it wraps onto
    assert "scenario 2 of 2" in text  # the suite position
    assert "recovered at +3.4 s, confirming 6.0 s of 10 s" in text  # recovery progress
    assert "network-cut-site-a (18 s left)" in words  # a timed fault's time left
    assert "crash-db-primary (until reverted)" in words
    assert "waiting for: manual step declare-incident (due in 42 s): type 1 + Enter" in words
    # each deadline counts down; a passed one says by how much
    rows = {line.split()[0]: line for line in text.splitlines() if line.split()}
    assert "14 m 20 s" in rows["recovery_time"]
    assert "over by 3.2 s" in rows["failover_time"]
    assert "reached" in rows["detection_time"]
    assert "42 s" in rows["#1"] and "declare-incident (on-call)" in rows["#1"]
    assert "9 m 21 s" in rows["#2"]


def test_durations_read_as_people_read_them() -> None:
    text = "\n".join(frame(80, 24))
    # never the millisecond or the raw float: 41.567 s reads 42 s, 6.04 s reads 6.0 s
    for raw in ("41.567", "41.57", "860.123", "6.04", "3.43", "18.3 "):
        assert raw not in text
    assert [human_duration(s) for s in (3.44, 9.96, 41.567, 59.6, 125.2, 3725.0, -3.25)] == [
        "3.4 s",
        "10 s",
        "42 s",
        "1 m 00 s",
        "2 m 05 s",
        "1 h 02 m",
        "-3.2 s",
    ]


def test_evidence_probes_are_not_shown_failing_like_judged_ones() -> None:
    console = Console(record=True, width=160, height=45, file=io.StringIO())
    view = LiveView(console=console)
    drive(view, observing())
    console.print(view.screen())
    styled = console.export_text(styles=True)
    (pay,) = [line for line in styled.splitlines() if " pay " in line]
    (ledger,) = [line for line in styled.splitlines() if " ledger " in line]
    assert "judged" in pay and "FAIL HTTP 503" in pay and "\x1b[1;31m" in pay  # bold red
    row = ledger[ledger.index("evidence") :]  # at 160 columns the deadlines sit on its left
    assert "failing refused" in row and "×" in row
    assert "FAIL" not in row and "31m" not in row  # never red, not even its sparkline


def test_a_short_terminal_gives_up_sparklines_and_traffic_before_events() -> None:
    def many_probes(width: int, height: int) -> list[str]:
        console = Console(record=True, width=width, height=height, file=io.StringIO())
        view = LiveView(console=console)
        drive(view, observing())
        for k in range(5):
            view.sample(Sample(f"extra-{k}", T0 + 40.0, True, 0.005))
        console.print(view.screen())
        return console.export_text().splitlines()

    wide = "\n".join(many_probes(160, 45))
    assert "traffic: 40 req/s" in wide and "recent" in wide and "extra-4" in wide
    short = many_probes(80, 24)
    text = "\n".join(short)
    assert "traffic: 40 req/s" not in text and "recent" not in text
    assert short[-1].endswith(f"event {EVENTS - 1:02d} happened")
    assert sum("happened" in line for line in short) >= 6
    assert "recovery_time" in text and "#2 first-response" in text  # the deadlines stay
    # shorter still: the probes go, the most urgent deadlines stay, and six events
    tiny = frame(80, 18)
    text = "\n".join(tiny)
    assert tiny[-1].endswith(f"event {EVENTS - 1:02d} happened")
    assert sum("happened" in line for line in tiny) >= 6
    assert "over by 3.2 s" in text and "#1 declare-incident" in text and "3 more" in text
    assert "ledger" not in text and "recovery_time" not in text


def test_the_view_drawn_by_rich_live_ends_with_the_newest_event() -> None:
    console = Console(record=True, width=80, height=24, file=io.StringIO(), force_terminal=True)
    view = LiveView(console=console)
    drive(view, observing())
    view.line("steady state holds again; recovery confirmed", 60.0, "green")
    view.faults_in_force([])
    view.stop()
    last = console.export_text().rstrip("\n").splitlines()
    assert last[-1].endswith("steady state holds again; recovery confirmed")
    assert "faults in force: none" in "\n".join(last[-23:])


def test_an_acknowledged_step_leaves_the_screen_at_once() -> None:
    console = Console(record=True, width=80, height=24, file=io.StringIO())
    view = LiveView(console=console)
    drive(view, observing())
    view.pending_steps([("first-response", "payments-lead", 561.2)])  # declare-incident acked
    console.print(view.screen())
    text = console.export_text()
    assert "declare-incident (on-call)" not in text and "#2 first-response" in text


def test_ci_lines_carry_elapsed_times_and_say_what_the_drill_waits_for() -> None:
    out = io.StringIO()
    view = PlainView(console=Console(file=out, width=80, highlight=False, soft_wrap=True))
    drive(view, observing(), events=3)
    # after recovery, only the step is left: the log must say the drill waits for it
    view.status(observing(waiting=(Wait("manual step", "first-response", 561.2),)))
    lines = out.getvalue().splitlines()
    assert lines[0] == "gameday site-outage (site-outage-20250301T120000Z-beef)"
    stamped = [line for line in lines[1:] if line.startswith("[")]
    assert stamped == lines[1:]  # every line after the title starts with its elapsed time
    assert "[00:50.0] scenario 2 of 2 in the suite" in lines
    assert "[00:32.5] probe pay: FAIL (HTTP 503)" in lines  # the sample's own time
    assert "[00:32.5] evidence ledger: failing (evidence, not judged) (refused)" in lines
    assert not any("ledger: FAIL" in line for line in lines)
    waits = [line for line in lines if "waiting for" in line]
    assert waits == [
        "[00:50.0] waiting for: manual step declare-incident (due in 42 s): type 1 + Enter",
        "[00:50.0] waiting for: manual step first-response (due in 9 m 21 s): type 2 + Enter",
    ]
