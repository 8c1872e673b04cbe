"""Measurement accuracy: gameday's milestones against the sandbox's ground-truth events.

Each repetition brings up a fresh embedded staging, runs a library drill through the CLI
as a user would, and compares the report's milestones with what the sandbox's components
wrote to ``events.jsonl`` the instant they acted (CLOCK_MONOTONIC, the clock the report's
``monotonic_start`` is on). A fresh sandbox per run: after a failover the writer has moved,
and a second crash of ``db-primary`` would hit a standby.

Ground truth, per drill:
- injected: ``component_killed`` of db-primary (crash) / the first ``link_changed`` to
  ``cut`` (site outage), written by the sandbox as the signal or rule takes effect;
- restored: the moment the last part of the request path was repaired: the failover
  controller's ``writer_repointed``, the serving API's ``writer_changed`` (it re-reads the
  writer on each request), and, for the site outage, the gateway's ``failover`` to site b.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.common import (
    Context,
    Result,
    library,
    read_jsonl,
    run_cli,
    sandbox,
    scratch,
    summary,
    write_scenario,
)

DRILLS = ("db-primary-crash", "site-outage")


def _first(events: list[dict[str, Any]], after: float, **match: Any) -> dict[str, Any] | None:
    for event in events:
        if event["t_mono"] >= after and all(event.get(k) == v for k, v in match.items()):
            return event
    return None


def ground_truth(drill: str, events: list[dict[str, Any]]) -> dict[str, float]:
    """Absolute monotonic times of injection and restoration, from the sandbox's events."""
    events = sorted(events, key=lambda e: e["t_mono"])
    if drill == "db-primary-crash":
        injected = _first(events, 0.0, event="component_killed", target="db-primary")
    else:
        injected = next(
            (e for e in events if e["event"] == "link_changed" and e.get("state") == "cut"), None
        )
    if injected is None:
        raise RuntimeError(f"{drill}: the sandbox recorded no injection")
    t_inj = injected["t_mono"]
    repointed = _first(events, t_inj, event="writer_repointed")
    if repointed is None:
        raise RuntimeError(f"{drill}: the sandbox recorded no failover")
    parts = {"writer_repointed": repointed["t_mono"]}
    site = "a"
    if drill == "site-outage":
        switched = _first(events, t_inj, event="failover", component="gateway")
        if switched is None:
            raise RuntimeError(f"{drill}: the gateway never failed over")
        parts["gateway_failover"] = switched["t_mono"]
        site = switched["to_site"]
    else:
        # the gateway may leave site a while its API cannot reach any database
        switched = _first(events, t_inj, event="failover", component="gateway")
        if switched is not None and switched["t_mono"] <= repointed["t_mono"]:
            site = switched["to_site"]
            parts["gateway_failover"] = switched["t_mono"]
    api = f"api-{site}"
    changed = _first(events, t_inj, event="writer_changed", component=api, new=repointed["writer"])
    if changed is None:
        raise RuntimeError(f"{drill}: {api} never switched to {repointed['writer']}")
    parts[f"{api}_writer_changed"] = changed["t_mono"]
    return {"injected": t_inj, "restored": max(parts.values()), **parts}


def measured(report: dict[str, Any]) -> dict[str, Any]:
    """Absolute monotonic times of gameday's milestones, with their bounds."""
    start = report["monotonic_start"]
    out: dict[str, Any] = {}
    for m in report["milestones"]:
        if m["name"] in ("fault.injected", "recovered", "failover.completed"):
            out[m["name"]] = (start + m["t"], float(m["bound"]))
    objectives = {o["name"]: o for o in report["objectives"]}
    out["recovery_time"] = objectives["recovery_time"]["measured"]
    out["recovery_error"] = objectives["recovery_time"]["error"]
    out["verdict"] = report["verdict"]
    out["interval"] = max(p["every"] for p in report["probes"] if p["role"] == "steady")
    return out


def one_run(drill: str, tmp: Path) -> dict[str, Any]:
    """One fresh sandbox, one drill, the comparison."""
    state_dir, reports = tmp / "sandbox", tmp / "reports"
    with sandbox(state_dir):
        done = run_cli(
            "run",
            str(write_scenario(library(drill), state_dir, tmp / f"{drill}.yaml")),
            "--ci",
            "--report-dir",
            str(reports),
        )
        report_paths = sorted(reports.glob("*/report.json"))
        if not report_paths:
            raise RuntimeError(
                f"{drill}: no report (exit {done.returncode}):\n{done.stdout[-2000:]}"
            )
        report = json.loads(report_paths[-1].read_text(encoding="utf-8"))
        truth = ground_truth(drill, read_jsonl(state_dir / "events.jsonl"))
    got = measured(report)
    inj, inj_bound = got["fault.injected"]
    rec, rec_bound = got["recovered"]
    return {
        "drill": drill,
        "verdict": got["verdict"],
        "exit": done.returncode,
        "interval": got["interval"],
        "injected_error": inj - truth["injected"],
        "injected_bound": inj_bound,
        "recovered_error": rec - truth["restored"],
        "recovered_bound": rec_bound,
        "recovery_time": got["recovery_time"],
        "recovery_time_true": truth["restored"] - truth["injected"],
        "recovery_time_error": got["recovery_time"] - (truth["restored"] - truth["injected"]),
        "stated_bound": got["recovery_error"],
        "failover_measured": "failover.completed" in got,
        "truth": truth,
    }


def _fmt(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:+.0f} ms"


def run(ctx: Context) -> list[Result]:
    """N fresh-sandbox runs of each drill, alternated; error distributions per drill."""
    n = ctx.runs(10)
    drills = DRILLS[:1] if ctx.smoke else DRILLS
    runs: list[dict[str, Any]] = []
    for i in range(n):
        for drill in drills:
            with scratch(f"accuracy-{drill}") as tmp:
                runs.append(one_run(drill, tmp))
            r = runs[-1]
            print(
                f"  {drill} #{i + 1}: {r['verdict']}, recovery {r['recovery_time']:.3f} s "
                f"(true {r['recovery_time_true']:.3f} s, error {_fmt(r['recovery_time_error'])})",
                flush=True,
            )
    result = Result(
        name="accuracy",
        title="Measured vs ground truth (error = gameday − sandbox events)",
        columns=[
            "drill",
            "quantity",
            "n",
            "median",
            "p95",
            "max |error|",
            "stated bound",
            "interval",
            "within",
        ],
        raw={"runs": runs},
    )
    for drill in drills:
        mine = [r for r in runs if r["drill"] == drill]
        interval = max(r["interval"] for r in mine)
        for quantity, key, bound_key in (
            ("fault injected", "injected_error", "injected_bound"),
            ("service restored", "recovered_error", "recovered_bound"),
            ("recovery time", "recovery_time_error", "stated_bound"),
        ):
            errors = [r[key] for r in mine]
            s = summary(errors)
            worst = max(abs(e) for e in errors)
            # the truth lies inside what the report states (its own bound, run by run)
            within = sum(abs(e) <= r[bound_key] for e, r in zip(errors, mine, strict=True))
            stated = summary([r[bound_key] for r in mine])
            result.rows.append(
                {
                    "drill": drill,
                    "quantity": quantity,
                    "n": s["n"],
                    "median": _fmt(s["median"]),
                    "p95": _fmt(s["p95"]),
                    "max |error|": _fmt(worst),
                    "stated bound": f"±{stated['median'] * 1000:.0f} ms",
                    "interval": f"{interval * 1000:.0f} ms",
                    "within": f"{within}/{len(mine)}",
                }
            )
        passed = sum(r["verdict"] == "passed" for r in mine)
        stated = summary([r["stated_bound"] for r in mine])
        half = stated["median"] <= interval / 2
        result.notes.append(
            f"{drill}: {passed}/{len(mine)} passed; recovery time "
            f"{summary([r['recovery_time'] for r in mine])['median']:.2f} s median, stated bound "
            f"±{stated['median'] * 1000:.0f} ms median "
            f"({'within' if half else 'OVER'} half the slowest probe's interval)"
        )
    result.notes.append(
        "stated bound = the median of the ± the report states for that quantity (a milestone: "
        "half its bracket between the last failing and first passing observation; recovery "
        "time: that plus the injection's own uncertainty); 'within' counts runs whose "
        "|error| ≤ the bound that run stated; interval = the slowest steady-state probe's."
    )
    return [result]
