"""Start-up and reports: `gameday --help`, `validate` of 100 scenarios, a 24-hour drill's report.

Every CLI figure is a fresh process, as a user runs it (the `gameday` console script of this
interpreter's environment). The 24-hour report is built from a synthetic timeline shaped like
a real drill's: 12 probes sampled every second for 86,400 s (≈ 1 M samples; the HTTP ones
carry Server-Timing hops and X-Served-By like the sandbox's), one traffic window per second,
a database crash ten hours in that the probes see for two minutes, an alert, a recovery.
"""

from __future__ import annotations

import copy
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from bench.common import REPO, Context, Result, ms, scratch, secs, summary

HELP_SLOW_S = 0.3  # above this, --help's import time is broken down


@dataclass
class Timed:
    """One process run: wall seconds, peak RSS, exit code and output."""

    seconds: float
    max_rss: int  # bytes
    returncode: int
    output: str


def _cli() -> list[str]:
    """argv prefix of the console script users type, or `python -m gameday.cli` without one."""
    script = Path(sys.executable).parent / "gameday"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gameday.cli"]


def _timed(argv: Sequence[str], cwd: Path = REPO, env: dict[str, str] | None = None) -> Timed:
    """Run a process to completion; wall time around fork+exec+exit, and its own peak RSS."""
    with scratch("out") as tmp, (tmp / "out").open("w+", encoding="utf-8") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        # wait4: the child's own rusage (RUSAGE_CHILDREN would be the max over all of them)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return Timed(seconds, usage.ru_maxrss * 1024, proc.returncode, out.read())


def _repeat(n: int, argv: Sequence[str], cwd: Path = REPO) -> list[Timed]:
    runs = [_timed(argv, cwd) for _ in range(n)]
    bad = [r for r in runs if r.returncode != 0]
    if bad:
        raise RuntimeError(f"{' '.join(argv[:4])} … exited {bad[0].returncode}:\n{bad[0].output}")
    return runs


def import_offenders(argv: Sequence[str], top: int = 8, runs: int = 3) -> list[tuple[str, float]]:
    """Top-level imports by cumulative time (s), median of `python -X importtime` runs."""
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, cwd=REPO
        )
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, name = line.split("|", 2)
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            if depth == 0:  # imported by the program itself, not by another module
                times.setdefault(name.strip(), []).append(int(cumulative) / 1e6)
    found = [(name, statistics.median(values)) for name, values in times.items()]
    return sorted(found, key=lambda x: -x[1])[:top]


def _offender_text(offenders: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in offenders)


# ------------------------------------------------------------------------------ --help


def bench_help(ctx: Context, result: Result) -> None:
    n = ctx.runs(10, 3)
    python = _repeat(n, [sys.executable, "-c", "pass"])
    helps = _repeat(n, [*_cli(), "--help"])
    py, hp = summary([r.seconds for r in python]), summary([r.seconds for r in helps])
    result.rows.append(_row("python -c pass", py, python))
    result.rows.append(_row("gameday --help", hp, helps))
    offenders = import_offenders(["-m", "gameday.cli", "--help"])
    result.raw["help"] = {"python": [r.seconds for r in python], "help": [r.seconds for r in helps]}
    result.raw["help_imports"] = offenders
    if hp["median"] > HELP_SLOW_S:
        result.notes.append(f"--help is slow; top imports: {_offender_text(offenders)}")


def _row(label: str, s: dict[str, float], runs: Sequence[Timed], per: str = "") -> dict[str, Any]:
    return {
        "": label,
        "n": int(s["n"]),
        "median": secs(s["median"]) if s["median"] >= 1 else ms(s["median"]),
        "min": ms(s["min"]),
        "max": ms(s["max"]),
        "per file": per,
        "peak RSS": f"{statistics.median(r.max_rss for r in runs) / 2**20:.0f} MiB" if runs else "",
    }


# ------------------------------------------------------------------------------ validate


def library() -> list[dict[str, Any]]:
    """The library's scenarios (suites left out: they name other files)."""
    docs = []
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if data.get("kind") == "Scenario":
            docs.append(data)
    return docs


def variant(base: dict[str, Any], i: int) -> dict[str, Any]:
    """A distinct, valid scenario: the base with its name, timings and bounds varied."""
    data: dict[str, Any] = copy.deepcopy(base)
    data["name"] = f"{data['name']}-{i:03d}"
    data["description"] = f"{data['description']} (variant {i})"
    data.setdefault("labels", {})["variant"] = str(i)
    data["steady_state"]["stable_for"] = f"{5 + i % 10}s"
    for probe in data["steady_state"]["probes"]:
        probe["every"] = ("100ms", "250ms", "500ms", "1s")[i % 4]
    if "recovery_time" in data.get("objectives", {}):
        data["objectives"]["recovery_time"] = f"{5 + i % 11}m"
    data["faults"][0]["at"] = f"{1 + i % 9}s"
    return data


def write_variants(into: Path, count: int) -> list[Path]:
    """`count` distinct scenario files from the library's, under `into`."""
    bases = library()
    paths = []
    for i in range(count):
        path = into / f"scenario-{i:03d}.yaml"
        path.write_text(yaml.safe_dump(variant(bases[i % len(bases)], i), sort_keys=False))
        paths.append(path)
    return paths


def bench_validate(ctx: Context, result: Result) -> None:
    count = 5 if ctx.smoke else 100
    n = ctx.runs(5, 2)
    with scratch("validate") as tmp:
        paths = [str(p) for p in write_variants(tmp, count)]
        one = _repeat(n, [*_cli(), "validate", paths[0]], cwd=tmp)
        many = _repeat(n, [*_cli(), "validate", *paths], cwd=tmp)
        if many[0].output.count("ok  ") != count:
            raise RuntimeError(f"validate did not accept all {count}:\n{many[0].output[-2000:]}")
        offenders = import_offenders(["-m", "gameday.cli", "validate", paths[0]])
    s1, sn = summary([r.seconds for r in one]), summary([r.seconds for r in many])
    per = (sn["median"] - s1["median"]) / (count - 1)
    result.rows.append(_row("validate 1 scenario", s1, one))
    result.rows.append(_row(f"validate {count} scenarios", sn, many, per=ms(per)))
    result.raw["validate"] = {
        "files": count,
        "one": [r.seconds for r in one],
        "many": [r.seconds for r in many],
        "per_file": per,
        "imports": offenders,
    }
    result.notes.append(
        f"validate: {count} distinct variants of the library's scenarios in one call; per file "
        f"= (t[{count}] - t[1]) / {count - 1}; a call's own start-up ≈ "
        f"{ms(s1['median'] - per)}"
    )
    if s1["median"] > HELP_SLOW_S:
        result.notes.append(f"validate start-up, top imports: {_offender_text(offenders)}")


# ------------------------------------------------------------------------------ 24 h report

HTTP_PROBES = ("pay", "balance", "checkout", "refund", "login", "search", "cart", "health")
SQL_PROBES = ("writer", "reader")
T0 = 5000.0  # monotonic start of the synthetic drill
INJECT_AT, OUTAGE_S = 36_000.0, 120.0  # ten hours in, two minutes down


def drill_scenario() -> Any:
    """The scenario the synthetic drill ran: 10 steady probes, 2 evidence probes, one crash."""
    from gameday.scenarios.model import Scenario

    def http(name: str) -> dict[str, Any]:
        return {"name": name, "type": "http", "url": f"http://gw/{name}", "every": "1s"}

    def sql(name: str) -> dict[str, Any]:
        return {"name": name, "type": "sql", "dsn": "host=db dbname=pay", "every": "1s"}

    return Scenario.model_validate(
        {
            "apiVersion": "gameday/v1",
            "kind": "Scenario",
            "name": "soak-24h",
            "description": "A day of sampling with one database crash ten hours in.",
            "target": {"type": "sandbox"},
            "objectives": {
                "recovery_time": "15m",
                "failover_time": "2m",
                "detection_time": "5m",
                "availability": "99%",
            },
            "traffic": {"users": 10},
            "steady_state": {
                "stable_for": "10s",
                "probes": [*map(http, HTTP_PROBES), *map(sql, SQL_PROBES)],
            },
            "evidence": [
                {"name": "ledger", "type": "ledger", "dsn": "host=db dbname=pay", "every": "1s"},
                {"name": "alerts", "type": "alert"},
            ],
            "faults": [{"action": "crash", "service": "db-primary", "at": "10h"}],
            "guardrails": {"max_duration": "25h"},
        }
    )


def drill_timeline(seconds: int) -> Any:
    """A drill of `seconds` with 12 probes at 1 Hz and a traffic window per second."""
    from gameday.analysis.timeline import (
        ALERT,
        FAULT_INJECTED,
        PHASE,
        Clock,
        ProbeInfo,
        Sample,
        Timeline,
    )
    from gameday.traffic.stats import NameStats, Outcome, TrafficWindow

    inject = min(INJECT_AT, seconds / 2)
    down = (T0 + inject, T0 + inject + min(OUTAGE_S, seconds / 10))
    tl = Timeline(Clock(T0, datetime(2026, 3, 1, 0, 0, tzinfo=UTC)))
    # shared, never mutated: a million samples need not carry a million equal dicts
    hops = {
        site: {"gateway": 0.0121, "upstream": 0.0104, "api": 0.0061, "db": 0.0023} for site in "ab"
    }
    desc = {"a": {"db": "db-primary"}, "b": {"db": "db-standby"}}
    # each aggregate window carries its latency histogram, as a real drill's does
    second = NameStats()
    for i in range(100):
        second.add(Outcome.OK, 3.0 + (i * 37 % 100) * 0.28, None)
    hist = dict(second.hist)
    for name in HTTP_PROBES:
        tl.add_probe(ProbeInfo(name, "http", 1.0, "steady"))
    for name in SQL_PROBES:
        tl.add_probe(ProbeInfo(name, "sql", 1.0, "steady"))
    tl.add_probe(ProbeInfo("ledger", "ledger", 1.0, "evidence"))
    tl.add_probe(ProbeInfo("alerts", "alert", 1.0, "evidence"))
    for k in range(seconds):
        base = T0 + k
        failing = down[0] <= base < down[1]
        site = "b" if base >= down[0] else "a"
        for j, name in enumerate(HTTP_PROBES):
            # realistic, distinct sub-millisecond send offsets and latencies
            t = base + j * 0.013 + (k * 7919 + j) % 997 * 1e-6
            lat = 0.008 + ((k * 31 + j * 17) % 200) * 1e-4
            if failing:
                tl.add_sample(Sample(name, t, False, None, None, "connect refused", 1e-4))
            else:
                tl.add_sample(
                    Sample(
                        name, t, True, lat, 200, "", 2e-4, hops[site], f"api-{site}/v1", desc[site]
                    )
                )
        for j, name in enumerate(SQL_PROBES):
            t = base + 0.5 + j * 0.01
            tl.add_sample(Sample(name, t, not failing, None if failing else 0.004, "true"))
        tl.add_sample(Sample("ledger", base + 0.7, not failing, 0.006, k))
        firing = down[0] + 20 <= base < down[1] + 60
        tl.add_sample(Sample("alerts", base + 0.9, not firing, 0.0, int(firing)))
        served = {f"api-{site}/v1": 0 if failing else 100}
        tl.add_traffic(
            TrafficWindow(
                t_mono=base + 1.0,
                window=1.0,
                name="*",
                count=100,
                ok=10 if failing else 100,
                shed=0,
                circuit=0,
                error_5xx=0,
                error_other=90 if failing else 0,
                p50_ms=5.0,
                p95_ms=10.0,
                p99_ms=20.0,
                max_ms=31.0,
                served_by=served,
                users=10,
                hist=hist,
            )
        )
    tl.add_event(T0 + 0.01, PHASE, "preflight")
    tl.add_event(T0 + 0.5, PHASE, "baseline")
    tl.add_event(down[0] - 0.5, PHASE, "inject")
    tl.add_event(down[0], FAULT_INJECTED, "crash-db-primary", apply_s=0.004)
    tl.add_event(down[0] + 20.3, ALERT, "PaymentsFailing", status="firing", labels={"sev": "L3"})
    tl.add_event(down[1] + 60.2, ALERT, "PaymentsFailing", status="resolved")
    tl.add_event(T0 + seconds - 1.0, PHASE, "verify")
    return tl


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def _clock(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _report_once(
    tl: Any, scenario: Any, ended: float, run_dir: Path, steps: dict[str, list[float]]
) -> dict[str, int]:
    """Build, write, read back and render one report, timing each step; the files' sizes."""
    from gameday.reports.html import render_html
    from gameday.reports.junit import render_junit
    from gameday.reports.markdown import render_markdown
    from gameday.reports.model import TargetInfo, build_report
    from gameday.reports.render import REPORT_JSON, dumps_report, read_report

    def step(name: str, fn: Callable[[], Any]) -> Any:
        took, value = _clock(fn)
        steps.setdefault(name, []).append(took)
        return value

    report = step(
        "report: build model",
        lambda: build_report(
            tl,
            scenario,
            run_id="soak-24h-20260301T000000Z-beef",
            target=TargetInfo("sandbox", {}),
            operator="bench@localhost",
            ended=ended,
        ),
    )
    data = step("report: to_json()", report.to_json)
    text = step("report: dumps (json)", partial(dumps_report, data))
    path = run_dir / REPORT_JSON
    step("report: write json", partial(path.write_text, text, encoding="utf-8"))
    del report, data, text  # a 24 h drill's are gigabytes; the read-back needs its own
    _, stored = step("report: read back", lambda: read_report(run_dir))
    outputs = {
        "report.html": step("report: HTML", lambda: render_html(stored)),
        "report.md": step("report: Markdown", lambda: render_markdown(stored)),
        "junit.xml": step("report: JUnit", lambda: render_junit([stored])),
    }
    return {"report.json": path.stat().st_size} | {
        name: len(out.encode()) for name, out in outputs.items()
    }


def bench_report(ctx: Context, result: Result) -> None:
    seconds = 600 if ctx.smoke else 86_400
    n = ctx.runs(3, 1)
    synth, tl = _clock(lambda: drill_timeline(seconds))
    samples = sum(len(v) for v in tl.samples.values())
    scenario = drill_scenario()
    steps: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    cli: list[Timed] = []
    render = ["report", "render", "--format", "html", "--format", "markdown"]
    render += ["--format", "junit"]
    with scratch("report") as tmp:
        for rep in range(n):
            run_dir = tmp / f"run-{rep}"
            run_dir.mkdir()
            sizes = _report_once(tl, scenario, T0 + seconds, run_dir, steps)
            # the CLI re-renders what was just written: start-up, read, render, write
            timed = _timed([*_cli(), *render, str(run_dir)])
            if timed.returncode != 0:
                raise RuntimeError(f"gameday report render failed:\n{timed.output}")
            cli.append(timed)
            sizes["chain.json"] = (run_dir / "chain.json").stat().st_size
    for name, values in steps.items():
        result.rows.append(_row(name, summary(values), []))
    result.rows.append(_row("report render (CLI)", summary([t.seconds for t in cli]), cli))
    result.raw["report"] = {
        "drill_s": seconds,
        "samples": samples,
        "traffic_windows": len(tl.traffic),
        "synthesis_s": synth,
        "steps": steps,
        "cli_render": [t.seconds for t in cli],
        "cli_render_max_rss": [t.max_rss for t in cli],
        "sizes": sizes,
    }
    result.notes.append(
        f"report: a {seconds / 3600:.3g} h drill, {samples:,} samples of 12 probes + "
        f"{len(tl.traffic):,} traffic windows (synthesised in {synth:.1f} s, not timed); "
        "renderings from report.json read back, as `gameday report render` does (CLI: "
        "all three formats and chain.json); sizes: "
        + ", ".join(f"{name} {_size(size)}" for name, size in sizes.items())
    )


def run(ctx: Context) -> list[Result]:
    result = Result(
        name="startup",
        title="Start-up and reports (fresh processes; medians)",
        columns=["", "n", "median", "min", "max", "per file", "peak RSS"],
    )
    bench_help(ctx, result)
    bench_validate(ctx, result)
    bench_report(ctx, result)
    return [result]
