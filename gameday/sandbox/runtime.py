"""Shared bootstrap of a component process: arguments, logging, signals, lifecycle events."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from gameday.sandbox.events import EventLog
from gameday.sandbox.state import SandboxState, load_state

Body = Callable[[SandboxState, str, EventLog, asyncio.Event], Awaitable[None]]
# a stop is a stop: whatever the component still waits on after this long (a tick's request,
# a thread in a DNS lookup the interpreter would join) must not turn `docker stop` into a kill
STOP_GRACE_S = 2.0


def _arm_stop_deadline(events: EventLog, grace_s: float) -> None:
    """Exit the process ``grace_s`` from now unless it has exited by itself."""

    def hard_exit() -> None:
        logging.getLogger("gameday.sandbox").warning(
            "still stopping after %.1f s: exiting without waiting", grace_s
        )
        with contextlib.suppress(OSError):
            events.emit("stopped", forced=True)
        logging.shutdown()
        os._exit(0)

    # a daemon timer runs on through asyncio.run's executor shutdown and the atexit joins
    timer = threading.Timer(grace_s, hard_exit)
    timer.daemon = True
    timer.start()


def run_component(module: str, body: Body, default_name: str) -> None:
    """Parse ``--state-dir``/``--name``, run ``body`` until SIGTERM/SIGINT, log lifecycle."""
    parser = argparse.ArgumentParser(prog=f"gameday.sandbox.{module}")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--name", default=default_name)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {args.name} %(levelname)s %(message)s"
    )
    # httpx logs every request at INFO: far too chatty for a component log
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def main() -> None:
        state = load_state(args.state_dir)
        events = EventLog(args.state_dir, args.name)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_stop() -> None:
            if not stop.is_set():
                stop.set()
                _arm_stop_deadline(events, STOP_GRACE_S)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_stop)
        try:
            await body(state, args.name, events, stop)
        finally:
            events.emit("stopped")

    asyncio.run(main())


async def periodic(
    stop: asyncio.Event, period_s: float, tick: Callable[[], Awaitable[None]]
) -> None:
    """Call ``tick`` every ``period_s`` (fixed rate, no drift) until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    next_t = loop.time()
    log = logging.getLogger("gameday.sandbox.periodic")
    while not stop.is_set():
        try:
            await tick()
        except Exception:  # one bad tick must not end the control loop
            log.exception("periodic tick failed")
        next_t += period_s
        now = loop.time()
        if next_t < now:  # fell behind: skip missed ticks rather than bursting
            next_t = now + period_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), next_t - now)
