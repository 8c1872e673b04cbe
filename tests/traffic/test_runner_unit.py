"""Unit tests of the engine side that start no process: config, command lines, tailing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.traffic.control import parse_control_line
from gameday.traffic.runner import PLUGIN_PATH, TrafficConfig, TrafficRun, locust_argv
from gameday.traffic.stats import NameStats, Outcome, encode_lines, window_record


def _config(**kw: object) -> TrafficConfig:
    base: dict[str, object] = {
        "host": "http://127.0.0.1:9",
        "users": 5,
        "spawn_rate": 2.0,
        "max_duration_s": 30.5,
        "max_requests": 1000,
    }
    base.update(kw)
    return TrafficConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"users": -1},
        {"spawn_rate": 0.0},
        {"max_duration_s": 0.0},
        {"max_duration_s": float("inf")},
        {"max_requests": 0},
        {"workers": -1},
        {"stop_timeout_s": -1.0},
    ],
)
def test_config_rejects(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _config(**bad)


def test_argv_local_uses_plugin_builtin_profile_and_bounds() -> None:
    argv = locust_argv(_config(), "local", None, python="py")
    assert argv[:3] == ["py", "-m", "locust"]
    plugin, locustfile = argv[argv.index("-f") + 1].split(",")
    assert plugin == str(PLUGIN_PATH) and locustfile.endswith("profiles/payments.py")
    assert "--headless" in argv and "--only-summary" in argv
    assert argv[argv.index("--run-time") + 1] == "31s"
    assert argv[argv.index("--host") + 1] == "http://127.0.0.1:9"
    assert "--master" not in argv and "--worker" not in argv


def test_argv_master_and_worker(tmp_path: Path) -> None:
    mine = tmp_path / "mine.py"
    cfg = _config(workers=3, locustfile=mine, user_classes=("Shopper",))
    master = locust_argv(cfg, "master", 5599)
    assert master[master.index("-f") + 1].endswith(f",{mine}")
    assert master[master.index("--expect-workers") + 1] == "3"
    assert master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    assert master[master.index("--master-bind-port") + 1] == "5599"
    assert master[-1] == "Shopper"
    worker = locust_argv(cfg, "worker-2", 5599)
    assert "--worker" in worker and "--headless" not in worker
    assert worker[worker.index("--master-host") + 1] == "127.0.0.1"


def test_read_new_tails_whole_lines_only(tmp_path: Path) -> None:
    run = TrafficRun(_config(), tmp_path)
    stats = NameStats()
    stats.add(Outcome.OK, 3.0, None)
    line1 = encode_lines([window_record(10.0, 1.0, "pay", stats, 1)])
    line2 = encode_lines([window_record(11.0, 1.0, "pay", stats, 1)])
    run.stats_path.write_text('{"event":"started","t_mono":9.5}\n' + line1 + line2[:20])
    first = run.read_new()
    assert [w.t_mono for w in first] == [10.0]
    assert [e.event for e in run.events] == ["started"]
    with run.stats_path.open("a") as fh:
        fh.write(line2[20:] + "garbage\n")
    assert [w.t_mono for w in run.read_new()] == [11.0]
    assert run.bad_lines == ["garbage"]
    assert run.read_new() == []


def test_control_writes(tmp_path: Path) -> None:
    run = TrafficRun(_config(users=10), tmp_path)
    run.set_users(4, 2.0)
    steps = run.surge(3.0, ramp_s=2.0, hold_s=5.0, start_at=100.0)
    run.request_stop()
    lines = [parse_control_line(x) for x in run.control_path.read_text().splitlines()]
    assert [(e.users, e.spawn_rate, e.at) for e in lines[:3]] == [
        (4, 2.0, None),
        (12, 4.0, 100.0),
        (4, 4.0, 107.0),
    ]
    assert lines[1:3] == steps and lines[3].stop
    run.stop()  # never started: a no-op
