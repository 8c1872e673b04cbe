"""Traffic overhead: requests/s through gameday's Locust integration vs bare `locust --headless`.

Both sides run the same locustfile (`bench/locustfiles/no_wait.py`: closed-loop users with no
wait time, so Locust's own CPU sets the pace and any per-request cost of gameday's plugin
shows) against the same target, in the same run:

* bare: ``python -m locust -f no_wait.py --headless -u N -r R -t T --host URL --only-summary``;
* gameday: `TrafficRun(TrafficConfig(locustfile=no_wait.py, ...))`, i.e. Locust with gameday's
  plugin (per-request classification and per-second windows, the control-file load shape).

The target is a minimal keep-alive HTTP server in its own process pinned to one core; Locust
is pinned to the other, so both sides get the same CPU and the server is never the
bottleneck (its CPU use is reported). Requests are counted by the server, the same way for
both sides: a run's window starts `warmup` seconds after the server saw its first request
(so Locust's start-up, the spawn ramp and every user's first connection are discarded) and
lasts `measure` seconds; RPS = requests answered in the window / window length, both read
from the server at the window's ends. Each tool's own count over the whole run is checked
against the server's.

Table 1 (the issue's figure): the sides run alone, in pairs alternating bare/gameday and
gameday/bare (ABBA, so a drift in the machine's load favours neither). Table 2: both sides
at once on the same core, each against its own server; the scheduler shares the core
between them, so a busy machine slows both alike and their ratio stays meaningful.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import REPO, Context, Result, scratch
from bench.localserver import Server, serve
from gameday.traffic.runner import TrafficConfig, TrafficRun, summarize
from gameday.traffic.stats import TrafficWindow

LOCUSTFILE = REPO / "bench" / "locustfiles" / "no_wait.py"
PAYMENTS = REPO / "gameday" / "traffic" / "profiles" / "payments.py"
USERS = 10
SPAWN_RATE = 100.0  # all users within 0.1 s: the ramp is well inside the warm-up
TARGET_RATIO = 0.95
START_TIMEOUT_S = 30.0  # Locust's start-up (imports) on a loaded machine
STOP_TIMEOUT_S = 10.0
TITLE = "Traffic overhead: requests/s through gameday's Locust integration vs bare locust"
TITLE_TOGETHER = "Traffic overhead, side by side: both at once on one core"


@dataclass(frozen=True)
class Case:
    """One row: a locustfile and the User class to run from it."""

    label: str
    locustfile: Path
    user_class: str
    users: int = USERS


CASES = (
    Case("no wait, HttpUser", LOCUSTFILE, "NoWaitHttpUser"),
    Case("no wait, FastHttpUser", LOCUSTFILE, "NoWaitFastHttpUser"),
    # the built-in profile as shipped: its wait time, not Locust's CPU, sets the rate
    Case("payments profile (waits 50–200 ms)", PAYMENTS, "PaymentUser"),
)


@dataclass
class Sample:
    """One run of one side, as the server and the process saw it."""

    side: str  # bare or gameday
    rps: float  # server-counted requests in the window / window length
    requests: int  # server-counted requests in the window
    window_s: float
    locust_cpu: float  # Locust's CPU time / window length (1.0 = one core busy)
    server_cpu: float
    server_total: int  # requests the server answered over the whole run
    own_total: int | None  # the tool's own count over the whole run
    own_rps: float | None = None  # gameday only: its per-second windows inside the window

    @property
    def per_cpu(self) -> float:
        """Requests per second of Locust CPU: unlike req/s, not lowered by a shared core."""
        return self.rps / self.locust_cpu if self.locust_cpu > 0 else math.nan


# --------------------------------------------------------------------------- processes


@contextlib.contextmanager
def _pinned(cpu: int | None) -> Iterator[None]:
    """Pin this thread to `cpu` for the block, so the processes it starts inherit it."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _locust_env() -> dict[str, str]:
    # as TrafficRun does: LOCUST_* variables would change the run's options
    return {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}


@contextlib.contextmanager
def _bare(
    case: Case, host: str, run_dir: Path, limit_s: float, cpu: int | None
) -> Iterator[subprocess.Popen[bytes]]:
    """Bare Locust running `case`; always stopped afterwards (SIGTERM, then SIGKILL)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(case.locustfile),
        "--headless",
        "--users",
        str(case.users),
        "--spawn-rate",
        str(SPAWN_RATE),
        "--run-time",
        f"{math.ceil(limit_s)}s",
        "--host",
        host,
        "--only-summary",
        # the same options gameday passes, so the two sides differ only by the plugin
        "--loglevel",
        "INFO",
        "--stop-timeout",
        "2",
        "--exit-code-on-error",
        "0",
        "--json-file",
        str(run_dir / "stats"),
        case.user_class,
    ]
    with open(run_dir / "locust.log", "ab") as log, _pinned(cpu):
        proc = subprocess.Popen(
            argv,
            cwd=run_dir,  # as TrafficRun: no locust.conf or pyproject.toml of ours is read
            env=_locust_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        finally:
            # also reached on a second Ctrl-C during the graceful wait
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _bare_total(run_dir: Path) -> int | None:
    """Requests bare Locust counted over its run (its --json-file), if it wrote one."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        entries = json.loads((run_dir / "stats.json").read_text())
        return sum(int(e["num_requests"]) for e in entries)
    return None


def _own_rps(windows: list[TrafficWindow], t0: float, t1: float) -> float | None:
    """Requests/s from gameday's full per-second windows lying inside [t0, t1]."""
    inside = [
        w
        for w in windows
        if w.is_aggregate and w.window == 1.0 and w.t_start >= t0 and w.t_mono <= t1
    ]
    seconds = sum(w.window for w in inside)
    return sum(w.count for w in inside) / seconds if seconds else None


# --------------------------------------------------------------------------- one run


# --------------------------------------------------------------------------- runs


@dataclass
class _Running:
    """One side's Locust while it runs; its own count once it stopped."""

    side: str
    server: Server
    pid: int
    alive: Callable[[], bool]
    before: int  # the server's count before this Locust started
    own_total: int | None = None
    windows: list[TrafficWindow] = field(default_factory=list)


@contextlib.contextmanager
def _launch(
    side: str,
    case: Case,
    server: Server,
    run_dir: Path,
    sizes: tuple[float, float],
    cpu: int | None,
) -> Iterator[_Running]:
    """Start one side's Locust (pinned to `cpu`); always stopped when the block ends."""
    # a bound on the whole run, not its expected length: the benchmark stops it after measuring
    limit_s = START_TIMEOUT_S + sum(sizes) + 10
    before, _ = server.count()
    if side == "bare":
        with _bare(case, server.url, run_dir, limit_s, cpu) as proc:
            running = _Running(side, server, proc.pid, lambda: proc.poll() is None, before)
            yield running
        running.own_total = _bare_total(run_dir)
        return
    config = TrafficConfig(
        host=server.url,
        users=case.users,
        spawn_rate=SPAWN_RATE,
        max_duration_s=limit_s,
        max_requests=int(limit_s * 100_000),  # far above what one core can send
        locustfile=case.locustfile,
        user_classes=(case.user_class,),
    )
    traffic = TrafficRun(config, run_dir)
    try:
        with _pinned(cpu):
            traffic.start(timeout=START_TIMEOUT_S)
        running = _Running(side, server, traffic.pids()["local"], traffic.running, before)
        yield running
    finally:
        traffic.stop(timeout=STOP_TIMEOUT_S)
    running.windows = traffic.read_new()
    running.own_total = summarize(running.windows)["count"]


def _wait_first_request(r: _Running) -> None:
    give_up = time.monotonic() + START_TIMEOUT_S
    while r.server.count()[0] <= r.before:
        if not r.alive():
            raise RuntimeError(f"{r.side} Locust exited before sending a request")
        if time.monotonic() > give_up:
            raise RuntimeError(f"no request reached the server in {START_TIMEOUT_S:.0f} s")
        time.sleep(0.05)


def _measure(runs: list[_Running], sizes: tuple[float, float]) -> list[dict[str, float]]:
    """Counts and CPU use over one window, the same for every Locust in `runs`."""
    warmup, measure = sizes
    for r in runs:
        _wait_first_request(r)
    time.sleep(warmup)
    start = [(*r.server.count(), _cpu_seconds(r.pid), _cpu_seconds(r.server.pid)) for r in runs]
    time.sleep(measure)
    end = [(*r.server.count(), _cpu_seconds(r.pid), _cpu_seconds(r.server.pid)) for r in runs]
    for r in runs:
        if not r.alive():
            raise RuntimeError(f"{r.side} Locust stopped before the window ended")
    out = []
    for (c0, t0, cpu0, srv0), (c1, t1, cpu1, srv1) in zip(start, end, strict=True):
        seconds = t1 - t0
        out.append(
            {
                "requests": c1 - c0,
                "t0": t0,
                "t1": t1,
                "locust_cpu": (cpu1 - cpu0) / seconds,
                "server_cpu": (srv1 - srv0) / seconds,
            }
        )
    return out


def _sample(r: _Running, w: dict[str, float]) -> Sample:
    seconds = w["t1"] - w["t0"]
    return Sample(
        side=r.side,
        rps=w["requests"] / seconds,
        requests=int(w["requests"]),
        window_s=seconds,
        locust_cpu=w["locust_cpu"],
        server_cpu=w["server_cpu"],
        server_total=r.server.count()[0] - r.before,
        own_total=r.own_total,
        own_rps=_own_rps(r.windows, w["t0"], w["t1"]) if r.side == "gameday" else None,
    )


def _alone(
    side: str,
    case: Case,
    server: Server,
    run_dir: Path,
    sizes: tuple[float, float],
    cpu: int | None,
) -> Sample:
    """One side alone on Locust's core."""
    with _launch(side, case, server, run_dir, sizes, cpu) as r:
        (w,) = _measure([r], sizes)
    return _sample(r, w)


def _together(
    case: Case,
    servers: tuple[Server, Server],
    run_dir: Path,
    sizes: tuple[float, float],
    cpu: int | None,
) -> tuple[Sample, Sample]:
    """Both sides at once on Locust's one core, each against its own server."""
    with contextlib.ExitStack() as stack:
        runs = [
            stack.enter_context(_launch(side, case, server, run_dir / side, sizes, cpu))
            for side, server in zip(("bare", "gameday"), servers, strict=True)
        ]
        windows = _measure(runs, sizes)
    bare, gameday = (_sample(r, w) for r, w in zip(runs, windows, strict=True))
    return bare, gameday


# --------------------------------------------------------------------------- the benchmark


def _cpus() -> tuple[int | None, int | None]:
    """(Locust's core, the server's core), or no pinning on a one-core machine."""
    cores = sorted(os.sched_getaffinity(0))
    return (cores[0], cores[1]) if len(cores) >= 2 else (None, None)


def _figures(pairs: list[tuple[Sample, Sample]]) -> dict[str, float]:
    """A row's figures: medians of each side, their ratio, the per-pair ratios' range."""
    bare = statistics.median(b.rps for b, _ in pairs)
    gd = statistics.median(g.rps for _, g in pairs)
    ratios = [g.rps / b.rps for b, g in pairs]
    return {
        "bare_rps": bare,
        "gameday_rps": gd,
        "ratio": gd / bare,
        "pair_ratio_min": min(ratios),
        "pair_ratio_max": max(ratios),
        "ratio_per_cpu_s": statistics.median(g.per_cpu for _, g in pairs)
        / statistics.median(b.per_cpu for b, _ in pairs),
        "locust_cpu": statistics.median(s.locust_cpu for p in pairs for s in p),
    }


def _row(label: str, f: dict[str, float]) -> dict[str, Any]:
    below = "" if f["ratio"] >= TARGET_RATIO else f" (< {TARGET_RATIO})"
    return {
        "": label,
        "bare req/s": f"{f['bare_rps']:,.0f}",
        "gameday req/s": f"{f['gameday_rps']:,.0f}",
        "ratio": f"{f['ratio']:.3f}{below}",
        "pair ratios": f"{f['pair_ratio_min']:.3f}–{f['pair_ratio_max']:.3f}",
        "per CPU-s": f"{f['ratio_per_cpu_s']:.3f}",
        "locust CPU": f"{f['locust_cpu']:.0%}",
    }


def _check_counts(case: Case, i: int, samples: tuple[Sample, ...], out: list[str]) -> None:
    for s in samples:
        # bare Locust's SIGTERM path drops requests still in flight: up to one per user
        slack = 0 if s.side == "gameday" else case.users
        if s.own_total is None or abs(s.own_total - s.server_total) > slack:
            out.append(
                f"{case.label}, run {i + 1}, {s.side}: Locust counted {s.own_total},"
                f" the server {s.server_total}"
            )


COLUMNS = ["", "bare req/s", "gameday req/s", "ratio", "pair ratios", "per CPU-s", "locust CPU"]


def run(ctx: Context) -> list[Result]:
    """Bare vs gameday Locust on each case: alternating runs, then side by side."""
    n_pairs = ctx.runs(5, 1)
    sizes = (1.0, 2.0) if ctx.smoke else (2.0, 8.0)  # (warm-up, measured) seconds per run
    # smoke: each mode and each client once, in three short runs
    cases = CASES[:1] if ctx.smoke else CASES
    cases_together = CASES[1:2] if ctx.smoke else CASES[:2]
    locust_cpu, server_cpu = _cpus()
    alone = Result("traffic", TITLE, COLUMNS)
    together = Result("traffic_side_by_side", TITLE_TOGETHER, COLUMNS)
    for result in (alone, together):
        result.raw.update(
            spawn_rate=SPAWN_RATE,
            warmup_s=sizes[0],
            measure_s=sizes[1],
            locust_core=locust_cpu,
            server_core=server_cpu,
            cases={},
        )
    samples: list[Sample] = []
    mismatches: list[str] = []
    with (
        scratch("traffic") as tmp,
        serve(server_cpu) as server,
        serve(server_cpu) as second,
        _pinned(server_cpu),  # this process mostly sleeps, but it too stays off Locust's core
    ):
        for case in cases:
            pairs: list[tuple[Sample, Sample]] = []
            for i in range(n_pairs):
                # ABBA: a drift in the machine's load does not favour one side
                order = ("bare", "gameday") if i % 2 == 0 else ("gameday", "bare")
                got = {
                    side: _alone(
                        side, case, server, tmp / f"{case.user_class}-{i}-{side}", sizes, locust_cpu
                    )
                    for side in order
                }
                pairs.append((got["bare"], got["gameday"]))
                _check_counts(case, i, pairs[-1], mismatches)
            _add(alone, case, pairs)
            samples += [s for p in pairs for s in p]
        for case in cases_together:  # the no-wait cases only, where CPU sets the rate
            pairs = []
            for i in range(n_pairs):
                pairs.append(
                    _together(
                        case,
                        (server, second),
                        tmp / f"{case.user_class}-{i}-both",
                        sizes,
                        locust_cpu,
                    )
                )
                _check_counts(case, i, pairs[-1], mismatches)
            _add(together, case, pairs)
            samples += [s for p in pairs for s in p]
    server_max = max(s.server_cpu for s in samples)
    alone.notes = [
        f"Per run: {sizes[0]:g} s warm-up from the server's first request (discards the spawn "
        f"ramp, at {SPAWN_RATE:g} users/s, and start-up), then {sizes[1]:g} s measured; requests "
        f"counted by the server. {n_pairs} pair{'s' * (n_pairs != 1)} per row, alternating "
        "bare/gameday and gameday/bare.",
        f"ratio: median gameday req/s / median bare req/s (target ≥ {TARGET_RATIO}); pair "
        "ratios: min–max of gameday/bare within a pair; per CPU-s: the ratio of medians of "
        "requests per second of Locust CPU time (for the payments row, whose waits set the "
        "rate, the plugin's CPU cost).",
        (
            f"Locust pinned to core {locust_cpu}, the server to core {server_cpu}"
            if locust_cpu is not None
            else "One core: nothing pinned"
        )
        + f" (server CPU use at most {server_max:.0%}"
        + (", never the bottleneck" if server_max < 0.5 else ": it may have been a bottleneck")
        + "); locust CPU near 100 % means Locust sets the rate, as intended for the no-wait "
        "rows; well under 100 %, other processes shared its core and req/s is noisy.",
        "Each tool's own count over each whole run "
        + (
            "matches the server's (gameday exactly; bare within one request per user)."
            if not mismatches
            else "should match the server's, but:"
        ),
        *mismatches,
    ]
    together.notes = [
        f"Both sides at once, pinned to the same core, each against its own server; {n_pairs} "
        f"run{'s' * (n_pairs != 1)} per row, each measured as above. The scheduler gives each half the core, so "
        "their req/s ratio is their cost-per-request ratio, and anything else running on the "
        "machine slows both alike: the cross-check of the table above on a busy machine.",
    ]
    return [alone, together]


def _add(result: Result, case: Case, pairs: list[tuple[Sample, Sample]]) -> None:
    figures = _figures(pairs)
    result.rows.append(_row(f"{case.label}, {case.users} users", figures))
    result.raw["cases"][case.label] = {
        **figures,
        "runs": [
            {"bare": asdict(b), "gameday": asdict(g), "ratio": g.rps / b.rps} for b, g in pairs
        ],
    }
