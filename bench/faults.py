"""Fault latency: how long each fault kind takes to apply and to revert, and `recover` after SIGKILL.

Apply and revert go through the same driver calls the engine makes (`Target.apply` /
`Target.revert`), which return only once the fault is confirmed in force / undone. Between
repetitions the benchmark waits for the target to report healthy again, so every apply
starts from a clean staging. On Docker (when an engine answers) the same faults run against
a locally built staging, like the docker tests do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from bench.common import (
    Context,
    Result,
    docker_stack,
    gameday,
    library,
    run_cli,
    sandbox,
    scratch,
    summary,
    write_scenario,
)
from gameday.scenarios.model import AnyFault, DockerTarget, SandboxTarget
from gameday.targets import Target, UnsupportedFault, make_target

# the faults a drill can put on a staging, aimed where repeating them leaves the writer put
SANDBOX_FAULTS: list[dict[str, Any]] = [
    {"action": "crash", "service": "api-b"},
    {"action": "crash", "service": "db-standby"},
    {"action": "stop", "service": "api-b"},
    {"action": "pause", "service": "api-b"},
    {"action": "network-cut", "service": "api-b", "mode": "blackhole"},
    {"action": "network-cut", "service": "api-b", "mode": "reset"},
    {"action": "partition", "between": [["api-a"], ["db-primary"]]},
    {"action": "latency", "link": "api-a->db-primary", "delay": "100ms"},
    {"action": "gray-release", "service": "api", "version": "v2-faulty"},
]
DOCKER_FAULTS: list[dict[str, Any]] = [
    {"action": "crash", "service": "api-b"},
    {"action": "stop", "service": "api-b"},
    {"action": "pause", "service": "api-b"},
    {"action": "network-cut", "service": "api-b"},
    {"action": "partition", "between": [["api-a"], ["db-primary"]]},
    {"action": "latency", "service": "api-b", "delay": "100ms"},
]
_FAULT = TypeAdapter(AnyFault)


def _label(spec: dict[str, Any]) -> str:
    what = (
        spec.get("service") or spec.get("link") or " | ".join("+".join(s) for s in spec["between"])
    )
    extra = spec.get("mode") or spec.get("delay") or spec.get("version") or ""
    return f"{spec['action']} {what}" + (f" ({extra})" if extra else "")


def _ms(s: dict[str, float]) -> str:
    return f"{s['median'] * 1000:.0f} ms (max {s['max'] * 1000:.0f})"


def _median_ms(values: list[float]) -> str:
    return f"{summary(values)['median'] * 1000:.0f} ms"


def _wait_healthy(target: Target, timeout: float = 60.0) -> float:
    """Seconds until the target reports healthy (raises after `timeout`)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if target.health().ok:
            return time.monotonic() - start
        time.sleep(0.1)
    raise RuntimeError(f"target not healthy {timeout:.0f} s after a revert: {target.health()}")


def time_faults(
    target: Target, faults: list[dict[str, Any]], runs: int, where: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Apply/revert each fault `runs` times; rows for the table and every timing."""
    rows: list[dict[str, Any]] = []
    _wait_healthy(target)
    checks = []
    for _ in range(5):
        t0 = time.monotonic()
        target.health()
        checks.append(time.monotonic() - t0)
    raw: dict[str, Any] = {"health_check": checks}
    for spec in faults:
        fault = _FAULT.validate_python({**spec, "at": "0s"})
        label = _label(spec)
        try:
            plan = target.plan(fault)
        except UnsupportedFault as exc:
            rows.append(
                {
                    "target": where,
                    "fault": label,
                    "n": 0,
                    "apply": "–",
                    "revert": "–",
                    "healthy again": f"not supported: {exc}",
                }
            )
            continue
        applied, reverted, healthy = [], [], []
        for _ in range(runs):
            plan = target.plan(fault)
            t0 = time.monotonic()
            try:
                target.apply(plan)
                t1 = time.monotonic()
                time.sleep(0.5)  # let the fault bite, as in a drill
            finally:
                t2 = time.monotonic()
                target.revert(plan)
                t3 = time.monotonic()
            applied.append(t1 - t0)
            reverted.append(t3 - t2)
            healthy.append(_wait_healthy(target))
        raw[label] = {"apply": applied, "revert": reverted, "healthy_after_revert": healthy}
        a, r, h = summary(applied), summary(reverted), summary(healthy)
        rows.append(
            {
                "target": where,
                "fault": label,
                "n": runs,
                "apply": _ms(a),
                "revert": _ms(r),
                "healthy again": f"{h['median'] * 1000:.0f} ms",
            }
        )
        print(
            f"  {where}: {label}: apply {a['median'] * 1000:.0f} ms, revert {r['median'] * 1000:.0f} ms",
            flush=True,
        )
    return rows, raw


# --------------------------------------------------------------------------- recover


def _journal_has(reports: Path, kind: str, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for journal in reports.glob("*/journal.jsonl"):
            if f'"{kind}"' in journal.read_text(encoding="utf-8"):
                return journal
        time.sleep(0.05)
    raise RuntimeError(f"no {kind} in a journal after {timeout:.0f} s")


def _long_cut(state_dir: Path, into: Path) -> Path:
    data = library("site-outage")
    data["faults"] = [
        {"action": "network-cut", "service": "site-a", "at": "0s", "duration": "5m"},
        {"action": "pause", "service": "api-b", "at": "0s", "duration": "5m"},
        {
            "action": "latency",
            "link": "api-a->db-primary",
            "delay": "200ms",
            "at": "0s",
            "duration": "5m",
        },
    ]
    data["steady_state"]["stable_for"] = "1s"
    return write_scenario(data, state_dir, into / "long-cut.yaml")


def time_recover(state_dir: Path, tmp: Path, runs: int) -> dict[str, Any]:
    """SIGKILL a drill with three faults in force, then time `gameday recover` and the return to health."""
    target = make_target(SandboxTarget(type="sandbox", state_dir=str(state_dir)))
    scenario = _long_cut(state_dir, tmp)
    recover_s, healthy_s, reverted = [], [], []
    for i in range(runs):
        reports = tmp / f"reports-{i}"
        runner = subprocess.Popen(
            gameday("run", str(scenario), "--ci", "--report-dir", str(reports)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp,
        )
        try:
            journal = _journal_has(reports, "fault.applied")
            # all three faults are applied at 0s; wait for the last one's record
            deadline = time.monotonic() + 30
            while journal.read_text(encoding="utf-8").count('"fault.applied"') < 3:
                if time.monotonic() > deadline:
                    raise RuntimeError("the drill never applied its three faults")
                time.sleep(0.05)
            os.kill(runner.pid, signal.SIGKILL)
            runner.wait(timeout=10)
        finally:
            if runner.poll() is None:
                runner.kill()
        t0 = time.monotonic()
        done = run_cli("recover", "--journal", str(journal), timeout=180)
        t1 = time.monotonic()
        if done.returncode != 0:
            raise RuntimeError(f"recover failed: {done.stdout}{done.stderr}")
        healthy_s.append(_wait_healthy(target) + (t1 - t0))
        recover_s.append(t1 - t0)
        reverted.append(
            sum('"fault.reverted"' in line for line in journal.read_text().splitlines())
        )
    target.close()
    return {"recover": recover_s, "healthy": healthy_s, "reverted_records": reverted}


# --------------------------------------------------------------------------- docker


@contextlib.contextmanager
def docker_staging() -> Iterator[Target | None]:
    """A Docker staging built here, or None when no engine answers; always removed."""
    with docker_stack() as stack:
        if stack is None:
            yield None
            return
        model = DockerTarget(type="docker", project=stack.project, url=stack.url, staging=True)
        target = make_target(model)
        try:
            yield target
        finally:
            target.close()


def run(ctx: Context) -> list[Result]:
    """Apply/revert latency per fault kind on the sandbox (and Docker), then recover."""
    n = ctx.runs(10)
    result = Result(
        name="faults",
        title="Fault apply / revert latency (driver call until confirmed)",
        columns=["target", "fault", "n", "apply", "revert", "healthy again"],
    )
    faults = SANDBOX_FAULTS[:3] if ctx.smoke else SANDBOX_FAULTS
    with scratch("faults") as tmp:
        state_dir = tmp / "sandbox"
        with sandbox(state_dir):
            target = make_target(SandboxTarget(type="sandbox", state_dir=str(state_dir)))
            try:
                rows, raw = time_faults(target, faults, n, "sandbox")
            finally:
                target.close()
            result.rows += rows
            result.raw["sandbox"] = raw
            result.notes.append(
                f"sandbox: one health check alone takes {_median_ms(raw['health_check'])} "
                "(median of 5): 'healthy again' is mostly that one check."
            )
            rec = time_recover(state_dir, tmp, ctx.runs(5))
        result.raw["recover"] = rec
        r, h = summary(rec["recover"]), summary(rec["healthy"])
        result.rows.append(
            {
                "target": "sandbox",
                "fault": "recover after SIGKILL (3 faults in force)",
                "n": r["n"],
                "apply": "",
                "revert": _ms(r),
                "healthy again": f"{h['median'] * 1000:.0f} ms",
            }
        )
    if not ctx.smoke:
        with docker_staging() as docker_target:
            if docker_target is None:
                result.notes.append(
                    "Docker: no engine answered; run .ci/docker-setup.sh to include it."
                )
            else:
                rows, raw = time_faults(docker_target, DOCKER_FAULTS, n, "docker")
                result.rows += rows
                result.raw["docker"] = raw
                result.notes.append(
                    f"docker: one health check takes {_median_ms(raw['health_check'])}."
                )
    result.notes += [
        "apply: the driver call until the fault is confirmed in force; revert: until undone.",
        "healthy again: after the revert, until the target's own health check passes.",
        "recover: `gameday recover --journal J` wall time, a new process: its start-up, reverting "
        "a site-a cut, a pause and a latency, and re-cloning the fenced old primary as a standby.",
    ]
    return [result]
