"""The same db-primary crash as a gameday drill and as a Chaos Toolkit experiment.

Each repetition gets a fresh embedded staging (after a crash the writer has moved to
db-standby) and runs one of:

- ``gameday``: ``gameday run scenarios/db-primary-crash.yaml --ci`` as shipped (10 Locust
  users, ledger and alert evidence, pay and writer probes);
- ``gameday pay-only``: the same scenario without traffic and evidence, judged on the pay
  probe alone: the work the Chaos Toolkit experiment does;
- ``chaostoolkit``: ``chaos run bench/chaostoolkit/db-primary-crash.json`` from its own venv
  (``bench/.venv-chaostoolkit``, made on first use), with ``--hypothesis-strategy
  continuously --hypothesis-frequency 0.25``: chaoslib's only way to probe during the method
  (a background thread re-runs the steady-state hypothesis, waiting 0.25 s between runs,
  and appends each to the journal's ``steady_states.during``). The default strategy checks
  only before and after the method; its statement is derived from the same journals.

Wall time and CPU (user + system of the runner's process tree, from RUSAGE_CHILDREN) cover
the runner alone; the shared ``sandbox up``/``down`` are timed apart. Ground truth is the
sandbox's ``events.jsonl`` (``bench.accuracy.ground_truth``), ending at the repair itself
rather than the API's lazy switch (see ``_with_truth``).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import itertools
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.accuracy import ground_truth
from bench.common import (
    REPO,
    Context,
    Result,
    gameday,
    library,
    read_jsonl,
    run_cli,
    sandbox,
    scratch,
    secs,
    summary,
    write_scenario,
)

CTK_DIR = REPO / "bench" / "chaostoolkit"
EXPERIMENT = CTK_DIR / "db-primary-crash.json"
CTK_VENV = REPO / "bench" / ".venv-chaostoolkit"
STAMP = CTK_VENV / "bench-requirements.txt"
# pinned: the journal fields and the strategy semantics below were read in these releases
CTK_PACKAGES = ("chaostoolkit==1.19.0", "chaostoolkit-lib==1.44.0")
# what gameday.sandbox.manage imports (for the python provider), at the project's versions
SANDBOX_DEPS = ("httpx", "psycopg", "psycopg-binary", "pydantic")
FREQUENCY_S = 0.25  # the library scenario's pay probe runs every 250ms
DRILL = "db-primary-crash"
KILL_ACTION = "crash-db-primary"
TOOLS = ("gameday", "gameday-probe-only", "chaostoolkit")
LABELS = {
    "gameday": "gameday",
    "gameday-probe-only": "gameday pay-only",
    "chaostoolkit": "CTK continuous",
    "chaostoolkit-after": "CTK after-check",
}


# --- the Chaos Toolkit venv ---------------------------------------------------------------


def _requirements() -> list[str]:
    reqs = list(CTK_PACKAGES)
    for name in SANDBOX_DEPS:
        try:
            reqs.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            reqs.append(name)
    return reqs


def ensure_ctk() -> float | None:
    """Make (or reuse) the Chaos Toolkit venv; the seconds the install took, None if reused."""
    wanted = "\n".join(_requirements()) + "\n"
    chaos = CTK_VENV / "bin" / "chaos"
    if chaos.exists() and STAMP.exists() and STAMP.read_text(encoding="utf-8") == wanted:
        return None
    started = time.monotonic()
    if not (CTK_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(CTK_VENV)], check=True, timeout=300)
    STAMP.unlink(missing_ok=True)
    pip_install = [str(CTK_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    pip = subprocess.run(
        [*pip_install, "--disable-pip-version-check", *wanted.split()],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0:
        raise RuntimeError(
            f"installing Chaos Toolkit failed:\n{pip.stdout[-2000:]}{pip.stderr[-2000:]}"
        )
    STAMP.write_text(wanted, encoding="utf-8")
    return time.monotonic() - started


# --- running a runner ---------------------------------------------------------------------


@dataclass
class Timed:
    """One runner process: exit code, wall seconds, CPU seconds of its tree."""

    returncode: int
    wall_s: float
    cpu_s: float
    log: Path


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the runner's group (gameday reverts; chaos stops), then SIGKILL what is left."""
    # SIGTERM, not SIGINT: a runner started from a non-interactive shell may ignore SIGINT
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    # a second Ctrl-C or a runner that hangs: stop waiting, kill
    with contextlib.suppress(BaseException):
        proc.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While the benchmark runs, SIGTERM unwinds like Ctrl-C, so no sandbox is left behind."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_timed(argv: list[str], cwd: Path, log: Path, env: dict[str, str], timeout: float) -> Timed:
    """Run to completion; CPU is the RUSAGE_CHILDREN delta, so only this child is in it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("wb") as out:
        # its own session: a terminal Ctrl-C reaches us first, and _stop lets it revert
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except BaseException:
            _stop(proc)
            raise
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timed(returncode, wall, cpu, log)


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-n:] if path.exists() else ""


@contextlib.contextmanager
def timed_sandbox(state_dir: Path, into: dict[str, Any]) -> Iterator[Path]:
    """`bench.common.sandbox`, with its up and down times written into `into`.

    Also brings down a sandbox whose `up` was interrupted (Ctrl-C, SIGTERM), which
    `bench.common.sandbox` leaves running: its state file exists, its parts may run.
    """
    started = time.monotonic()
    body_done = math.nan
    try:
        with sandbox(state_dir):
            into["sandbox_up_s"] = time.monotonic() - started
            try:
                yield state_dir
            finally:
                body_done = time.monotonic()
    except BaseException:
        if (state_dir / "state.json").exists():
            run_cli("sandbox", "down", "--state-dir", str(state_dir), timeout=120)
        raise
    finally:
        if not math.isnan(body_done):
            into["sandbox_down_s"] = time.monotonic() - body_done


# --- gameday ------------------------------------------------------------------------------


def probe_only(data: dict[str, Any]) -> dict[str, Any]:
    """The library scenario with only what the Chaos Toolkit experiment does: the pay probe."""
    lite = copy.deepcopy(data)
    lite["name"] = f"{DRILL}-probe-only"
    lite.pop("traffic", None)
    lite.pop("evidence", None)
    lite["steady_state"]["probes"] = [
        p for p in lite["steady_state"]["probes"] if p["name"] == "pay"
    ]
    # the others need traffic (availability), the ledger (data_loss) or alerts (detection)
    lite["objectives"] = {
        k: v for k, v in lite["objectives"].items() if k in ("recovery_time", "failover_time")
    }
    return lite


def gameday_rep(tool: str, data: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One fresh sandbox, one `gameday run --ci`; its recovery statement and the truth."""
    state_dir, reports = tmp / "sandbox", tmp / "reports"
    rep: dict[str, Any] = {"tool": tool}
    with timed_sandbox(state_dir, rep):
        path = write_scenario(data, state_dir, tmp / f"{data['name']}.yaml")
        argv = gameday("run", str(path), "--ci", "--report-dir", str(reports))
        timed = run_timed(argv, tmp, tmp / "gameday.log", dict(os.environ), timeout=300)
        events = read_jsonl(state_dir / "events.jsonl")
    found = sorted(reports.glob("*/report.json"))
    if not found:
        raise RuntimeError(f"{tool}: no report (exit {timed.returncode}):\n{_tail(timed.log)}")
    report = json.loads(found[-1].read_text(encoding="utf-8"))
    recovery = {o["name"]: o for o in report["objectives"]}["recovery_time"]
    milestones = {m["name"]: m for m in report["milestones"]}
    measured, bound = float(recovery["measured"]), float(recovery["error"])
    rep.update(
        exit=timed.returncode,
        wall_s=timed.wall_s,
        cpu_s=timed.cpu_s,
        verdict=report["verdict"],
        stated_s=measured,
        stated_lo_s=measured - bound,
        stated_hi_s=measured + bound,
        half_width_s=bound,
        report_duration_s=report["duration_s"],
        fault_at_s=milestones["fault.injected"]["t"],
        milestones={
            n: {"t": milestones[n]["t"], "bound": milestones[n]["bound"]}
            for n in ("fault.injected", "recovered")
            if n in milestones
        },
    )
    return _with_truth(rep, events)


# --- Chaos Toolkit ------------------------------------------------------------------------


def _ts(value: str) -> float:
    """A journal timestamp (ISO 8601, UTC, microseconds) as POSIX seconds."""
    return datetime.fromisoformat(value).timestamp()


def _checks(journal: dict[str, Any]) -> list[tuple[float, float, bool]]:
    """Every steady-state check after `before`, in order: (start, end, met)."""
    states = list(journal["steady_states"].get("during") or [])
    if journal["steady_states"].get("after"):
        states.append(journal["steady_states"]["after"])
    out = []
    for state in states:
        if not state or not state.get("probes"):
            continue
        probes = state["probes"]
        out.append(
            (_ts(probes[0]["start"]), _ts(probes[-1]["end"]), bool(state["steady_state_met"]))
        )
    return sorted(out)


def ctk_statements(journal: dict[str, Any]) -> dict[str, Any]:
    """What the journal lets one state about the recovery time, relative to the kill action.

    The kill happened inside the action's [start, end]; a check's verdict holds for some
    instant inside its own [start, end]. So with the last failing check i and the first
    passing check j after it (all later checks passing), recovery − kill lies in
    [start_i − kill_end, end_j − kill_start]. With only the after-method check (the default
    strategy) nothing is known before it: [0, end_after − kill_start].
    """
    kill = next(r for r in journal["run"] if r["activity"]["name"] == KILL_ACTION)
    ks, ke = _ts(kill["start"]), _ts(kill["end"])
    checks = [c for c in _checks(journal) if c[1] > ks]  # one ending before the kill says nothing
    out: dict[str, Any] = {"kill_at_s": ks, "kill_action_s": ke - ks, "checks": len(checks)}
    starts = [c[0] for c in checks]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    out["check_period_s"] = statistics.median(gaps) if gaps else math.nan
    failing = [i for i, c in enumerate(checks) if not c[2]]
    out["failed_checks"] = len(failing)
    last_fail = failing[-1] if failing else None
    # the recovery must be seen by a check that started once the kill was done
    first_pass = next(
        (
            i
            for i, c in enumerate(checks)
            if c[2] and c[0] >= ke and (last_fail is None or i > last_fail)
        ),
        None,
    )
    if first_pass is None:
        out["continuous"] = None  # never seen recovered: no statement
    else:
        lo = 0.0 if last_fail is None else max(0.0, checks[last_fail][0] - ke)
        hi = checks[first_pass][1] - ks
        out["continuous"] = {"lo": lo, "hi": hi}
    after = journal["steady_states"].get("after")
    if after and after.get("steady_state_met"):
        out["after"] = {"lo": 0.0, "hi": _ts(after["probes"][-1]["end"]) - ks}
    else:
        out["after"] = None
    return out


def _gateway_url(state_dir: Path) -> str:
    done = run_cli("sandbox", "status", "--json", "--state-dir", str(state_dir), timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"sandbox status failed:\n{done.stdout}{done.stderr}")
    url: str = json.loads(done.stdout)["gateway_url"]
    return url


def ctk_rep(tmp: Path) -> dict[str, Any]:
    """One fresh sandbox, one `chaos run`; both strategies' statements and the truth."""
    state_dir = tmp / "sandbox"
    journal_path = tmp / "journal.json"
    rep: dict[str, Any] = {"tool": "chaostoolkit"}
    with timed_sandbox(state_dir, rep):
        env = dict(os.environ)
        env.update(
            GAMEDAY_GATEWAY_URL=_gateway_url(state_dir),
            GAMEDAY_STATE_DIR=str(state_dir),
            # gameday's sandbox API from the checkout, the provider module beside the experiment
            PYTHONPATH=os.pathsep.join([str(REPO), str(CTK_DIR)]),
        )
        argv = [
            str(CTK_VENV / "bin" / "chaos"),
            "--no-version-check",  # it would ask releases.chaostoolkit.org otherwise
            "--settings",
            str(tmp / "settings.yaml"),  # none: the user's ~/.chaostoolkit stays out of it
            "--log-file",
            str(tmp / "chaostoolkit.log"),
            "run",
            "--journal-path",
            str(journal_path),
            "--hypothesis-strategy",
            "continuously",
            "--hypothesis-frequency",
            str(FREQUENCY_S),
            str(EXPERIMENT),
        ]
        timed = run_timed(argv, tmp, tmp / "chaos.log", env, timeout=180)
        events = read_jsonl(state_dir / "events.jsonl")
    if not journal_path.exists():
        raise RuntimeError(
            f"chaos run wrote no journal (exit {timed.returncode}):\n{_tail(timed.log)}"
        )
    journal = json.loads(journal_path.read_text(encoding="utf-8"))
    said = ctk_statements(journal)
    rollback = journal.get("rollbacks") or [{}]
    rep.update(
        exit=timed.returncode,
        wall_s=timed.wall_s,
        cpu_s=timed.cpu_s,
        verdict=journal["status"] + (" (deviated)" if journal.get("deviated") else ""),
        rollback=rollback[0].get("status"),
        rollback_s=rollback[0].get("duration"),
        journal_duration_s=journal.get("duration"),
        fault_at_s=said["kill_at_s"] - _ts(journal["start"]),
    )
    rep.update({k: v for k, v in said.items() if k not in ("kill_at_s", "continuous", "after")})
    for key, stated in (("", said["continuous"]), ("after_", said["after"])):
        if stated is None:
            rep.update({f"{key}stated_s": math.nan, f"{key}half_width_s": math.nan})
            continue
        lo, hi = stated["lo"], stated["hi"]
        rep.update(
            {
                f"{key}stated_lo_s": lo,
                f"{key}stated_hi_s": hi,
                # the after-only check bounds from above; it has no point estimate
                f"{key}stated_s": (lo + hi) / 2 if not key else hi,
                f"{key}half_width_s": (hi - lo) / 2,
            }
        )
    return _with_truth(rep, events)


def _with_truth(rep: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """Add the true recovery time and each statement's error against it.

    The serving API's ``writer_changed`` is written when its next request arrives (it
    re-reads the writer per request): without traffic that is the next probe, 0.1-0.3 s
    after the repair, whichever tool probes. So the truth here is the repair itself (the
    failover's ``writer_repointed``, or the gateway's failover when later);
    bench.accuracy's definition, with the API's switch, is kept as ``true_api_s``.
    """
    truth = ground_truth(DRILL, events)
    repaired = max(
        v
        for k, v in truth.items()
        if k not in ("injected", "restored") and not k.endswith("_writer_changed")
    )
    true_s = repaired - truth["injected"]
    rep["truth"] = truth
    rep["true_s"] = true_s
    rep["true_api_s"] = truth["restored"] - truth["injected"]
    for key in ("", "after_"):
        if f"{key}stated_s" in rep:
            rep[f"{key}error_s"] = rep[f"{key}stated_s"] - true_s
            lo, hi = rep.get(f"{key}stated_lo_s", math.nan), rep.get(f"{key}stated_hi_s", math.nan)
            rep[f"{key}within"] = bool(lo <= true_s <= hi)
    return rep


# --- the benchmark ------------------------------------------------------------------------


def _signed_ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:+.0f} ms"


def _row(
    label: str, reps: list[dict[str, Any]], key: str = "", timed: bool = True
) -> dict[str, Any]:
    stated = [r[f"{key}stated_s"] for r in reps if not math.isnan(r[f"{key}stated_s"])]
    widths = [r[f"{key}half_width_s"] for r in reps if not math.isnan(r[f"{key}half_width_s"])]
    errors = [r[f"{key}error_s"] for r in reps if not math.isnan(r[f"{key}error_s"])]
    after = key == "after_"
    median_stated = summary(stated)["median"]
    return {
        "runner": label,
        "n": len(reps),
        "wall": secs(summary([r["wall_s"] for r in reps])["median"]) if timed else "(same runs)",
        "CPU": secs(summary([r["cpu_s"] for r in reps])["median"]) if timed else "(same runs)",
        "stated": ("≤ " if after else "") + secs(median_stated) if stated else "nothing",
        "uncertainty": (
            f"0 to {secs(summary([r[f'{key}stated_hi_s'] for r in reps])['median'])}"
            if after and stated
            else (f"± {summary(widths)['median'] * 1000:.0f} ms" if widths else "–")
        ),
        "error": _signed_ms(summary(errors)["median"]),
        "max |error|": _signed_ms(max((abs(e) for e in errors), default=math.nan)).lstrip("+"),
        "truth in": f"{sum(bool(r.get(f'{key}within')) for r in reps)}/{len(reps)}",
    }


def _order(tools: tuple[str, ...], i: int) -> list[str]:
    """The tools in rotated order, so drift over the run hits each of them alike."""
    return [*tools[i % len(tools) :], *tools[: i % len(tools)]]


def run(ctx: Context) -> list[Result]:
    """N fresh-sandbox repetitions of each runner, interleaved; one row per runner."""
    n = ctx.runs(5)
    # smoke: pay-only runs the same code as gameday; leaving it out keeps CI near 2 minutes
    tools = tuple(t for t in TOOLS if not (ctx.smoke and t == "gameday-probe-only"))
    install_s = ensure_ctk()
    print(
        "  chaostoolkit venv: "
        + (f"installed in {install_s:.1f} s" if install_s is not None else f"reused ({CTK_VENV})"),
        flush=True,
    )
    library_data = library(DRILL)
    reps_by_tool: dict[str, Callable[[Path], dict[str, Any]]] = {
        "gameday": lambda tmp: gameday_rep("gameday", library_data, tmp),
        "gameday-probe-only": lambda tmp: gameday_rep(
            "gameday-probe-only", probe_only(library_data), tmp
        ),
        "chaostoolkit": ctk_rep,
    }
    reps: list[dict[str, Any]] = []
    for i in range(n):
        for tool in _order(tools, i):
            with _terminate_as_interrupt(), scratch(f"chaostoolkit-{tool}") as tmp:
                rep = reps_by_tool[tool](tmp)
            rep["rep"] = i + 1
            reps.append(rep)
            print(
                f"  {tool} #{i + 1}: exit {rep['exit']}, {rep['verdict']}, wall {rep['wall_s']:.1f} s, "
                f"CPU {rep['cpu_s']:.2f} s, recovery {secs(rep['stated_s'])} "
                f"(±{rep['half_width_s'] * 1000:.0f} ms; true {rep['true_s']:.3f} s)",
                flush=True,
            )
    by = {t: [r for r in reps if r["tool"] == t] for t in tools}
    result = Result(
        name="chaostoolkit",
        title="db-primary crash: gameday vs Chaos Toolkit (medians; error = stated − sandbox truth)",
        columns=[
            "runner",
            "n",
            "wall",
            "CPU",
            "stated",
            "uncertainty",
            "error",
            "max |error|",
            "truth in",
        ],
        raw={
            "runs": reps,
            "ctk_install_s": install_s,
            "ctk_packages": list(CTK_PACKAGES),
            "ctk_requirements": _requirements(),
            "hypothesis_frequency_s": FREQUENCY_S,
            "experiment": json.loads(EXPERIMENT.read_text(encoding="utf-8")),
        },
    )
    for tool in tools:
        result.rows.append(_row(LABELS[tool], by[tool]))
    result.rows.append(
        _row(LABELS["chaostoolkit-after"], by["chaostoolkit"], "after_", timed=False)
    )

    def med(tool: str, key: str) -> str:
        return secs(summary([r[key] for r in by[tool] if r.get(key) is not None])["median"])

    installed = (
        f"installed in {install_s:.1f} s (venv + pip)" if install_s is not None else "venv reused"
    )
    result.notes += [
        "true recovery = sandbox events: component_killed of db-primary → the failover's "
        f"writer_repointed; median {secs(summary([r['true_s'] for r in reps])['median'])}. The "
        "serving API's writer_changed (bench.accuracy's end point) comes with its next request, "
        "so without traffic it marks the next probe, not the repair: median "
        + ", ".join(f"{LABELS[t]} {med(t, 'true_api_s')}" for t in tools)
        + ".",
        "wall and CPU are the runner's alone (CPU: user+system of it and its waited-for "
        "children, Locust included; the sandbox's processes are not counted); the shared "
        f"sandbox up / down took {secs(summary([r['sandbox_up_s'] for r in reps])['median'])} / "
        f"{secs(summary([r['sandbox_down_s'] for r in reps if 'sandbox_down_s' in r])['median'])}.",
        "wall is mostly each runner's schedule: gameday holds the steady state for stable_for "
        f"(10 s), injects 5 s later (fault at {med('gameday', 'fault_at_s')}), ends once the "
        "steady state held 10 s again, then reverts; CTK runs one check, the kill, a 10 s "
        f"pause, one check, the rollback ({med('chaostoolkit', 'rollback_s')}).",
        "gameday: `gameday run scenarios/db-primary-crash.yaml --ci`; stated = its "
        "recovery_time objective's measured ± error (report.json). The library scenario also "
        "runs 10 Locust users, ledger and alert evidence and a SQL writer probe every 500ms, "
        "which sets its bound; 'gameday pay-only' keeps only the pay probe (250ms) and the "
        "crash, as the CTK experiment does.",
        f"CTK continuous ({', '.join(CTK_PACKAGES)}; {installed}): `chaos run bench/"
        f"chaostoolkit/{EXPERIMENT.name} --hypothesis-strategy "
        f"continuously --hypothesis-frequency {FREQUENCY_S:g}`, chaoslib's only way to check "
        "during the method: a thread re-runs the hypothesis (one HTTP probe) waiting "
        f"{FREQUENCY_S:g} s between runs, a check every {med('chaostoolkit', 'check_period_s')} "
        "here. From journal.json: recovery − kill lies between (start of the last failing "
        "check − end of the kill action) and (end of the first passing check − start of the "
        "kill action); stated as the midpoint ± half that width.",
        "CTK after-check: what the default strategy (hypothesis before and after the "
        "method) can say, from the same journals: recovered within the 10 s pause + probe. It "
        "cannot say when, nor that payments failed at all; stated and error are that bound.",
    ]
    return [result]
