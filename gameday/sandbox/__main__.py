"""``python -m gameday.sandbox up|status|down [--state-dir DIR] [--json]`` until the CLI is wired."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gameday.sandbox.commands import cmd_down, cmd_status, cmd_up


def main(argv: list[str] | None = None) -> int:
    """Run one sandbox command; returns its exit code."""
    parser = argparse.ArgumentParser(prog="python -m gameday.sandbox")
    parser.add_argument("command", choices=("up", "status", "down"))
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "up":
        return cmd_up(args.state_dir)
    if args.command == "status":
        return cmd_status(args.state_dir, args.json)
    return cmd_down(args.state_dir)


if __name__ == "__main__":
    sys.exit(main())
