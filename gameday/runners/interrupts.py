"""The operator's stop: SIGINT and SIGTERM cancel the drill's main task, once.

A second signal while teardown reverts faults must not cut the revert short: it is only
acknowledged. Which signal stopped the drill is kept for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def cancel_on_stop_signals(
    task: asyncio.Task[object] | None, enabled: bool, on_again: Callable[[str], None]
) -> Iterator[list[str]]:
    """While inside, SIGINT/SIGTERM cancel ``task``; yields the names of signals received."""
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
