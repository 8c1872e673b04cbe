"""Kill campaign: drills killed at random moments; is the staging left clean after each?

One staging for the whole campaign (a kept sandbox, or a Docker staging built here). Each
run starts `gameday run` on a library scenario as a user would, and at a seeded random
moment between its start and its expected end sends SIGINT or SIGTERM (the runner must
revert, write its report and exit 3 by itself) or SIGKILL (then `gameday recover`, as the
operator would). Then `bench.cleancheck` decides whether the staging is back in its
healthy shape, and how long that took from the kill.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table

from bench.cleancheck import (
    ENV_TOKEN,
    Staging,
    docker_staging,
    journal_notes,
    problems,
    sandbox_staging,
    wait_clean,
)
from bench.common import (
    Context,
    Result,
    console,
    docker_stack,
    gameday,
    library,
    read_jsonl,
    sandbox,
    scratch,
)

SIGNALS = ("SIGKILL", "SIGINT", "SIGTERM")
# the library drills that inject within seconds and that each target performs; latency on
# Docker needs tc netem in the host's kernel, so there a partition takes the hop's place
SCENARIOS = {
    "sandbox": (
        "db-primary-crash",
        "site-outage",
        "latency-hop",
        "rate-limit-surge",
        "gray-release-rollback",
    ),
    "docker": ("db-primary-crash", "site-outage", "partition-hop"),
}
SMOKE_SCENARIOS = ("db-primary-crash",)  # the shortest drill
STABLE_FOR = "3s"  # the e2e tests' baseline: more of each drill is spent with faults in force
STARTUP_S = 2.0  # interpreter, preflight and Locust before the baseline starts
TAIL_S = 2.0  # verify, teardown and the report after the last stable window
EXIT_BOUND_S = 30.0  # SIGINT/SIGTERM: the runner reverts and exits by itself within this
DIED_S = 10.0  # SIGKILL: the process is gone within this
CLEAN_BOUND_S = 90.0  # after the exit (and recover): the staging is clean within this
# a run killed before the journal existed: the signal's default action, or the CLI's Ctrl-C
STARTUP_EXITS = (3, 130, -signal.SIGINT, -signal.SIGTERM)


@dataclass(frozen=True)
class Kill:
    """One planned run: which drill, which signal, when (seconds after the runner started)."""

    index: int
    scenario: str
    signal: str
    at: float


@dataclass
class Outcome:
    """What one run did and whether it left the staging clean."""

    index: int
    scenario: str
    signal: str
    kill_at: float
    killed: bool = True  # False: the drill ended by itself before its kill time
    phase: str = ""
    exit: int | None = None
    recover_exit: int | None = None
    time_to_clean: float | None = None
    clean: bool = False
    why_not: list[str] = field(default_factory=list)
    run_dir: str = ""
    repaired: str = ""
    notes: list[str] = field(default_factory=list)  # seen, but nothing left in force


# ------------------------------------------------------------------------------ planning


def scenario_names(text: str, target: str) -> list[str]:
    """`a,b` as scenario names the target's campaign knows; ValueError naming the others."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = SCENARIOS[target]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(
            f"--scenarios: {', '.join(unknown) or 'none given'}: the {target} campaign drills "
            f"{', '.join(known)}"
        )
    return names


def scenario_data(name: str, staging_target: dict[str, Any]) -> dict[str, Any]:
    """The library drill `name` aimed at the campaign's staging, with the short baseline."""
    if name == "partition-hop":
        data = library("latency-hop")
        data.update(name="partition-hop", description="Partition api-a from db-primary for 30 s.")
        data["faults"] = [
            {"action": "partition", "between": [["api-a"], ["db-primary"]]}
            | {"at": "5s", "duration": "30s"}
        ]
        data["objectives"] = {"recovery_time": "5m"}
    else:
        data = library(name)
    data["target"] = dict(staging_target)
    data["steady_state"]["stable_for"] = STABLE_FOR
    return data


def expected_end(data: dict[str, Any]) -> float:
    """Seconds from `gameday run` to its exit when not killed, from the scenario's schedule."""
    from gameday.scenarios.model import Scenario

    scenario = Scenario.model_validate(data)
    stable = scenario.steady_state.stable_for
    last = max(_fault_end(f) for f in scenario.faults)
    return STARTUP_S + stable + last + stable + TAIL_S


def _fault_end(fault: Any) -> float:
    """When a fault's last change happens, after the baseline."""
    if fault.duration is not None:
        return float(fault.at + fault.duration)
    if fault.action == "load-surge":
        return float(fault.at + fault.ramp + fault.hold)
    if fault.action == "gray-release":
        return float(fault.at + (fault.interval or 5.0) * len(fault.steps))
    return float(fault.at) + 1.0  # a crash: the failover takes about a second


def plan_campaign(runs: int, seed: int, ends: dict[str, float]) -> list[Kill]:
    """Signals and scenarios in equal shares, shuffled; kill times uniform up to each end."""
    rng = random.Random(seed)
    names = sorted(ends)
    sigs = [SIGNALS[i % len(SIGNALS)] for i in range(runs)]
    drills = [names[i % len(names)] for i in range(runs)]
    rng.shuffle(sigs)
    rng.shuffle(drills)
    return [
        Kill(i + 1, drill, sig, round(rng.uniform(0.0, ends[drill]), 2))
        for i, (drill, sig) in enumerate(zip(drills, sigs, strict=True))
    ]


# ------------------------------------------------------------------------------ one run


def _found(reports: Path, name: str) -> Path | None:
    found = sorted(reports.glob(f"*/{name}"))
    return found[-1] if found else None


def phase_at(t_kill: float, journal: Path | None, report: Path | None) -> str:
    """The drill's phase when it was killed (the report's, else the journal's) and what was in force."""
    before = [r for r in _records(journal) if r.get("t_mono", 0.0) <= t_kill]
    if not before:
        return "start-up"
    status: dict[str, str] = {}
    labels: dict[str, str] = {}
    for rec in before:
        plan_id = str(rec.get("plan_id"))
        if rec["kind"] == "fault.planned":
            status[plan_id], labels[plan_id] = "planned", rec["plan"]["fault"]
        elif rec["kind"].startswith("fault.") and plan_id in status:
            status[plan_id] = rec["kind"]
    kinds = {r["kind"] for r in before}
    if "drill.finished" in kinds:
        return "finished, writing its report"
    phase = _report_phase(t_kill, report)
    if phase is None:  # no report (SIGKILL): the journal's coarser view
        phase = "faults" if status else "baseline" if "process.started" in kinds else "preflight"
    in_force = [labels[p] for p, s in status.items() if s != "fault.reverted"]
    return f"{phase}; in force: {', '.join(in_force)}" if in_force else phase


def _records(journal: Path | None) -> list[dict[str, Any]]:
    return read_jsonl(journal) if journal is not None and journal.exists() else []


def _report_phase(t_kill: float, report: Path | None) -> str | None:
    """The last phase the report's timeline entered before `t_kill`."""
    if report is None:
        return None
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    start = float(data.get("monotonic_start", 0.0))
    phases = [e for e in data.get("events", []) if e.get("kind") == "phase"]
    passed = [e["name"] for e in phases if start + e["t"] <= t_kill]
    return passed[-1] if passed else "preflight"


def _finished_before(t_kill: float, journal: Path | None) -> bool:
    return any(r["kind"] == "drill.finished" and r["t_mono"] <= t_kill for r in _records(journal))


def runner_problems(
    sig: str, exit_code: int | None, journal: Path | None, report: Path | None, t_kill: float
) -> list[str]:
    """What a stopped runner owes: SIGINT/SIGTERM exit 3 with an aborted report, by itself."""
    if exit_code is None:
        return [f"runner still running {EXIT_BOUND_S:.0f} s after {sig} (SIGKILLed)"]
    if sig == "SIGKILL":
        return []
    began = any(r["kind"] == "drill.started" for r in _records(journal))
    if not began:
        ok = exit_code in STARTUP_EXITS
        return [] if ok else [f"exit {exit_code} after {sig} before the drill began"]
    if report is None:
        return [f"no report after {sig} (exit {exit_code})"]
    verdict = json.loads(report.read_text(encoding="utf-8")).get("verdict")
    if _finished_before(t_kill, journal) or _report_phase(t_kill, report) == "teardown":
        # the drill had measured everything (reverting, or writing its record): its own
        # verdict stands
        return [] if exit_code in (0, 1, 3) else [f"exit {exit_code} ({verdict}) after {sig}"]
    if exit_code != 3 or verdict != "aborted":
        return [f"exit {exit_code}, verdict {verdict} after {sig} (expected 3, aborted)"]
    return []


def _default_stop_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def one_run(kill: Kill, staging: Staging, tmp: Path, token: str, env: dict[str, str]) -> Outcome:
    """Start the drill, kill it at its time, recover if SIGKILLed, and check the staging."""
    root = tmp / f"run-{kill.index:03d}"
    reports = root / "reports"
    root.mkdir(parents=True)
    scenario = root / f"{kill.scenario}.yaml"
    data = scenario_data(kill.scenario, staging.target)
    scenario.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out = Outcome(kill.index, kill.scenario, kill.signal, kill.at, run_dir=str(root))
    log_path = root / "runner.log"
    with log_path.open("w", encoding="utf-8") as log:
        started = time.monotonic()
        runner = subprocess.Popen(
            gameday("run", str(scenario), "--ci", "--report-dir", str(reports)),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            env=env,
            # an operator's terminal: whatever this campaign inherited (a background shell
            # ignores SIGINT and SIGQUIT), the runner starts with the default dispositions
            preexec_fn=_default_stop_signals,
        )
        try:
            runner.wait(timeout=max(0.0, started + kill.at - time.monotonic()))
            out.killed = False
        except subprocess.TimeoutExpired:
            os.kill(runner.pid, signal.Signals[kill.signal])
        t_kill = time.monotonic()
        try:
            out.exit = runner.wait(timeout=DIED_S if kill.signal == "SIGKILL" else EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
    journal, report = _found(reports, "journal.jsonl"), _found(reports, "report.json")
    out.phase = phase_at(t_kill, journal, report) if out.killed else "ended before the kill"
    # "runner: ..." is how the runner ended; everything else is what it left on the staging
    if out.killed:
        owed = runner_problems(kill.signal, out.exit, journal, report, t_kill)
        out.why_not += [f"runner: {problem}" for problem in owed]
    elif out.exit not in (0, 1):
        out.why_not.append(f"runner: the drill ended by itself with exit {out.exit}")
    output = log_path.read_text(encoding="utf-8", errors="replace")
    # a Ctrl-C in the interpreter's first ~0.15 s, before gameday could install a handler, is
    # Python's own KeyboardInterrupt: nothing ran yet, so it is the signal's default end
    startup_interrupt = journal is None and output.rstrip().endswith("KeyboardInterrupt")
    if "Traceback" in output and not startup_interrupt:
        out.why_not.append(f"runner: a traceback in its output ({log_path})")
    if out.killed and (kill.signal == "SIGKILL" or out.exit is None):
        args = ("recover", "--journal", str(journal)) if journal else ("recover",)
        done = subprocess.run(gameday(*args), capture_output=True, text=True, env=env, cwd=root)
        (root / "recover.log").write_text(done.stdout + done.stderr, encoding="utf-8")
        out.recover_exit = done.returncode
        if done.returncode != 0:
            out.why_not.append(f"recover exited {done.returncode}: {done.stdout.strip()[-300:]}")
    took, left = wait_clean(staging, journal, token, CLEAN_BOUND_S)
    out.why_not += left
    out.notes = journal_notes(journal) + staging.observe()
    out.time_to_clean = None if took is None else time.monotonic() - t_kill
    out.clean = not out.why_not
    if left:
        out.repaired = repair(staging, journal, env, root)
    return out


def repair(staging: Staging, journal: Path | None, env: dict[str, str], root: Path) -> str:
    """Bring a staging a run left unclean back for the next run; what it took."""
    if journal is not None:
        subprocess.run(
            gameday("recover", "--journal", str(journal), "--force"),
            capture_output=True,
            env=env,
            cwd=root,
        )
    took, left = wait_clean(staging, journal, None, CLEAN_BOUND_S)
    if not left:
        return f"recover --force, clean after {took:.1f} s"
    if staging.kind != "sandbox":
        raise RuntimeError(f"the {staging.kind} staging stays unclean: {'; '.join(left)}")
    state_dir = staging.target["state_dir"]
    subprocess.run(gameday("sandbox", "down", "--force", "--state-dir", state_dir), env=env)
    up = subprocess.run(gameday("sandbox", "up", "--state-dir", state_dir), env=env)
    if up.returncode != 0:
        raise RuntimeError("could not bring the sandbox up again after an unclean run")
    return f"sandbox restarted (left: {'; '.join(left)})"


# ------------------------------------------------------------------------------ campaign


@contextmanager
def campaign_staging(kind: str, tmp: Path) -> Iterator[Staging]:
    """The staging every run of the campaign drills on, started once."""
    if kind == "sandbox":
        with sandbox(tmp / "sandbox") as state_dir:
            staging = sandbox_staging(state_dir)
            try:
                yield staging
            finally:
                staging.driver.close()
        return
    with docker_stack() as stack:
        if stack is None:
            raise RuntimeError("no Docker engine answered; run .ci/docker-setup.sh")
        staging = docker_staging(stack)
        try:
            yield staging
        finally:
            staging.driver.close()


def campaign(ctx: Context) -> tuple[list[Outcome], dict[str, Any]]:
    """Plan and run the whole campaign; every outcome and the plan's parameters."""
    opts = ctx.options
    kind = opts.get("target") or "sandbox"
    runs = opts.get("runs") or ctx.runs(100, 2)
    seed = int(opts.get("seed", 20))
    default = SMOKE_SCENARIOS if ctx.smoke else SCENARIOS[kind]
    names = list(opts.get("scenarios") or default)
    token = secrets.token_hex(8)
    outcomes: list[Outcome] = []
    with scratch("kills") as tmp:
        env = {**os.environ, ENV_TOKEN: token, "GAMEDAY_HOME": str(tmp / "home")}
        with _environ("GAMEDAY_HOME", env["GAMEDAY_HOME"]), campaign_staging(kind, tmp) as staging:
            ends = {n: expected_end(scenario_data(n, staging.target)) for n in names}
            kills = plan_campaign(runs, seed, ends)
            _, left = wait_clean(staging, None, None, CLEAN_BOUND_S)
            if left:
                raise RuntimeError(f"the staging is not healthy to begin with: {'; '.join(left)}")
            for kill in kills:
                try:
                    outcome = one_run(kill, staging, tmp, token, env)
                except Exception as exc:  # keep what was measured: the runs so far are figures
                    stop = f"campaign stopped: {exc!r}"
                    outcomes.append(Outcome(kill.index, kill.scenario, kill.signal, kill.at))
                    outcomes[-1].why_not.append(stop)
                    console.print(f"  {stop}", markup=False)
                    break
                outcomes.append(outcome)
                _progress(outcome, runs)
            leftover = problems(staging, None, token)
    params = {"target": kind, "runs": runs, "seed": seed, "scenarios": names}
    params |= {"expected_end_s": ends, "leftover_at_end": leftover}
    return outcomes, params


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """This process sees `name=value` meanwhile (the checks read the runners' run index)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _progress(o: Outcome, runs: int) -> None:
    verdict = (
        f"clean in {o.time_to_clean:.1f} s" if o.clean else "NOT CLEAN: " + "; ".join(o.why_not)
    )
    when = f"at {o.kill_at:.1f} s" if o.killed else f"(ended before {o.kill_at:.1f} s)"
    console.print(
        f"  {o.index}/{runs} {o.scenario} {o.signal} {when} [{o.phase}]: exit {o.exit}, {verdict}",
        markup=False,
    )


# ------------------------------------------------------------------------------ report


def _secs(values: list[float]) -> tuple[str, str]:
    if not values:
        return "–", "–"
    return f"{statistics.median(values):.1f} s", f"{max(values):.1f} s"


def _row(label: str, group: list[Outcome]) -> dict[str, Any]:
    clean = [o for o in group if o.clean]
    median, top = _secs([o.time_to_clean for o in clean if o.time_to_clean is not None])
    return {
        "": label,
        "runs": len(group),
        "killed": sum(o.killed for o in group),
        "clean": f"{len(clean)}/{len(group)}",
        "median time to clean": median,
        "max": top,
    }


def summary_line(outcomes: list[Outcome]) -> str:
    """`clean 100/100 (SIGINT 33/33, ...); median time to clean X s, max Y s`."""
    clean = [o for o in outcomes if o.clean]
    per = ", ".join(
        f"{s} {sum(o.clean for o in outcomes if o.signal == s)}/"
        f"{sum(o.signal == s for o in outcomes)}"
        for s in ("SIGINT", "SIGTERM", "SIGKILL")
    )
    median, top = _secs([o.time_to_clean for o in clean if o.time_to_clean is not None])
    return f"clean {len(clean)}/{len(outcomes)} ({per}); median time to clean {median}, max {top}"


def _runs_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="Every run", title_justify="left")
    for column in (
        "#",
        "scenario",
        "signal",
        "kill at",
        "phase at kill",
        "exit",
        "clean in",
        "clean",
    ):
        table.add_column(column)
    for o in outcomes:
        table.add_row(
            str(o.index),
            o.scenario,
            o.signal,
            f"{o.kill_at:.1f} s" + ("" if o.killed else " (ended first)"),
            o.phase,
            f"{o.exit}" + (f" / recover {o.recover_exit}" if o.recover_exit is not None else ""),
            f"{o.time_to_clean:.1f} s" if o.time_to_clean is not None else "–",
            "yes" if o.clean else "NO: " + "; ".join(o.why_not),
        )
    return table


def run(ctx: Context) -> list[Result]:
    """The campaign, its per-run table (printed) and its summary table (written)."""
    outcomes, params = campaign(ctx)
    console.print(_runs_table(outcomes))
    kind = params["target"]
    result = Result(
        name="kills" if kind == "sandbox" else f"kills_{kind}",
        title=f"Kill campaign on the {kind}: drills killed at random moments, then checked",
        columns=["", "runs", "killed", "clean", "median time to clean", "max"],
    )
    for sig in ("SIGINT", "SIGTERM", "SIGKILL"):
        label = "SIGKILL + recover" if sig == "SIGKILL" else sig
        result.rows.append(_row(label, [o for o in outcomes if o.signal == sig]))
    for name in params["scenarios"]:
        result.rows.append(_row(name, [o for o in outcomes if o.scenario == name]))
    result.rows.append(_row("all", outcomes))
    result.notes.append(summary_line(outcomes))
    for o in outcomes:
        if not o.clean:
            result.notes.append(
                f"NOT CLEAN: run {o.index}, {o.scenario}, {o.signal} at {o.kill_at:.1f} s "
                f"({o.phase}): {'; '.join(o.why_not)}"
            )
    noted: dict[str, int] = {}
    for o in outcomes:
        for note in o.notes:
            key = note.split(" go to ")[0]  # one line per kind, not per receiver URL
            noted[key] = noted.get(key, 0) + 1
    for note, count in noted.items():
        result.notes.append(f"noted (not a fault in force), {count} runs: {note}")
    if params["leftover_at_end"]:
        result.notes.append(f"left at the end: {'; '.join(params['leftover_at_end'])}")
    result.notes.append(
        f"{params['runs']} runs, seed {params['seed']}, one {kind} staging for all; kill time "
        "uniform between the runner's start and the drill's expected end ("
        + ", ".join(f"{n} {s:.0f} s" for n, s in params["expected_end_s"].items())
        + f"); baselines shortened to {STABLE_FOR}; killed = the drill had not ended by itself"
    )
    result.notes.append(
        "time to clean: from the signal until every check passes (SIGKILL: recover included)"
    )
    result.raw = {**params, "outcomes": [asdict(o) for o in outcomes]}
    return [result]
