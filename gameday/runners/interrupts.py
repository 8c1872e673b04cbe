"""The operator's stop: SIGINT, SIGTERM, SIGHUP and SIGQUIT cancel the drill's main task, once.

SIGHUP is a lost terminal (the SSH session of the SRE running the drill dropped) and SIGQUIT
a Ctrl-\\: both used to kill the runner on the spot, with faults left in force.

A second signal while teardown reverts faults must not cut the revert short: it is only
acknowledged. Which signal stopped the drill is kept for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@contextlib.contextmanager
def cancel_on_stop_signals(
    task: asyncio.Task[object] | None, enabled: bool, on_again: Callable[[str], None]
) -> Iterator[list[str]]:
    """While inside, the stop signals cancel ``task``; yields the names of signals received."""
    received: list[str] = []
    if not enabled or task is None:
        yield received
        return
    loop = asyncio.get_running_loop()

    def on_signal(name: str) -> None:
        if received:
            on_again(name)
            return
        received.append(name)
        task.cancel()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        yield received
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
