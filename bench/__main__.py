"""`python -m bench [NAME ...]`: run the benchmarks, print their tables, write their JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from bench.common import RESULTS, Context, console, emit, markdown

BENCHMARKS = {
    "accuracy": "measured failover/recovery vs the sandbox's ground-truth events",
    "probes": "probe engine: samples/s and scheduling jitter with 10/100/1000 probes",
    "traffic": "requests/s through gameday's Locust integration vs bare locust",
    "faults": "time to apply and revert each fault kind; recover after SIGKILL",
    "startup": "--help, validate of 100 scenarios, a 24-hour drill's report",
    "chaostoolkit": "the same db crash as a Chaos Toolkit experiment",
    "kills": "drills killed at random moments (SIGINT, SIGTERM, SIGKILL + recover): left clean?",
}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="gameday's benchmarks. Each prints a table and writes bench/results/<name>.json.",
        epilog="\n".join(f"  {n:<13} {d}" for n, d in BENCHMARKS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, to prove they still run (CI)"
    )
    parser.add_argument("--repeat", type=int, help="override each benchmark's repetition count")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help=f"where the JSON goes (default: {RESULTS})"
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the JSON already in --out as Markdown tables (for bench/README.md); run nothing",
    )
    kills = parser.add_argument_group("kills")
    kills.add_argument(
        "--target", choices=("sandbox", "docker"), default="sandbox", help="(default: sandbox)"
    )
    kills.add_argument("--runs", type=_positive, metavar="N", help="drills to kill (default: 100)")
    kills.add_argument("--seed", type=int, default=20, help="picks and kill times (default: 20)")
    kills.add_argument(
        "--scenarios", metavar="A,B", help="library scenarios to drill (default: the target's)"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        for name in BENCHMARKS:  # a benchmark may write more than one table: name*.json
            for path in sorted(args.out.glob(f"{name}*.json")):
                print(markdown(json.loads(path.read_text(encoding="utf-8"))))
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    options = {"target": args.target, "runs": args.runs, "seed": args.seed}
    if args.scenarios is not None:
        from bench.kills import scenario_names

        try:
            options["scenarios"] = scenario_names(args.scenarios, args.target)
        except ValueError as exc:
            parser.error(str(exc))
    ctx = Context(smoke=args.smoke, out_dir=args.out, repeat=args.repeat, options=options)
    failed = []
    for name in args.names or list(BENCHMARKS):
        console.rule(f"{name}: {BENCHMARKS[name]}")
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        try:
            for result in module.run(ctx):
                emit(result, ctx)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed.append(name)
            console.print(f"[red]{name} failed: {exc!r}")
            console.print_exception()
        console.print(f"  ({time.monotonic() - started:.0f} s)")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
