"""CLI functions behind ``gameday sandbox up|status|down`` (wired in gameday/cli.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gameday.sandbox import manage
from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.state import STATE_FILE, SandboxError, resolve_state_dir

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 4


def _err(console: Console, msg: str) -> None:
    console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)


def cmd_up(state_dir: Path | None) -> int:
    """Start the sandbox and print its gateway URL."""
    console = Console(stderr=True)
    sd = resolve_state_dir(state_dir)
    t0 = time.monotonic()
    try:
        with console.status(
            "starting the sandbox (PostgreSQL pair, proxy, APIs, gateway, controllers)…"
        ):
            state = manage.up(SandboxSettings(state_dir=sd))
    except SandboxError as exc:
        _err(console, str(exc))
        refused = "already running" in str(exc) or "refusing to use" in str(exc)
        return EXIT_USAGE if refused else EXIT_ERROR
    except KeyboardInterrupt:
        _err(console, "interrupted; partially started parts were stopped")
        return EXIT_FAILED
    out = Console()
    out.print(f"sandbox up in {time.monotonic() - t0:.1f}s  state dir {sd}", highlight=False)
    out.print(f"gateway  {state.gateway_url}", highlight=False)
    out.print(
        f"try      curl -s -XPOST {state.gateway_url}/pay -H 'content-type: application/json' "
        '-d \'{"account":"a1","amount":12.5}\' -i',
        highlight=False,
    )
    return EXIT_OK


def cmd_status(state_dir: Path | None, as_json: bool) -> int:
    """Print every component's pid, port, role, health and version (table or JSON)."""
    try:
        st = manage.status(state_dir)
    except SandboxError as exc:
        _err(Console(stderr=True), str(exc))
        return EXIT_USAGE
    if as_json:
        payload = {
            "state_dir": st.state_dir,
            "gateway_url": st.gateway_url,
            "running": st.running,
            "writer": st.writer,
            "components": {
                c.name: {
                    "pid": c.pid,
                    "port": c.port,
                    "role": c.role,
                    "healthy": c.healthy,
                    "version": c.version,
                }
                for c in st.components
            },
        }
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    table = Table(title=f"sandbox {st.state_dir}  gateway {st.gateway_url}")
    for col in ("component", "pid", "port", "role", "health", "version / weights"):
        table.add_column(col)
    for c in st.components:
        health = "[green]healthy[/]" if c.healthy else "[red]down[/]"
        table.add_row(c.name, str(c.pid or "-"), str(c.port), c.role, health, c.version or "")
    Console().print(table)
    return EXIT_OK


def cmd_down(state_dir: Path | None, *, missing_ok: bool = False) -> int:
    """Stop every component and clean up.

    ``missing_ok`` (``--force``): no sandbox is not an error, e.g. when the drill that was
    using it had started it and took it down itself when it aborted.
    """
    console = Console()
    sd = resolve_state_dir(state_dir)
    if missing_ok and not (sd / STATE_FILE).exists():
        console.print(f"sandbox down: no sandbox runs in {sd}", highlight=False)
        return EXIT_OK
    try:
        report = manage.down(state_dir)
    except SandboxError as exc:
        _err(Console(stderr=True), str(exc))
        return EXIT_USAGE
    extra = ""
    if report.killed_pids:
        extra += f", killed {len(report.killed_pids)} leftover processes"
    if report.removed_shm:
        extra += f", removed {len(report.removed_shm)} shared-memory segments"
    console.print(f"sandbox down: stopped {len(report.stopped)} components{extra}", highlight=False)
    return EXIT_OK
