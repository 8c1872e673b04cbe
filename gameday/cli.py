"""The `gameday` command: one entry point, subcommands imported only when used (fast --help)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .analysis.verdict import Verdict

if TYPE_CHECKING:
    from rich.console import Console

    from .analysis.budget import TargetTimings
    from .runners.record import RunOptions
    from .scenarios.model import Scenario, Suite
    from .scenarios.problems import Problem

EXIT_OK = Verdict.PASSED.exit_code
EXIT_INVALID = Verdict.INVALID.exit_code
EXIT_ERROR = Verdict.ERROR.exit_code

Handler = Callable[[argparse.Namespace], int]


def _console(stderr: bool = False) -> Console:
    from .runners.console import PipeSafeConsole

    return PipeSafeConsole(stderr=stderr, highlight=False, soft_wrap=True)


def _report_problems(error: Exception) -> int:
    """Print a ScenarioError's problems to stderr, one per line, and return exit code 2."""
    from rich.markup import escape

    err = _console(stderr=True)
    problems = getattr(error, "problems", None) or [error]
    for problem in problems:
        err.print(f"[red]error[/red]: {escape(str(problem))}")
    count = len(problems)
    err.print(f"{count} problem{'s' if count != 1 else ''}; nothing was run.")
    return EXIT_INVALID


def _load_checked(path: Path) -> tuple[Scenario | Suite, list[tuple[Path, Scenario]]]:
    """Load a scenario or suite (with the scenarios it names); raises ScenarioError."""
    from .scenarios.loader import load_document, load_suite_scenarios
    from .scenarios.model import Scenario, Suite
    from .scenarios.problems import ScenarioError
    from .targets.registry import load_plugins

    load_plugins()  # scenarios may name a target type an installed package registers
    document = load_document(path)
    members = load_suite_scenarios(document, path) if isinstance(document, Suite) else []
    runs = [(path, document)] if isinstance(document, Scenario) else members
    problems = [p for file, scenario in runs for p in _target_problems(file, scenario)]
    if problems:
        raise ScenarioError(problems)
    return document, members


def _target_problems(path: Path, scenario: Scenario) -> list[Problem]:
    """The target's problems this machine can see, pinned to the scenario's lines (exit 2)."""
    from .scenarios.problems import Problem, field_path
    from .scenarios.source import load_source
    from .targets.registry import local_problems

    found = local_problems(scenario)
    if not found:
        return []
    source = load_source(path)
    out = []
    for data_path, message in found:
        line, col = source.locate(data_path)
        out.append(Problem(str(path), line, col, field_path(data_path), message))
    return out


# --------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    from .scenarios.model import Suite
    from .scenarios.problems import ScenarioError

    out = _console()
    problems: list[object] = []
    for path in args.paths:
        try:
            document, members = _load_checked(Path(path))
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        if isinstance(document, Suite):
            out.print(f"ok  {path}  (suite {document.name}: {len(members)} scenarios)")
        else:
            out.print(
                f"ok  {path}  (scenario {document.name}: {len(document.faults)} faults, "
                f"{len(document.all_probes())} probes)"
            )
    if problems:
        return _report_problems(ScenarioError(problems))  # type: ignore[arg-type]
    return EXIT_OK


# --------------------------------------------------------------------------- plan


def cmd_plan(args: argparse.Namespace) -> int:
    from .scenarios.model import Scenario
    from .scenarios.problems import ScenarioError

    try:
        document, members = _load_checked(Path(args.path))
    except ScenarioError as exc:
        return _report_problems(exc)
    out = _console()
    scenarios = [document] if isinstance(document, Scenario) else [s for _, s in members]
    if not isinstance(document, Scenario):
        out.print(f"[bold]suite {document.name}[/bold]: {len(scenarios)} scenarios, in order")
    for scenario in scenarios:
        _print_plan(out, scenario)
    return EXIT_OK


def _print_plan(out: Console, scenario: Scenario) -> None:
    from rich.table import Table

    from .analysis.budget import budget_warnings
    from .scenarios import plan
    from .scenarios.units import format_duration

    out.print()
    out.print(f"[bold]{scenario.name}[/bold] on target [cyan]{scenario.target.type}[/cyan]")
    if scenario.description:
        out.print(scenario.description.strip())
    table = Table(title="Schedule (T = end of baseline)", title_justify="left")
    for column in ("T", "what", "subject", "detail"):
        table.add_column(column, overflow="fold")
    for step in plan.schedule(scenario):
        sign = "-" if step.at < 0 else "+"
        table.add_row(
            f"T{sign}{format_duration(abs(step.at))}", step.what, step.subject, step.detail
        )
    out.print(table)
    objectives = Table(title="Objectives (counted from the first fault)", title_justify="left")
    for column in ("objective", "bound", "meaning"):
        objectives.add_column(column)
    for item in plan.objectives(scenario.objectives):
        objectives.add_row(item.name, item.bound, item.meaning)
    out.print(objectives)
    for warning in budget_warnings(scenario, _target_timings(scenario)):
        out.print(f"[yellow]warning[/yellow]: {warning}")


def _target_timings(scenario: Scenario) -> TargetTimings | None:
    """The timing floors the target type can state offline (None: it would mean contacting it)."""
    from .targets.registry import offline_timings

    return offline_timings(scenario.target)


# --------------------------------------------------------------------------- schema


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from .scenarios.schema import scenario_json_schema

    text = json.dumps(scenario_json_schema(), indent=2, sort_keys=False)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    from .runners.interrupts import held_stop_signals

    # held from the first line: a Ctrl-C while the scenario loads stops the drill it starts
    with held_stop_signals():
        return _cmd_run(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from .runners.interrupts import held_stop_signals
    from .runners.record import RunOptions
    from .scenarios.model import Scenario, Suite
    from .scenarios.problems import ScenarioError

    try:
        document, members = _load_checked(Path(args.path))
    except ScenarioError as exc:
        return _report_problems(exc)
    runs = [(Path(args.path), document)] if isinstance(document, Scenario) else members
    from .reports.audit import AuditInputError, load_findings, parse_participant
    from .reports.render import check_sign_key
    from .reports.signing import SigningKeyError

    try:
        # every input is checked before anything runs: a bad key found after a drill is too late
        if args.sign:
            check_sign_key(Path(args.sign))
        for participant in args.participant or []:
            parse_participant(participant)
        if args.findings:
            load_findings(Path(args.findings))
    except (SigningKeyError, AuditInputError, OSError) as exc:
        _console(stderr=True).print(f"[red]error[/red]: {exc}")
        return EXIT_INVALID
    options = RunOptions(
        ci=args.ci,
        report_root=Path(args.report_dir),
        sign_key=Path(args.sign) if args.sign else None,
        approver=args.approver,
        participants=tuple(args.participant or ()),
        findings=Path(args.findings) if args.findings else None,
        **({"operator": args.operator} if args.operator else {}),
    )
    if isinstance(document, Suite):
        from .reports.suite_session import run_suite_session

        return run_suite_session(document, Path(args.path), members, options)
    with held_stop_signals():  # a stop while the report is written must not kill the runner
        return _run_one(args, *runs[0], options)


def _run_one(args: argparse.Namespace, path: Path, scenario: Scenario, options: RunOptions) -> int:
    """One drill: run it, publish its report, print its summary; returns its exit code."""
    from .reports.deliver import deliver
    from .runners.console import make_view
    from .runners.engine import InvalidRun, run_drill
    from .runners.lost_console import GuardedView

    try:
        view = GuardedView(make_view(args.ci))
        record = run_drill(scenario, path, options, view)
    except InvalidRun as exc:
        _console(stderr=True).print(f"[red]error[/red]: {path}: {exc}")
        _console(stderr=True).print("nothing was run.")
        return EXIT_INVALID
    delivered = deliver(record, view, _console(), _console(stderr=True))
    if delivered.failure is not None or delivered.published is None:
        return EXIT_ERROR
    return delivered.published.exit_code


# --------------------------------------------------------------------------- recover / ack


def cmd_recover(args: argparse.Namespace) -> int:
    from .reports.complete import complete_after_recover
    from .runners.recover import cmd_recover as recover

    journal = Path(args.journal) if args.journal else None
    return recover(journal, args.force, complete=complete_after_recover)


def cmd_ack(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from .runners.journal import active_runs
    from .runners.manual import UnknownStep, acknowledge_in

    runs = active_runs()
    if args.run:
        runs = [r for r in runs if r.run_id == args.run]
    if not runs:
        _console(stderr=True).print(
            "[red]error[/red]: no running drill found"
            + (f" with id {args.run}" if args.run else "")
        )
        return EXIT_INVALID
    if len(runs) > 1:
        _console(stderr=True).print(
            "[red]error[/red]: several drills are running; pick one with --run: "
            + ", ".join(r.run_id for r in runs)
        )
        return EXIT_INVALID
    try:
        said = acknowledge_in(runs[0].run_dir, args.step, args.by)
    except UnknownStep as exc:  # a typo must not pass for done while the drill keeps waiting
        _console(stderr=True).print(f"[red]error[/red]: {runs[0].run_id}: {escape(str(exc))}")
        _console(stderr=True).print("nothing was acknowledged.")
        return EXIT_INVALID
    _console().print(f"{escape(said)} in {runs[0].run_id}")
    return EXIT_OK


# --------------------------------------------------------------------------- sandbox


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import commands

    state_dir = Path(args.state_dir) if args.state_dir else None
    if args.sandbox_command == "up":
        return commands.cmd_up(state_dir)
    if args.sandbox_command == "status":
        return commands.cmd_status(state_dir, args.json)
    return _sandbox_down(state_dir, args.force)


def _sandbox_down(state_dir: Path | None, force: bool) -> int:
    """`sandbox down`, refused while a drill holds the sandbox; `--force` makes the drill abort first."""
    from rich.markup import escape

    from .runners.lock import TargetLocked, lock_for_teardown
    from .sandbox import commands

    spec = {"state_dir": None if state_dir is None else str(state_dir)}
    err = _console(stderr=True)
    try:
        lock = lock_for_teardown(
            "sandbox",
            spec,
            by="gameday sandbox down --force" if force else "gameday sandbox down",
            what="the sandbox",
            force=force,
            say=lambda text: err.print(f"[yellow]note[/yellow]: {escape(text)}"),
        )
    except TargetLocked as exc:
        err.print(f"[red]refused[/red]: {escape(str(exc))}. `--force` stops the sandbox anyway")
        return EXIT_INVALID
    try:
        return commands.cmd_down(state_dir, missing_ok=force)
    finally:
        if lock is not None:
            lock.release()


# --------------------------------------------------------------------------- reports


def cmd_keygen(args: argparse.Namespace) -> int:
    from .reports.commands import cmd_keygen as keygen

    return keygen(Path(args.out))


def cmd_verify(args: argparse.Namespace) -> int:
    from .reports.commands import cmd_verify as verify

    return verify(Path(args.report_dir), Path(args.key) if args.key else None)


def cmd_report(args: argparse.Namespace) -> int:
    from .reports import commands

    if args.report_command == "rebuild":
        from .reports.complete import cmd_rebuild

        return cmd_rebuild(Path(args.run_dir))
    if args.report_command == "history":
        return commands.cmd_history(Path(args.dir), Path(args.html) if args.html else None)
    return commands.cmd_render(Path(args.report_dir), set(args.format or ["html"]))


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameday",
        description="Chaos and disaster-recovery drills: YAML scenarios, real faults, measured recovery.",
        epilog="Exit codes: 0 passed, 1 failed, 2 invalid input, 3 aborted, 4 error.",
    )
    parser.add_argument("--version", action="version", version=f"gameday {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check scenario files; nothing runs")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario or suite YAML files")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("plan", help="print what a drill would do, when, and how it is judged")
    p.add_argument("path", metavar="PATH", help="scenario or suite YAML file")
    p.set_defaults(handler=cmd_plan)

    p = sub.add_parser("schema", help="print the JSON Schema of the scenario format")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("run", help="run a drill (or a suite) against its target")
    p.add_argument("path", metavar="PATH", help="scenario or suite YAML file")
    p.add_argument(
        "--ci", action="store_true", help="no prompts, plain output, exit code for gating"
    )
    p.add_argument(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="where run directories go (default reports/)",
    )
    p.add_argument("--operator", metavar="NAME", help="who runs the drill (default user@host)")
    p.add_argument(
        "--sign", metavar="KEY", help="sign the report with this Ed25519 key (gameday keygen)"
    )
    p.add_argument(
        "--approver", metavar="NAME", help="who approved the drill (for the audit record)"
    )
    p.add_argument(
        "--participant", action="append", metavar="NAME:ROLE", help="a participant; repeat"
    )
    p.add_argument("--findings", metavar="FILE", help="YAML/JSON findings with owner and due date")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("keygen", help="make an Ed25519 key pair for signing reports")
    p.add_argument("out", metavar="OUT", help="private key path (the public key goes to OUT.pub)")
    p.set_defaults(handler=cmd_keygen)

    p = sub.add_parser(
        "verify",
        help="check a report's signer, the digest of every file in it and its timeline chain",
        epilog="Without --key the signer must be a trusted key: a .pub/.pem file named in "
        "$GAMEDAY_TRUSTED_KEYS (files or directories, ':'-separated) or in "
        "$XDG_CONFIG_HOME/gameday/trusted_keys (default ~/.config/gameday/trusted_keys). "
        "Exit codes: 0 verified; 1 not verified (a file changed, missing or unexpected, a bad "
        "signature, an untrusted signer); 2 invalid input (no such directory, a bad key).",
    )
    p.add_argument("report_dir", metavar="REPORT_DIR")
    p.add_argument(
        "--key", metavar="PUB", help="the signer's public key (default: the trusted keys, below)"
    )
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser(
        "report", help="render a report again, rebuild one a dead runner left, or show history"
    )
    report = p.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    history = report.add_parser("history", help="trends per scenario across every report under DIR")
    history.add_argument("dir", metavar="DIR")
    history.add_argument("--html", metavar="FILE", help="also write an HTML index with charts")
    render = report.add_parser("render", help="write HTML, Markdown or JUnit from report.json")
    render.add_argument("report_dir", metavar="REPORT_DIR")
    from .reports.formats import FORMATS

    render.add_argument("--format", action="append", choices=list(FORMATS))
    rebuild = report.add_parser(
        "rebuild", help="write the report of a run whose runner died or ran out of disk"
    )
    rebuild.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("recover", help="revert what a dead runner left applied (reads its journal)")
    p.add_argument(
        "--journal", metavar="PATH", help="one journal; default: every journal of a dead runner"
    )
    p.add_argument("--force", action="store_true", help="also when the runner still seems alive")
    p.set_defaults(handler=cmd_recover)

    p = sub.add_parser("ack", help="mark a manual step of a running drill as done")
    p.add_argument("step", metavar="STEP", help="the step's name or its number")
    p.add_argument("--run", metavar="RUN_ID", help="which drill, when several are running")
    p.add_argument("--by", metavar="NAME", help="who did it (default: your user name)")
    p.set_defaults(handler=cmd_ack)

    p = sub.add_parser("sandbox", help="start, inspect or stop the embedded staging")
    sandbox = p.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    for name, text in (
        ("up", "start the embedded staging (PostgreSQL pair, APIs, gateway, controllers)"),
        ("status", "show each component: pid, port, role, health"),
        ("down", "stop everything the sandbox started"),
    ):
        action = sandbox.add_parser(name, help=text)
        action.add_argument(
            "--state-dir", metavar="DIR", help="sandbox state (default .gameday/sandbox)"
        )
        if name == "status":
            action.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "down":
            action.add_argument(
                "--force",
                action="store_true",
                help="also while a drill is using the sandbox: it aborts and reverts its faults first",
            )
    p.set_defaults(handler=cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_INVALID
    try:
        return handler(args)
    except KeyboardInterrupt:
        _console(stderr=True).print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
